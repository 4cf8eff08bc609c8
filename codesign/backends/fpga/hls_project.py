"""QONNX -> hls4ml project with precisions derived from the graph, not hls4ml's defaults.

hls4ml's QONNX converter takes weight and activation types from the Quant nodes, but every
constant it introduces itself (the ApplyAlpha scale/bias that carries a non-power-of-two
quantiser scale, biases) and the input get the default ``fixed<16,6>``, which silently changes
results.  Here the model is converted once to discover those constants, each gets a fixed-point
type that represents it to ``RELATIVE_BITS`` bits, the input gets a type that resolves the
first quantiser's rounding boundaries, and the model is converted again; hls4ml's precision
inference then sizes accumulators and results from these exact inputs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codesign.errors import BackendError, ParameterError
from codesign.ir.graph import LayerGraph

RELATIVE_BITS = 24  # fractional bits below the smallest constant's leading bit
DEFAULT_PRECISION = "fixed<16,6>"
STRATEGIES = ("Latency", "Resource")
IO_TYPES = ("io_parallel", "io_stream")


@dataclass(frozen=True)
class HlsSettings:
    """What the user controls; everything else is derived from the graph and the card."""

    part: str
    clock_period_ns: float
    clock_uncertainty: str = "12.5%"
    reuse_factor: int = 1
    strategy: str = "Latency"
    io_type: str = "io_parallel"
    backend: str = "Vitis"
    layer_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # hls4ml LayerName config

    def __post_init__(self) -> None:
        if not isinstance(self.reuse_factor, int) or self.reuse_factor < 1:
            raise ParameterError(f"reuse_factor = {self.reuse_factor!r} must be a positive integer", hint="e.g. 1, 2, 4")
        if self.strategy not in STRATEGIES:
            raise ParameterError(f"strategy {self.strategy!r} is unknown", hint=f"use {' or '.join(STRATEGIES)}")
        if self.io_type not in IO_TYPES:
            raise ParameterError(f"io_type {self.io_type!r} is unknown", hint=f"use {' or '.join(IO_TYPES)}")


def constant_type(values: np.ndarray, relative_bits: int = RELATIVE_BITS) -> str:
    """A signed fixed-point type holding every value of a constant array to ``relative_bits``."""
    magnitudes = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    magnitudes = magnitudes[magnitudes > 0]
    if magnitudes.size == 0:
        return "fixed<2,2>"
    integer = max(1, math.floor(math.log2(magnitudes.max())) + 2)  # sign bit + leading bit
    fractional = max(0, relative_bits - math.floor(math.log2(magnitudes.min())))
    return f"fixed<{integer + fractional},{integer}>"


def input_type(graph: LayerGraph) -> str:
    """Input precision: the first quantiser's range with room to resolve its rounding boundaries."""
    spec = graph.input_quant
    if spec is None or graph.input_transform.ops:
        return "fixed<32,16>"  # pre-processing or float input: a wide general type
    scale = float(np.min(spec.scale))
    largest = max(abs(spec.code_min), abs(spec.code_max)) * float(np.max(spec.scale))
    integer = max(1, math.floor(math.log2(largest)) + 3) if largest > 0 else 2
    fractional = max(0, 24 - math.floor(math.log2(scale)))
    return f"fixed<{integer + fractional},{integer}>"


HEAD_OPS = ("Softmax", "LogSoftmax", "ArgMax", "Identity")


def strip_head(model):
    """Drop a trailing Softmax / LogSoftmax / ArgMax: the firmware outputs logits and the class
    is their argmax (hls4ml's table softmax does not take the exact wide logit types)."""
    from onnx import TensorProto, helper

    while True:
        output = model.graph.output[0]
        producer = model.find_producer(output.name)
        if producer is None or producer.op_type not in HEAD_OPS:
            return model
        logits = producer.input[0]
        shape = model.get_tensor_shape(logits)
        model.graph.node.remove(producer)
        model.graph.output.remove(output)
        for info in [v for v in model.graph.value_info if v.name == logits]:
            model.graph.value_info.remove(info)
        model.graph.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, shape))


def prepare_qonnx(graph: LayerGraph):
    """The graph's cleaned QONNX, transformed as hls4ml's converter needs it: channels-last,
    Gemm -> MatMul + Add, constant bias quantisers folded into plain initialisers, and the
    output head removed (see ``strip_head``)."""
    from qonnx.core.onnx_exec import execute_node
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    if graph.source is None:
        raise BackendError(f"model {graph.name!r} has no QONNX source", hint="load it with codesign.load(path)")
    model = strip_head(cleanup_model(graph.source))
    model = model.transform(ConvertToChannelsLastAndClean())
    model = model.transform(GemmToMatMul())
    opset = next((o.version for o in model.model.opset_import if o.domain in ("", "ai.onnx")), 13)
    for node in list(model.graph.node):
        if node.op_type != "Quant" or model.get_initializer(node.input[0]) is None:
            continue
        consumers = model.find_consumers(node.output[0]) or []
        if consumers and all(c.op_type == "Add" for c in consumers):
            context = {name: model.get_initializer(name) for name in node.input}
            context[node.output[0]] = None
            execute_node(node, context, model.graph, opset_version=opset)
            model.set_initializer(node.output[0], context[node.output[0]])
            model.graph.node.remove(node)
    return cleanup_model(model)


def _convert(model, config: dict, settings: HlsSettings, out_dir: Path):
    import hls4ml

    return hls4ml.converters.convert_from_onnx_model(
        model, output_dir=str(out_dir), io_type=settings.io_type, backend=settings.backend, part=settings.part,
        clock_period=settings.clock_period_ns, clock_uncertainty=settings.clock_uncertainty, hls_config=config,
        project_name="codesign_mlp")


def derive_config(graph: LayerGraph, settings: HlsSettings, scratch: Path) -> tuple[Any, dict]:
    """(prepared QONNX, hls4ml configuration with every non-quantiser type derived)."""
    import hls4ml

    model = prepare_qonnx(graph)
    config = hls4ml.utils.config.config_from_onnx_model(model, granularity="name", backend=settings.backend,
                                                        default_precision=DEFAULT_PRECISION,
                                                        default_reuse_factor=settings.reuse_factor)
    config["Model"]["Strategy"] = settings.strategy
    config["Model"]["ReuseFactor"] = settings.reuse_factor
    discovered = _quiet(lambda: _convert(model, config, settings, scratch))
    layers = config.setdefault("LayerName", {})
    for layer in discovered.get_layers():
        entry = layers.setdefault(layer.name, {})
        precision = entry.get("Precision")
        if not isinstance(precision, dict):
            precision = entry["Precision"] = {} if precision is None else {"result": precision}
        for name, weight in layer.weights.items():
            if _is_default(weight.type.precision) or not representable(weight.data, weight.type.precision):
                precision[name] = constant_type(weight.data)
        if layer.class_name == "Input":
            precision["result"] = input_type(graph)
        entry.setdefault("ReuseFactor", settings.reuse_factor)
        entry.setdefault("Strategy", settings.strategy)
    for name, override in settings.layer_overrides.items():
        if name not in layers:
            raise ParameterError(f"no hls4ml layer named {name!r} to override",
                                 hint=f"layers are: {', '.join(sorted(layers))}")
        for key, value in override.items():
            if key == "Precision" and isinstance(value, dict):
                layers[name]["Precision"].update(value)
            else:
                layers[name][key] = value
    return model, config


def representable(values: np.ndarray, precision) -> bool:
    """True when a constant array fits a type exactly (hls4ml infers some constant types, e.g.
    batch-norm thresholds, from the accumulator, which truncates real-valued thresholds)."""
    width = getattr(precision, "width", None)
    if width is None:
        return True
    integer = getattr(precision, "integer", width)
    signed = getattr(precision, "signed", True)
    values = np.asarray(values, dtype=np.float64)
    if getattr(precision, "rounding_mode", None) is not None and str(precision).startswith("fixed<4,4,RND"):
        return True  # weight quantiser types: hls4ml quantises the float weights itself
    if width == 1 and not signed:
        return True  # binary (xnor) weights: 0/1 encodes -1/+1
    fractional = width - integer
    scaled = values * 2.0**fractional
    low = -(2.0 ** (width - 1)) if signed else 0.0
    high = 2.0 ** (width - 1) - 1 if signed else 2.0**width - 1
    return bool(np.all(scaled == np.round(scaled)) and np.all(scaled >= low) and np.all(scaled <= high))


def _is_default(precision) -> bool:
    text = str(precision)
    return text.startswith("fixed<16,6,") or text == "fixed<16,6>"


def _quiet(action):
    """hls4ml prints its whole topology on every conversion; keep the terminal for our output."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return action()


def build_project(graph: LayerGraph, settings: HlsSettings, out_dir: str | os.PathLike):
    """Write the hls4ml project (as hls4ml writes it, buildable by the vendor tools) to out_dir."""
    import tempfile

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="codesign-hls-discover-") as scratch:
        model, config = derive_config(graph, settings, Path(scratch))
    hls_model = _quiet(lambda: _convert(model, config, settings, out_dir))
    _quiet(hls_model.write)
    return hls_model, config


def layer_types(hls_model) -> dict[str, dict[str, str]]:
    """Every hls4ml layer's result and constant types, for the report."""
    types = {}
    for layer in hls_model.get_layers():
        entry = {name: str(var.type.precision) for name, var in layer.variables.items()}
        entry.update({f"{name}_t": str(weight.type.precision) for name, weight in layer.weights.items()})
        types[layer.name] = {"class": layer.class_name, **entry}
    return types
