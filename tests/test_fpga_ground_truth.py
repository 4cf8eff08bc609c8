"""The FPGA calibration's ground truth: points that borrow a public training run's weights use them
exactly, in their own widths, and refuse a stand-in of another shape or weight type."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fpga_calibration import synthetic_layers  # noqa: E402
from benchmarks.fpga_import_projects import Tree, hls_tool  # noqa: E402

DATA = json.loads((ROOT / "benchmarks" / "data" / "hls4ml_synthesis_points.json").read_text())
STAND_INS = DATA["weight_stand_ins"]["records"]
BORROWING = [p for p in DATA["points"] if p["model"].get("weights_stand_in")]


def test_every_stand_in_exists_and_matches_the_point():
    assert BORROWING, "no point borrows a public run's weights"
    for point in BORROWING:
        record = STAND_INS[point["model"]["weights_stand_in"]]
        assert record["layers"] == point["model"]["layers"], point["name"]
        assert record["source"]["url"].startswith("https://github.com/"), point["name"]
        for stats in record["layer_stats"]:
            assert (stats["weight_bits"], stats["weight_int_bits"]) == (point["model"]["weight_bits"],
                                                                          point["model"]["weight_int_bits"])


@pytest.mark.parametrize("point", BORROWING[:3], ids=lambda p: p["name"])
def test_stand_in_products_replace_the_random_ones(point):
    layers = synthetic_layers(point, stand_ins=STAND_INS)
    record = STAND_INS[point["model"]["weights_stand_in"]]
    random = synthetic_layers({**point, "model": {k: v for k, v in point["model"].items() if k != "weights_stand_in"}})
    for layer, stats, drawn in zip(layers, record["layer_stats"], random):
        np.testing.assert_array_equal(layer.rows, np.asarray(stats["digit_rows"]))
        assert layer.max_code == stats["max_code"]
        assert (layer.input_bits, layer.accum_bits, layer.output_bits) == (drawn.input_bits, drawn.accum_bits,
                                                                           drawn.output_bits)
    assert any(not np.array_equal(a.rows, b.rows) for a, b in zip(layers, random))


def test_a_stand_in_of_another_weight_type_is_refused():
    point = copy.deepcopy(BORROWING[0])
    point["model"]["weight_bits"] = 8
    with pytest.raises(ValueError, match="weights stand-in layer 0"):
        synthetic_layers(point, stand_ins=STAND_INS)
    point["model"]["weights_stand_in"] = "nowhere/model"
    with pytest.raises(ValueError, match="missing or of another shape"):
        synthetic_layers(point, stand_ins=STAND_INS)


@pytest.mark.parametrize(("version", "backend", "tool"), [("2019.2", "Vivado", "Vivado HLS"),
                                                            ("2021.1", "Vitis", "Vitis HLS"),
                                                            ("2019.2", None, "Vivado HLS")])
def test_importer_names_the_tool_that_wrote_the_report(tmp_path, version, backend, tool):
    project = tmp_path / "model" / "hls4ml_prj"
    project.mkdir(parents=True)
    if backend:
        (project / "hls4ml_config.yml").write_text(f"Backend: {backend}\nClockPeriod: 5\n")
    found = hls_tool(Tree(tmp_path), "model/hls4ml_prj", version)
    assert found == {"backend": backend or tool.split()[0], "tool": tool}
