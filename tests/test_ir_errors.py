"""Every bad input is a one-line error naming the problem, with exit status 2 from the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from graphs import GraphBuilder, brevitas_mlp, save
from onnx import TensorProto, helper

from codesign import errors
from codesign.cli import main
from codesign.ir import load


def conv_graph() -> onnx.ModelProto:
    b = GraphBuilder((1, 1, 4, 4))
    b.quant(scale=0.1, bits=4)
    w = b.quantized_weight(np.ones((2, 1, 3, 3)), scale=0.5, bits=4)
    b.op("Conv", w)
    return b.build()


def float_weight_graph() -> onnx.ModelProto:
    b = GraphBuilder((1, 4))
    b.quant(scale=0.1, bits=4)
    b.matmul(b.const(np.ones((4, 3)), prefix="float_w"))
    return b.build()


def branching_graph() -> onnx.ModelProto:
    b = GraphBuilder((1, 4))
    b.quant(scale=0.1, bits=4)
    skip = b.current
    b.matmul(b.quantized_weight(np.eye(4), scale=0.5, bits=4))
    b.op("Add", skip)  # residual: joins two data tensors
    return b.build()


def nan_weight_graph() -> onnx.ModelProto:
    b = GraphBuilder((1, 4))
    b.quant(scale=0.1, bits=4)
    weight = np.ones((4, 3))
    weight[1, 2] = np.nan
    b.matmul(b.quantized_weight(weight, scale=0.5, bits=4))
    return b.build()


def bits_graph(bits: float) -> Callable[[], onnx.ModelProto]:
    def build() -> onnx.ModelProto:
        b = GraphBuilder((1, 4))
        b.quant(scale=0.1, bits=4)
        b.matmul(b.quantized_weight(np.ones((4, 3)), scale=0.5, bits=bits))
        return b.build()
    return build


def unknown_width_graph() -> onnx.ModelProto:
    model = brevitas_mlp()
    dim = model.graph.input[0].type.tensor_type.shape.dim[1]
    dim.ClearField("dim_value")
    dim.dim_param = "features"
    return model


def no_shape_graph() -> onnx.ModelProto:
    model = brevitas_mlp()
    model.graph.input[0].type.tensor_type.ClearField("shape")
    return model


def per_input_scale_graph() -> onnx.ModelProto:
    b = GraphBuilder((1, 4))
    b.quant(scale=0.1, bits=4)
    b.gemm(b.quantized_weight(np.ones((3, 4)), scale=np.full((1, 4), 0.5), bits=4))
    return b.build()


def two_input_graph() -> onnx.ModelProto:
    model = brevitas_mlp()
    model.graph.input.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8]))
    return model


def no_dense_graph() -> onnx.ModelProto:
    b = GraphBuilder((1, 4))
    b.quant(scale=0.1, bits=4)
    b.op("Relu")
    return b.build()


BAD = {
    "unsupported_op": (conv_graph, errors.UnsupportedOpError, "Conv"),
    "float_weights": (float_weight_graph, errors.FloatGraphError, "float_w"),
    "skip_connection": (branching_graph, errors.TopologyError, "feeds 2 nodes"),
    "nan_weights": (nan_weight_graph, errors.NonFiniteError, "NaN"),
    "zero_bits": (bits_graph(0), errors.BitWidthError, "outside 1..32"),
    "33_bits": (bits_graph(33), errors.BitWidthError, "33"),
    "fractional_bits": (bits_graph(2.5), errors.BitWidthError, "not an integer"),
    "unknown_feature_size": (unknown_width_graph, errors.MissingShapeError, "axis 1"),
    "no_input_shape": (no_shape_graph, errors.MissingShapeError, "no shape"),
    "per_input_weight_scale": (per_input_scale_graph, errors.UnsupportedOpError, "input features"),
    "two_inputs": (two_input_graph, errors.TopologyError, "2 data inputs"),
    "no_dense_layer": (no_dense_graph, errors.TopologyError, "no dense"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_graph_raises_named_error(case: str) -> None:
    build, error, fragment = BAD[case]
    with pytest.raises(error) as info:
        load(build())
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert ";" in message  # every error says what to do


@pytest.mark.parametrize("case", sorted(BAD))
def test_cli_reports_bad_graph_in_one_line(case: str, tmp_path: Path, capsys) -> None:
    build, _, fragment = BAD[case]
    path = save(build(), tmp_path / f"{case}.onnx")
    assert main(["inspect", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_malformed_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07this is not a protobuf model" * 10)
    with pytest.raises(errors.ModelFormatError, match="not a readable ONNX model"):
        load(path)
    assert main(["inspect", str(path)]) == 2
    assert "broken.onnx" in capsys.readouterr().err


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelFormatError, match="no such file"):
        load(tmp_path / "nope.onnx")


def test_empty_graph(tmp_path: Path) -> None:
    graph = helper.make_graph([], "empty", [], [])
    path = tmp_path / "empty.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(errors.ModelFormatError, match="no nodes"):
        load(path)


def test_truncated_export_is_a_format_error(tmp_path: Path) -> None:
    path = save(brevitas_mlp(), tmp_path / "full.onnx")
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(errors.ModelFormatError):
        load(cut)


def test_float_activations_are_refused_by_integer_consumers() -> None:
    from graphs import qkeras_mlp

    graph = load(qkeras_mlp())
    with pytest.raises(errors.FloatGraphError, match="dense0"):
        graph.require_integer("the printed backend")


def test_reference_rejects_wrong_input_width() -> None:
    from codesign.ir import execute

    graph = load(brevitas_mlp())
    with pytest.raises(errors.DataError, match="8 features"):
        execute(graph, np.zeros((3, 5)))
    with pytest.raises(errors.DataError, match="NaN"):
        execute(graph, np.full((3, 8), np.nan))
