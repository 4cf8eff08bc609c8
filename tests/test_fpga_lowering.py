"""FPGA lowering: hls4ml projects with graph-derived precisions, compiled and checked against the reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphs import brevitas_mlp, qkeras_mlp, save

from codesign.ir.crosscheck import random_inputs
from codesign.ir.loader import load

hls4ml = pytest.importorskip("hls4ml")

from codesign.backends.fpga.hls_project import (  # noqa: E402
    HlsSettings,
    build_project,
    constant_type,
    layer_types,
)
from codesign.backends.fpga.verify import compile_and_verify  # noqa: E402

SETTINGS = HlsSettings(part="xc7z020clg400-1", clock_period_ns=10.0)


def test_constant_type_holds_values_to_24_bits() -> None:
    assert constant_type([0.0]) == "fixed<2,2>"
    text = constant_type([145.3, 0.00145])
    width, integer = (int(v) for v in text[len("fixed<"):-1].split(","))
    assert integer == 9  # 145 needs 8 bits + sign
    assert width - integer >= 24 + 9  # 0.00145 ~ 2**-9.4: 24 bits below its leading bit


@pytest.mark.parametrize("name", ["brevitas_per_tensor", "qkeras_softmax_head"])
def test_project_compiles_and_matches_integer_reference(tmp_path: Path, name: str) -> None:
    model = {"brevitas_per_tensor": lambda: brevitas_mlp(per_channel=False, batchnorm=False),
             "qkeras_softmax_head": lambda: qkeras_mlp(quantized_input=True)}[name]()
    graph = load(save(model, tmp_path / f"{name}.onnx"))
    hls_model, config = build_project(graph, SETTINGS, tmp_path / "prj")
    assert (tmp_path / "prj" / "build_prj.tcl").exists() and (tmp_path / "prj" / "firmware").is_dir()
    types = layer_types(hls_model)
    assert not any(v.startswith("fixed<16,6,") for entry in types.values() for k, v in entry.items() if k != "class")
    assert not any(entry["class"] == "Softmax" for entry in types.values())  # the head is argmax of logits
    result = compile_and_verify(hls_model, graph, random_inputs(graph, 2000, seed=1), max_mismatch=0.005)
    assert result.passed, result
    assert result.prediction_match_rate >= 0.99


def test_wrong_precision_is_caught(tmp_path: Path) -> None:
    graph = load(save(brevitas_mlp(per_channel=False, batchnorm=False), tmp_path / "m.onnx"))
    names = [layer.name for layer in build_project(graph, SETTINGS, tmp_path / "probe")[0].get_layers()]
    alpha = next(n for n in names if n.startswith("bn_"))
    bad = HlsSettings(part=SETTINGS.part, clock_period_ns=10.0,
                      layer_overrides={alpha: {"Precision": {"scale": "fixed<6,2>"}}})
    hls_model, _ = build_project(graph, bad, tmp_path / "prj")
    result = compile_and_verify(hls_model, graph, random_inputs(graph, 1000), max_mismatch=0.01)
    assert not result.passed and result.exact_match_rate < 0.9
