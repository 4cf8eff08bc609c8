"""Read an ONNX/QONNX file (or ModelWrapper) and clean it with qonnx, keeping the user's names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from codesign.errors import MissingShapeError, ModelFormatError, TopologyError, UnsupportedOpError

QUANT_DOMAIN_OPS = ("Quant", "BipolarQuant", "Trunc")


def data_inputs(model) -> list:
    """Graph inputs that carry data (exporters also list initializers as inputs)."""
    initializer_names = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializer_names]


def read_model(source: str | os.PathLike | Any):
    """Return a qonnx ModelWrapper for a path or an existing wrapper / ModelProto."""
    import onnx
    from google.protobuf.message import DecodeError
    from qonnx.core.modelwrapper import ModelWrapper

    if isinstance(source, ModelWrapper | onnx.ModelProto):
        proto = onnx.ModelProto()
        proto.ParseFromString((source.model if isinstance(source, ModelWrapper) else source).SerializeToString())
        _drop_redundant_value_info(proto)
        return ModelWrapper(proto)
    path = Path(source)
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such file", hint="pass the path of a .onnx model")
    try:
        # onnx.load resolves external data (MODEL.onnx.data) next to the model file.
        proto = onnx.load(str(path))
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise ModelFormatError(
            f"{path}: not a readable ONNX model ({type(exc).__name__}: {str(exc)[:120]})",
            hint="check the file is a complete .onnx export (and its .onnx.data side file)",
        ) from None
    if not proto.graph.node:
        raise ModelFormatError(f"{path}: the ONNX graph has no nodes",
                               hint="export the trained model, not an empty graph")
    _drop_redundant_value_info(proto)
    return ModelWrapper(proto)


def _drop_redundant_value_info(proto) -> None:
    """value_info entries that repeat a graph input/output (or each other) carry no information,
    but qonnx refuses a tensor described twice; drop the repeats."""
    seen = {tensor.name for tensor in (*proto.graph.input, *proto.graph.output)}
    kept = []
    for info in proto.graph.value_info:
        if info.name not in seen:
            seen.add(info.name)
            kept.append(info)
    if len(kept) != len(proto.graph.value_info):
        del proto.graph.value_info[:]
        proto.graph.value_info.extend(kept)


def clean(model):
    """qonnx's cleanup (shape inference, constant folding that keeps quantisers), keeping the
    exporter's node and tensor names so that errors point at names the user knows."""
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (
        GiveUniqueParameterTensors,
        RemoveStaticGraphInputs,
        RemoveUnusedTensors,
    )
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    dynamic_inputs = data_inputs(model)
    if len(dynamic_inputs) != 1:
        raise TopologyError(
            f"the graph has {len(dynamic_inputs)} data inputs ({', '.join(i.name for i in dynamic_inputs)})",
            hint="codesign lowers single-input MLPs",
        )
    if len(model.graph.output) != 1:
        raise TopologyError(f"the graph has {len(model.graph.output)} outputs",
                            hint="codesign lowers single-output MLPs")
    _check_input_shape(model, dynamic_inputs[0])
    for node in model.graph.node:
        if node.op_type in QUANT_DOMAIN_OPS:
            node.domain = "qonnx.custom_op.general"  # exporters use several spellings
    _name_unnamed_nodes(model)
    op = _first_unknown_op(model)
    if op:
        raise UnsupportedOpError(f"node {op[0]!r} ({op[1]}) is not an ONNX or QONNX operator",
                                 hint="export with standard ONNX and QONNX operators")
    steps = (InferShapes(), GiveUniqueParameterTensors(),
             FoldConstants(exclude_op_types=["Quant", "BipolarQuant", "QuantizeLinear", "DequantizeLinear"]),
             FoldTransposeIntoQuantInit(), RemoveUnusedTensors(), RemoveStaticGraphInputs(), InferShapes())
    try:
        for step in steps:
            model = model.transform(step)
    except Exception as exc:  # qonnx raises bare exceptions for malformed graphs
        raise ModelFormatError(f"qonnx could not clean the graph ({type(exc).__name__}: {str(exc)[:160]})",
                               hint="check the export; run `qonnx-cleanup` on it to see details") from None
    return model


def _name_unnamed_nodes(model) -> None:
    taken = {node.name for node in model.graph.node if node.name}
    counters: dict[str, int] = {}
    for node in model.graph.node:
        if node.name:
            continue
        while True:
            index = counters.get(node.op_type, 0)
            counters[node.op_type] = index + 1
            candidate = f"{node.op_type}_{index}"
            if candidate not in taken:
                break
        node.name = candidate
        taken.add(candidate)


def _check_input_shape(model, graph_input) -> None:
    dims = graph_input.type.tensor_type.shape.dim
    if not dims:
        raise MissingShapeError(f"graph input {graph_input.name!r} has no shape",
                                hint="export with a fixed input shape (e.g. [1, features])")
    for index, dim in enumerate(dims[1:], start=1):
        if not dim.HasField("dim_value") or dim.dim_value <= 0:
            raise MissingShapeError(
                f"graph input {graph_input.name!r} has an unknown size on axis {index}",
                hint="export with a fixed feature size; only the batch axis may be symbolic",
            )
    if not dims[0].HasField("dim_value") or dims[0].dim_value <= 0:
        dims[0].dim_value = 1  # symbolic batch: shape inference needs a number


def _first_unknown_op(model):
    import onnx

    known = {schema.name for schema in onnx.defs.get_all_schemas()}
    for node in model.graph.node:
        if node.op_type not in known and node.op_type not in QUANT_DOMAIN_OPS and \
                not node.domain.startswith(("qonnx", "finn")):
            return node.name or node.output[0], node.op_type
    return None
