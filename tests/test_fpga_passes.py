"""The FPGA graph rewrites are qonnx transformations: they mix with qonnx's own and are exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from graphs import brevitas_mlp, finn_tfc, qkeras_mlp, save
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.base import Transformation
from qonnx.transformation.gemm_to_matmul import GemmToMatMul
from qonnx.util.cleanup import cleanup_model

from codesign.backends.fpga.passes import (
    BipolarThresholds,
    ChannelScalesAfterMatMul,
    FoldConstantQuantizers,
    StripHead,
)
from codesign.ir.crosscheck import random_inputs
from codesign.ir.loader import load

PASSES = (StripHead, FoldConstantQuantizers, ChannelScalesAfterMatMul, BipolarThresholds)


def _outputs(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    name = model.graph.input[0].name
    shape = model.get_tensor_shape(name)
    return np.concatenate([execute_onnx(model, {name: row.astype(np.float32).reshape(shape)})[
        model.graph.output[0].name].reshape(1, -1) for row in x])


@pytest.mark.parametrize("rewrite", PASSES)
def test_each_pass_is_a_qonnx_transformation(rewrite) -> None:
    assert issubclass(rewrite, Transformation)
    empty = ModelWrapper(qkeras_mlp(sizes=(4, 3), quantized_input=True))
    model, changed = rewrite().apply(cleanup_model(empty).transform(StripHead()))
    assert isinstance(model, ModelWrapper) and changed is False  # nothing left to rewrite


def test_strip_head_removes_the_whole_head_only(tmp_path: Path) -> None:
    model = cleanup_model(ModelWrapper(qkeras_mlp(quantized_input=True)))
    ops = [n.op_type for n in model.graph.node]
    head = [op for op in ops if op in ("Softmax", "Identity")]
    assert "Softmax" in head  # Softmax followed by an Identity: both go, repeatedly applied
    stripped = model.transform(StripHead())
    assert not {n.op_type for n in stripped.graph.node} & {"Softmax", "Identity"}
    assert len(stripped.graph.node) == len(ops) - len(head)


@pytest.mark.parametrize("name, build", [
    ("per_channel_bn", lambda: brevitas_mlp()),
    ("tfc_w1a1", lambda: finn_tfc(1, 1)),
])
def test_passes_mixed_with_qonnx_ones_keep_the_outputs(tmp_path: Path, name: str, build) -> None:
    graph = load(save(build(), tmp_path / f"{name}.onnx"))
    source = cleanup_model(graph.source).transform(StripHead())
    model = cleanup_model(source.transform(GemmToMatMul()))
    for rewrite in (FoldConstantQuantizers(), ChannelScalesAfterMatMul(), BipolarThresholds()):
        model = model.transform(rewrite)
    model = cleanup_model(model)  # shapes of the tensors the rewrites introduced
    x = random_inputs(graph, 32, seed=5)
    np.testing.assert_allclose(_outputs(model, x), _outputs(source, x), rtol=1e-5, atol=1e-5)
    assert "BatchNormalization" not in {n.op_type for n in model.graph.node} or name == "per_channel_bn"


def unsw_like(seed: int = 0, *, bipolar_output: bool = True):
    """The QONNX zoo UNSW-NB15 MLP's constructs, small: input (x + 1) / 2, Gemm with a scalar
    non-power-of-two weight scale and a float bias, batch norm, ReLU and a learned activation
    scale, then a bias Add into a bipolar output."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    general = "qonnx.custom_op.general"
    inits, nodes = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def quant(out, src, scale, bits, signed):
        nodes.append(helper.make_node("Quant", [src, const(f"{out}_s", scale), const(f"{out}_z", 0.0),
                                                const(f"{out}_b", float(bits))], [out], domain=general,
                                      signed=signed, narrow=int(signed), rounding_mode="ROUND"))
        return out

    nodes.append(helper.make_node("Add", ["x", const("one", [1.0])], ["x1"]))
    nodes.append(helper.make_node("Div", ["x1", const("two", 2.0)], ["x2"]))
    sizes, x = (12, 8, 6, 1), "x2"
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = quant(f"w{i}q", const(f"w{i}", rng.normal(0, 3, (fan_out, fan_in))), 2.7 + i, 2, 1)
        nodes.append(helper.make_node("Gemm", [x, w, const(f"b{i}", rng.normal(0, 1, fan_out))], [f"g{i}"], transB=1))
        if i == len(sizes) - 2:
            if bipolar_output:
                nodes.append(helper.make_node("BipolarQuant", [f"g{i}", const("bq_s", 1.0)], ["out"], domain=general))
            else:
                nodes.append(helper.make_node("Identity", [f"g{i}"], ["out"]))
            break
        bn = [const(f"bn{i}_{k}", v) for k, v in (("g", rng.uniform(0.5, 2, fan_out)), ("b", rng.normal(0, 1, fan_out)),
                                                  ("m", rng.normal(0, 1, fan_out)), ("v", rng.uniform(0.5, 2, fan_out)))]
        nodes.append(helper.make_node("BatchNormalization", [f"g{i}", *bn], [f"n{i}"]))
        nodes.append(helper.make_node("Relu", [f"n{i}"], [f"r{i}"]))
        x = quant(f"a{i}", f"r{i}", 0.37 + i, 2, 0)
    graph = helper.make_graph(nodes, "unsw_like", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(general, 1)])


def test_input_affine_and_bias_folds_are_exact(tmp_path: Path) -> None:
    from codesign.backends.fpga.hls_project import prepare_qonnx

    graph = load(save(unsw_like(), tmp_path / "unsw_like.onnx"))
    prepared = prepare_qonnx(graph)
    ops = [n.op_type for n in prepared.graph.node]
    assert "Div" not in ops and prepared.find_consumers(prepared.graph.input[0].name)[0].op_type == "MatMul"
    source = cleanup_model(graph.source).transform(StripHead())
    x = random_inputs(graph, 64, seed=4)
    before, after = _outputs(source, x), _outputs(prepared, x)
    assert np.mean(before == after) >= 0.99  # bipolar outputs: equal except at float-rounding ties
