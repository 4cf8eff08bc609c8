"""Every option is typed and checked at the boundary; bad input is one line and exit 2, a bug exit 1.

A corpus of wrong values for every kind of option, data that does not fit the model, odd but
valid ONNX, and targets that cannot take a model, through the real CLI entry point.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from graphs import brevitas_mlp, qkeras_mlp, save

import codesign
from codesign.cli import main
from codesign.data import load_csv
from codesign.errors import DataError, ParameterError
from codesign.options import Option, OptionSchema


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A 2-output model with 8 inputs (for data-fit checks) and quantised inputs."""
    return save(brevitas_mlp((8, 6, 2), weight_bits=4, act_bits=4, per_channel=False, batchnorm=False, seed=3),
                tmp_path_factory.mktemp("validation") / "m.onnx")


def one_line_error(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if not line.startswith("codesign estimate: using card")
             and not line.startswith("codesign export: using card")]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("target, option, fragment", [
    ("fpga", "reuse_factor=abc", "reuse_factor must be an integer in 1..4096"),
    ("fpga", "reuse_factor=0", "reuse_factor = '0' is invalid"),
    ("fpga", "reuse_factor=-3", "reuse_factor = '-3' is invalid"),
    ("fpga", "reuse_factor=2.5", "must be an integer"),
    ("fpga", "strategy=Fast", "strategy must be one of Latency, Resource"),
    ("fpga", "io_type=axi", "io_type must be one of io_parallel, io_stream"),
    ("fpga", "backend=quartus", "backend must be one of Vitis, Vivado"),
    ("fpga", "samples=10", "'samples' applies to export, not to estimate"),
    ("fpga", "nope=1", "unknown fpga option 'nope'"),
    ("crossbar", "input_bits=abc", "input_bits must be an integer in 1..16"),
    ("crossbar", "input_bits=40", "input_bits = '40' is invalid"),
    ("crossbar", "input_full_scale=0", "input_full_scale must be a number > 0"),
    ("crossbar", "input_full_scale=nan", "input_full_scale must be a number > 0"),
    ("crossbar", "input_signed=maybe", "input_signed must be true or false"),
    ("printed", "synthesis_timeout=-1", "synthesis_timeout must be a number > 0"),
    ("printed", "abc_script=best", "abc_script must be one of"),
    ("printed", "samples=1", "samples must be an integer in 2.."),
])
def test_estimate_option_errors(capsys, model, target, option, fragment):
    line = one_line_error(capsys, ["estimate", str(model), "--target", target, "-O", option])
    assert line.startswith("codesign estimate: error: ")
    assert fragment in line


@pytest.mark.parametrize("target, option, fragment", [
    ("fpga", "max_mismatch=2", "max_mismatch must be a number in 0..1"),
    ("fpga", "layers=notjson", "layers must be a JSON object"),
    ("fpga", "allow_oversize=2", "allow_oversize must be true or false"),
    ("printed", "accuracy_loss=1.5", "accuracy_loss must be a number or comma-separated numbers in [0, 1)"),
    ("printed", "pareto_points=0", "pareto_points = '0' is invalid"),
    ("crossbar", "instances=0", "instances = '0' is invalid"),
])
def test_export_option_errors_leave_nothing(capsys, model, tmp_path, target, option, fragment):
    out = tmp_path / "out"
    line = one_line_error(capsys, ["export", str(model), "--target", target, "-O", option, "--out", str(out)])
    assert fragment in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_python_api_and_cli_share_the_schema(model):
    graph = codesign.load(model)
    with pytest.raises(ParameterError, match="reuse_factor must be an integer in 1..4096"):
        codesign.estimate(graph, "pynq-z2", reuse_factor=2.5)
    with pytest.raises(ParameterError, match="reuse_factor must be an integer"):
        codesign.estimate(graph, "pynq-z2", reuse_factor=True)
    with pytest.raises(ParameterError, match="strategy must be one of"):
        codesign.estimate(graph, target="fpga", strategy="Fast")
    lower_case = codesign.estimate(graph, "pynq-z2", strategy="resource", reuse_factor=2.0)
    canonical = codesign.estimate(graph, "pynq-z2", strategy="Resource", reuse_factor=2)
    assert lower_case.to_dict() == canonical.to_dict()
    assert codesign.estimate(graph, "pynq-z2").to_dict() == codesign.estimate(graph, target="fpga").to_dict()


def test_schema_kinds():
    schema = OptionSchema((Option("n", "int", 1, "n", low=1), Option("x", "floats", None, "x", low=0, high=1),
                           Option("m", "mapping", None, "m"), Option("b", "bool", False, "b")))
    values = schema.resolve("t", {"n": "7", "x": "0.1,0.2", "m": '{"a": 1}', "b": "yes"})
    assert values == {"n": 7, "x": (0.1, 0.2), "m": {"a": 1}, "b": True}
    assert schema.resolve("t", {"x": [0.5]})["x"] == (0.5,)
    assert schema.resolve("t", {}) == {"n": 1, "x": None, "m": None, "b": False}
    with pytest.raises(ValueError):
        Option("bad", "complex", 0, "no such kind")


def test_backends_options_lists_every_option(capsys):
    assert main(["backends", "--options", "fpga", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    names = [row["name"] for row in listed["options"]]
    assert {"reuse_factor", "strategy", "io_type", "samples", "max_mismatch"} <= set(names)
    assert all(row["help"] and row["allowed"] for row in listed["options"])
    assert listed["default_card"] == "pynq-z2" and "reuse_factor" in listed["sweep_knobs"]
    assert main(["backends", "--options", "quantum"]) == 2
    assert "no backend named 'quantum'" in capsys.readouterr().err


# -- data ----------------------------------------------------------------------------------------
def test_non_numeric_csv_cell_names_file_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    rows = ["f1,f2,label"] + [f"{i},{i * 2},{i % 2}" for i in range(10)]
    rows[4] = "3,abc,1"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError) as info:
        load_csv(path)
    assert str(info.value).startswith(f"{path}: row 5, column 2: 'abc' is not a number")  # line 5 of the file


def test_data_with_more_classes_than_outputs_is_refused(capsys, model, tmp_path):
    path = tmp_path / "three.csv"
    rng = np.random.default_rng(0)
    rows = [",".join(f"{v:.3f}" for v in rng.random(8)) + f",{i % 3}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")
    line = one_line_error(capsys, ["export", str(model), "--target", "printed", "--data", str(path),
                                   "--out", str(tmp_path / "o")])
    assert f"{path}: 3 classes, but model m has 2 outputs" in line
    line = one_line_error(capsys, ["export", str(model), "--target", "crossbar", "--data", "iris",
                                   "--out", str(tmp_path / "o")])
    assert "4 features per sample, but model m takes 8" in line
    assert not (tmp_path / "o").exists()


def test_crossbar_export_uses_data_for_the_written_chip(capsys, tmp_path):
    graph_path = save(brevitas_mlp((4, 6, 3), weight_bits=4, act_bits=4, per_channel=False, batchnorm=False, seed=1),
                      tmp_path / "iris4.onnx")
    out = tmp_path / "chip"
    assert main(["export", str(graph_path), "--target", "crossbar", "--data", "iris", "-O", "instances=5",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "verified: the written conductance maps" in printed and "estimate (analytical, rram-40nm)" in printed
    chips = json.loads((out / "montecarlo.json").read_text())
    assert chips["instances"] == 5 and len(chips["accuracies"]) == 5 and chips["data"] == "iris"
    assert json.loads((out / "verification.json").read_text())["passed"] is True


# -- models ----------------------------------------------------------------------------------------
def test_output_repeated_in_value_info_loads(model, tmp_path):
    import onnx

    proto = onnx.load(model)
    proto.graph.value_info.append(onnx.helper.make_tensor_value_info(proto.graph.output[0].name,
                                                                     onnx.TensorProto.FLOAT, [1, 2]))
    onnx.save(proto, tmp_path / "vi.onnx")
    assert codesign.load(tmp_path / "vi.onnx").out_features == 2


def test_malformed_quantiser_is_one_line(capsys, model, tmp_path):
    import onnx

    proto = onnx.load(model)
    quant = next(node for node in proto.graph.node if node.op_type == "Quant")
    del quant.input[1:]  # a Quant without scale, zero point and bit width
    onnx.save(proto, tmp_path / "broken.onnx")
    line = one_line_error(capsys, ["inspect", str(tmp_path / "broken.onnx")])
    assert "(Quant) has 1 inputs, expected 4 (x, scale, zero point, bit width)" in line


def test_dependency_failure_during_load_is_one_line(capsys, model, tmp_path, monkeypatch):
    """Whatever onnx/qonnx raise while reading a model becomes one line naming the model."""
    import qonnx.core.modelwrapper

    def fails(self, *args, **kwargs):
        raise KeyError("tensor shape")  # as qonnx does on graphs it cannot handle

    monkeypatch.setattr(qonnx.core.modelwrapper.ModelWrapper, "check_all_tensor_shapes_specified", fails)
    line = one_line_error(capsys, ["inspect", str(model)])
    assert line.startswith(f"codesign inspect: error: {model}: qonnx could not process the model (KeyError")


def test_internal_error_exits_1_and_debug_shows_the_traceback(capsys, monkeypatch, model):
    import codesign.cli as cli

    def broken(args):
        raise RuntimeError("something inside codesign broke")

    monkeypatch.setitem(cli.COMMANDS, "inspect", broken)
    assert main(["inspect", str(model)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: something inside codesign broke" in err
    assert "--debug" in err and "Traceback" not in err
    assert main(["--debug", "inspect", str(model)]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    assert main(["inspect", str(model), "--debug"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["export", "m.onnx", "--target", "fpga"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the following arguments are required: --out" in err


# -- targets ---------------------------------------------------------------------------------------
def test_target_all_shows_a_refusal_row_and_fails_only_when_nobody_can(capsys, tmp_path):
    float_input = save(qkeras_mlp((6, 8, 3), bits=6), tmp_path / "jet.onnx")
    assert main(["estimate", str(float_input), "--target", "all", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {row["target"] for row in result["rows"]} >= {"fpga", "crossbar"}
    refused = {row["target"]: row["reason"] for row in result["refused"]}
    assert "printed" in refused and refused["printed"]
    assert main(["estimate", str(float_input), "--target", "all", "--card", "egfet-1v"]) == 2
    assert "no target can take jet" in capsys.readouterr().err


def test_default_card_is_said(capsys, model):
    assert main(["estimate", str(model), "--target", "crossbar", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["card"] == "rram-40nm"
    assert "using card rram-40nm (the default of target crossbar" in captured.err


def test_successful_export_prints_no_warnings(model, tmp_path):
    """In a subprocess: pytest's own warning capture would hide what a user sees."""
    import os
    import subprocess
    import sys

    pytest.importorskip("hls4ml")
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    result = subprocess.run([sys.executable, "-m", "codesign.cli", "export", str(model), "--target", "fpga",
                             "-O", "samples=50", "--out", str(tmp_path / "f")], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "warn" not in result.stderr.lower(), result.stderr
    assert "verified: hls4ml C++ emulation (g++) equals the integer reference on 100.00% of 50" in result.stdout
