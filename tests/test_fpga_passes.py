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
