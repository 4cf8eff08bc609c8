"""Cross-target comparison: one model on every target through the common backend interface."""

from __future__ import annotations

import csv
import io
import json

import pytest
from graphs import brevitas_mlp, save

from codesign.backends.base import get_backend
from codesign.cards import load_card
from codesign.cli import main
from codesign.comparison import compare
from codesign.errors import ParameterError
from codesign.ir import load


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save(brevitas_mlp((8, 6, 3), weight_bits=4, act_bits=4, per_channel=False, batchnorm=False, seed=2),
                tmp_path_factory.mktemp("cmp") / "tiny.onnx")


@pytest.fixture(scope="module")
def comparison(model):
    return compare(load(model), options={"printed": {"samples": 200}})


def test_one_row_per_family_equal_to_each_backend_alone(comparison, model):
    assert [row.target for row in comparison.rows] == ["crossbar", "fpga", "printed"]  # every backend, by name
    assert [row.card for row in comparison.rows] == ["rram-40nm", "pynq-z2", "egfet-1v"]  # their default cards
    graph = load(model)
    alone = get_backend("fpga").estimate(graph, load_card("pynq-z2"))
    assert comparison.rows[1].to_dict() == alone.to_dict()
    assert {row.method for row in comparison.rows} == {"analytical", "synthesis"}
    assert all(row.assumptions for row in comparison.rows)


def test_files_json_csv_png(comparison, tmp_path):
    files = comparison.save(tmp_path)
    data = json.loads(files["json"].read_text())
    assert data["model"] == "tiny" and len(data["rows"]) == 3
    rows = list(csv.DictReader(io.StringIO(files["csv"].read_text())))
    assert [r["target"] for r in rows] == ["crossbar", "fpga", "printed"]
    assert float(rows[2]["area_mm2"]) == comparison.rows[2].area_mm2
    assert files["png"].stat().st_size > 10_000


def test_options_reach_only_their_target(model):
    graph = load(model)
    slow = compare(graph, ["pynq-z2", "rram-40nm"], {"fpga": {"reuse_factor": 4}})
    fast = compare(graph, ["pynq-z2", "rram-40nm"])
    # the FPGA row sees the reuse factor (its II is min(R, latency + 1): a 1-cycle tiny model keeps II 1)
    assert any("reuse factor 4" in line for line in slow.rows[0].assumptions)
    assert slow.rows[0].throughput_inf_per_s <= fast.rows[0].throughput_inf_per_s
    assert slow.rows[1].to_dict() == fast.rows[1].to_dict()
    with pytest.raises(ParameterError, match="which is not compared"):
        compare(graph, ["pynq-z2"], {"printed": {"samples": 10}})


def test_cli_target_all(model, tmp_path, capsys):
    assert main(["estimate", str(model), "--target", "all", "--card", "pynq-z2", "--card", "rram-40nm",
                 "-O", "fpga.reuse_factor=2", "--json", "--out", str(tmp_path / "cmp")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["card"] for row in data["rows"]] == ["pynq-z2", "rram-40nm"]
    assert (tmp_path / "cmp" / "comparison.png").exists()
    assert main(["estimate", str(model), "--card", "pynq-z2", "--card", "rram-40nm"]) == 2
    assert "need --target all" in capsys.readouterr().err


def test_package_function_stays_a_function_after_use(model):
    import codesign

    codesign.compare(load(model), ["pynq-z2"])
    assert callable(codesign.compare) and len(codesign.compare(load(model), ["pynq-z2"]).rows) == 1
