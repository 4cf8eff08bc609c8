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
DISCOVERY_ROUNDS = 4
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
    if np.all(magnitudes == np.round(magnitudes)):  # integer constants (+-1 weights, thresholds): exact
        integer = math.floor(math.log2(magnitudes.max())) + 2
        return f"fixed<{integer},{integer}>"
    integer = max(1, math.floor(math.log2(magnitudes.max())) + 2)  # sign bit + leading bit
    fractional = max(0, relative_bits - math.floor(math.log2(magnitudes.min())))
    return f"fixed<{integer + fractional},{integer}>"


def input_type(graph: LayerGraph) -> str:
    """Input precision: the first quantiser's range with room to resolve its rounding boundaries."""
    spec = graph.input_quant
    if spec is not None and graph.input_transform.ops:
        return _preprocessed_input_type(graph)
    if spec is None:
        return "fixed<64,24>"  # float input: every float32 with |x| >= 2**-16 and < 2**23 exactly
    scale = float(np.min(spec.scale))
    largest = max(abs(spec.code_min), abs(spec.code_max)) * float(np.max(spec.scale))
    integer = max(1, math.floor(math.log2(largest)) + 3) if largest > 0 else 2
    fractional = max(0, 24 - math.floor(math.log2(scale)))
    return f"fixed<{integer + fractional},{integer}>"


MAX_INPUT_FRACTIONAL_BITS = 48


def _preprocessed_input_type(graph: LayerGraph) -> str:
    """Raw input before an affine pre-processing (FINN's Mul/Sub): 16 integer bits and enough
    fractional bits that a float32 input next to any of the first quantiser's rounding
    boundaries, mapped back through the pre-processing, keeps its position relative to it
    (``fixed<32,16>`` moves inputs within 2**-16 of a boundary across it)."""
    from codesign.ir.ops import Affine

    spec = graph.input_quant
    folded = Affine()
    for op in graph.input_transform.ops:
        if not isinstance(op, Affine):
            return "fixed<32,16>"
        folded = folded.then(op)
    if spec.bipolar:
        boundaries = np.zeros(1)
    else:
        codes = np.arange(spec.code_min, min(spec.code_max, spec.code_min + 4096) + 1, dtype=np.float64)
        boundaries = np.concatenate([codes, codes[:-1] + 0.5])[:, None] * spec.scale.reshape(1, -1)
    mul = np.asarray(folded.mul, dtype=np.float64).reshape(-1)
    add = np.asarray(folded.add, dtype=np.float64).reshape(-1)
    if np.any(mul == 0):
        return "fixed<32,16>"
    raw = (boundaries.reshape(-1, 1, 1) - add.reshape(1, -1, 1)) / mul.reshape(1, 1, -1)
    magnitudes = np.abs(raw[np.isfinite(raw)])
    magnitudes = magnitudes[magnitudes > 0]
    smallest = float(magnitudes.min()) if magnitudes.size else 1.0
    fractional = min(MAX_INPUT_FRACTIONAL_BITS, max(16, 24 - math.floor(math.log2(smallest))))
    return f"fixed<{16 + fractional},16>"


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
    Gemm -> MatMul + Add, the output head removed (see ``strip_head``), and these rewrites of
    constructs hls4ml's QONNX passes get wrong, each exact:

    * constant bias quantisers and bipolar weight quantisers folded into plain initialisers
      (hls4ml re-binarises already binarised xnor weights, making them all +1);
    * per-channel weight scales moved behind the MatMul as a Mul (hls4ml's scale propagation
      leaves a layer without inputs);
    * BatchNormalization feeding a BipolarQuant replaced by an exact integer threshold as the
      MatMul's bias (hls4ml's fused threshold rounds the wrong way and ignores negative scales);
    * every other BatchNormalization as Mul + Add (an ApplyAlpha with derived types).
    """
    from qonnx.transformation.batchnorm_to_affine import BatchNormToAffine
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    if graph.source is None:
        raise BackendError(f"model {graph.name!r} has no QONNX source", hint="load it with codesign.load(path)")
    model = strip_head(cleanup_model(graph.source))
    model = model.transform(ConvertToChannelsLastAndClean())
    model = cleanup_model(model.transform(GemmToMatMul()))  # folds GemmToMatMul's weight Transpose
    _fold_constant_quantizers(model)
    _channel_scales_after_matmul(model)
    _bipolar_thresholds(model)
    model = cleanup_model(model)
    model = model.transform(BatchNormToAffine())
    return cleanup_model(model)


def _opset(model) -> int:
    return next((o.version for o in model.model.opset_import if o.domain in ("", "ai.onnx")), 13)


def _fold_constant_quantizers(model) -> None:
    """Bias quantisers (Quant feeding only Adds) and every BipolarQuant of a constant become
    initialisers holding the quantised values."""
    from qonnx.core.onnx_exec import execute_node

    for node in list(model.graph.node):
        if node.op_type not in ("Quant", "BipolarQuant") or model.get_initializer(node.input[0]) is None:
            continue
        consumers = model.find_consumers(node.output[0]) or []
        if node.op_type == "BipolarQuant" or (consumers and all(c.op_type == "Add" for c in consumers)):
            context = {name: model.get_initializer(name) for name in node.input}
            context[node.output[0]] = None
            execute_node(node, context, model.graph, opset_version=_opset(model))
            model.set_initializer(node.output[0], np.asarray(context[node.output[0]], dtype=np.float32))
            model.graph.node.remove(node)


def _channel_scales_after_matmul(model) -> None:
    """MatMul(x, Quant(W, s)) with a per-output-channel scale s -> Mul(MatMul(x, Quant(W / s, 1)), s).

    The integer codes are those of the original quantiser (round(W / s) either way)."""
    from onnx import helper

    for node in list(model.graph.node):
        if node.op_type != "Quant" or model.get_initializer(node.input[0]) is None:
            continue
        consumers = model.find_consumers(node.output[0]) or []
        weight = model.get_initializer(node.input[0])
        scale = model.get_initializer(node.input[1])
        zero_point = model.get_initializer(node.input[2])
        if (len(consumers) != 1 or consumers[0].op_type != "MatMul" or consumers[0].input[1] != node.output[0]
                or weight.ndim != 2 or scale is None or scale.size <= 1 or zero_point is None or np.any(zero_point)):
            continue
        out_channels = weight.shape[1]
        if scale.size != out_channels or scale.shape not in ((out_channels,), (1, out_channels)):
            continue  # only scales along the output channels commute with the MatMul
        matmul = consumers[0]
        scale = scale.astype(np.float32).reshape(1, out_channels)
        model.set_initializer(node.input[0], (weight / scale).astype(np.float32))
        unit = model.make_new_valueinfo_name()
        model.set_initializer(unit, np.asarray(1.0, dtype=np.float32))
        node.input[1] = unit
        channel_scale = model.make_new_valueinfo_name()
        model.set_initializer(channel_scale, scale.reshape(out_channels))
        product = model.make_new_valueinfo_name()
        output = matmul.output[0]
        matmul.output[0] = product
        index = list(model.graph.node).index(matmul)
        model.graph.node.insert(index + 1, helper.make_node("Mul", [product, channel_scale], [output],
                                                            name=f"{matmul.name}_channel_scale"))


def _power_of_two_grid(values: np.ndarray) -> float | None:
    """The largest power of two dividing every value (None when there is none down to 2**-40)."""
    values = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    values = values[values > 0]
    if values.size == 0:
        return 1.0
    exponent = math.floor(math.log2(values.max()))
    while exponent >= -40:
        step = 2.0**exponent
        if np.all(values / step == np.round(values / step)):
            return step
        exponent -= 1
    return None


def _input_grid(model, tensor: str) -> tuple[float | None, float]:
    """(spacing, largest magnitude) of the values a MatMul input can take; the spacing is None
    if unknown or not a power of two."""
    from qonnx.util.basic import get_by_name

    producer = model.find_producer(tensor)
    if producer is None or producer.op_type not in ("BipolarQuant", "Quant"):
        return None, math.inf
    scale = model.get_initializer(producer.input[1])
    if scale is None or scale.size != 1 or _power_of_two_grid(scale) != abs(float(scale)):
        return None, math.inf
    scale = abs(float(scale))
    if producer.op_type == "BipolarQuant":
        return scale, scale
    zero_point, bits = (model.get_initializer(name) for name in producer.input[2:4])
    if zero_point is None or bits is None or np.any(zero_point):
        return None, math.inf
    signed = get_by_name(producer.attribute, "signed")
    largest_code = 2.0 ** (float(bits) - 1) if signed is None or signed.i else 2.0 ** float(bits) - 1
    return scale, largest_code * scale


def _bipolar_thresholds(model) -> None:
    """MatMul(x, W) -> BatchNormalization -> BipolarQuant becomes MatMul(x, W') -> Add(-k) ->
    BipolarQuant with ``k`` the exact threshold on the MatMul's value grid (sign flips folded
    into W' columns, constant channels as zero columns), when W is a constant and the grid of
    x @ W a power of two.  hls4ml then emits a Dense with an integer-grid bias and a
    ``binary_tanh`` (sign with ``>= 0``), both exact."""
    from onnx import helper

    for node in list(model.graph.node):
        if node.op_type != "BatchNormalization":
            continue
        consumers = model.find_consumers(node.output[0]) or []
        matmul = model.find_producer(node.input[0])
        if (len(consumers) != 1 or consumers[0].op_type != "BipolarQuant" or matmul is None
                or matmul.op_type != "MatMul" or len(model.find_consumers(matmul.output[0]) or []) != 1):
            continue
        weight = model.get_initializer(matmul.input[1])
        params = [model.get_initializer(name) for name in node.input[1:5]]
        if weight is None or weight.ndim != 2 or any(p is None for p in params):
            continue
        weight_grid = _power_of_two_grid(weight)
        input_grid, input_max = _input_grid(model, matmul.input[0])
        if weight_grid is None or input_grid is None:
            continue
        grid = weight_grid * input_grid
        gamma, beta, mean, variance = (np.asarray(p, dtype=np.float64).ravel() for p in params)
        epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        scale = gamma / np.sqrt(variance + np.float64(np.float32(epsilon)))
        bias = beta - mean * scale
        if scale.size != weight.shape[1]:
            continue
        # y = scale * v + bias >= 0  <=>  sign * v >= threshold, v on the grid
        sign = np.sign(scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            threshold = np.where(scale != 0, -bias / np.where(scale != 0, scale, 1.0) * sign, 0.0)
        threshold = np.ceil(threshold / grid) * grid
        # channels that never or always fire within the MatMul's range: constant, as a zero column
        # (keeps every threshold inside the range, hence inside the accumulator type)
        bound = np.abs(weight.astype(np.float64)).sum(axis=0) * input_max
        never = np.where(scale != 0, threshold > bound, bias < 0)
        always = np.where(scale != 0, threshold <= -bound, bias >= 0)
        threshold = np.where(never, grid, np.where(always, 0.0, threshold))
        sign = np.where(never | always, 0.0, sign)
        new_weight = model.make_new_valueinfo_name()
        model.set_initializer(new_weight, (weight.astype(np.float64) * sign.reshape(1, -1)).astype(np.float32))
        matmul.input[1] = new_weight
        offset = model.make_new_valueinfo_name()
        model.set_initializer(offset, (-threshold).astype(np.float32))
        index = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(index, helper.make_node("Add", [node.input[0], offset], [node.output[0]],
                                                        name=f"{node.name}_threshold"))


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
    config = quiet_stdout(lambda: hls4ml.utils.config.config_from_onnx_model(
        model, granularity="name", backend=settings.backend, default_precision=DEFAULT_PRECISION,
        default_reuse_factor=settings.reuse_factor))
    config["Model"]["Strategy"] = settings.strategy
    config["Model"]["ReuseFactor"] = settings.reuse_factor
    layers = config.setdefault("LayerName", {})
    derived: set[tuple[str, str]] = set()  # (layer, weight) types set here, re-derived every round
    # setting a type can change which layers hls4ml fuses (a Dense with a given result type no
    # longer absorbs a following scale), so convert until the derived types are stable
    for _ in range(DISCOVERY_ROUNDS):
        discovered = quiet_stdout(lambda: _convert(model, config, settings, scratch))
        before = repr(sorted((name, repr(entry.get("Precision"))) for name, entry in layers.items()))
        for layer in discovered.get_layers():
            _derive_layer_types(layer, layers.setdefault(layer.name, {}), graph, settings, derived)
        if repr(sorted((name, repr(entry.get("Precision"))) for name, entry in layers.items())) == before:
            break
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


def _derive_layer_types(layer, entry: dict, graph: LayerGraph, settings: HlsSettings,
                        derived: set[tuple[str, str]]) -> None:
    precision = entry.get("Precision")
    if not isinstance(precision, dict):
        precision = entry["Precision"] = {} if precision is None else {"result": precision}
    for name, weight in layer.weights.items():
        if ((layer.name, name) in derived or _is_default(weight.type.precision)
                or not representable(weight.data, weight.type.precision)):
            precision[name] = constant_type(weight.data)
            derived.add((layer.name, name))
    if layer.class_name == "Dense" and _is_xnor(layer.get_input_variable().type.precision):
        precision["accum"] = precision["result"] = binary_input_dense_type(layer, precision)
    if layer.class_name == "Input":
        precision["result"] = input_type(graph)
    elif layer.class_name in PASS_THROUGH and ((layer.name, "result") in derived
                                               or _is_default(layer.get_output_variable().type.precision)):
        # e.g. a ReLU before a quantiser with a learned (non-power-of-two) scale: hls4ml splits
        # the quantiser into a scale and a cast and leaves the ReLU at the default type, which
        # would truncate its input; the exact type is the input's
        precision["result"] = _plain_type(layer.get_input_variable().type.precision)
        derived.add((layer.name, "result"))
    entry.setdefault("ReuseFactor", settings.reuse_factor)
    entry.setdefault("Strategy", settings.strategy)


PASS_THROUGH = ("Activation", "ReLU", "Reshape", "Transpose")


def _plain_type(precision) -> str:
    """An hls4ml precision as a config string without rounding/saturation modes."""
    width = precision.width
    integer = getattr(precision, "integer", width)
    prefix = "fixed" if getattr(precision, "signed", True) else "ufixed"
    return f"{prefix}<{width},{integer}>"


def _is_xnor(precision) -> bool:
    from hls4ml.model.types import XnorPrecisionType

    return isinstance(precision, XnorPrecisionType)


def _fractional_bits(precision) -> int:
    """Fractional bits of an hls4ml precision or a ``fixed<W,I>`` / ``int<W>`` string."""
    import re

    match = re.match(r"u?fixed<(\d+),(-?\d+)", str(precision))
    return int(match.group(1)) - int(match.group(2)) if match else 0


def binary_input_dense_type(layer, precision: dict) -> str:
    """Accumulator / result type of a Dense whose input is xnor-binary (+-1 coded as 0/1).

    hls4ml's precision inference does not handle xnor inputs and falls back to the default
    type; the exact type holds the largest +-sum of the weights plus the bias, with the
    weights' and bias' fractional bits."""
    weight = np.asarray(layer.weights["weight"].data, dtype=np.float64)
    weight = weight.reshape(-1, weight.shape[-1]) if weight.ndim > 1 else weight.reshape(-1, 1)
    bias = np.asarray(layer.weights["bias"].data, dtype=np.float64).reshape(-1) if "bias" in layer.weights else 0.0
    bound = float(np.max(np.abs(weight).sum(axis=0) + np.abs(bias)))
    fractional = max(_fractional_bits(precision.get(name, layer.weights[name].type.precision))
                     for name in ("weight", "bias") if name in layer.weights)
    integer = max(1, math.floor(math.log2(bound)) + 2) if bound > 0 else 2
    return f"fixed<{integer + fractional},{integer}>"


def representable(values: np.ndarray, precision) -> bool:
    """True when a constant array fits a type exactly (hls4ml infers some constant types, e.g.
    batch-norm thresholds, from the accumulator, which truncates real-valued thresholds)."""
    width = getattr(precision, "width", None)
    if width is None:
        return True
    integer = getattr(precision, "integer", width)
    signed = getattr(precision, "signed", True)
    values = np.asarray(values, dtype=np.float64)
    if getattr(precision, "rounding_mode", None) is not None:
        return True  # a type taken from a quantiser: hls4ml quantises the weights to it when writing them
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


def quiet_stdout(action):
    """hls4ml prints its whole topology on every conversion; keep the terminal for our output."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return action()


CONVERTER_ERRORS = (RuntimeError, ValueError, KeyError, IndexError, AttributeError, TypeError, AssertionError)


def build_project(graph: LayerGraph, settings: HlsSettings, out_dir: str | os.PathLike):
    """Write the hls4ml project (as hls4ml writes it, buildable by the vendor tools) to out_dir."""
    import tempfile

    out_dir = Path(out_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="codesign-hls-discover-") as scratch:
            model, config = derive_config(graph, settings, Path(scratch))
        hls_model = quiet_stdout(lambda: _convert(model, config, settings, out_dir))
        quiet_stdout(hls_model.write)
    except CONVERTER_ERRORS as exc:  # hls4ml reports unsupported graphs with assorted exceptions
        message = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise BackendError(f"hls4ml cannot convert {graph.name!r}: {type(exc).__name__}: {message}",
                           hint="report the model; the crossbar and printed targets may still take it") from None
    return hls_model, config


def layer_types(hls_model) -> dict[str, dict[str, str]]:
    """Every hls4ml layer's result and constant types, for the report."""
    types = {}
    for layer in hls_model.get_layers():
        entry = {name: str(var.type.precision) for name, var in layer.variables.items()}
        entry.update({f"{name}_t": str(weight.type.precision) for name, weight in layer.weights.items()})
        types[layer.name] = {"class": layer.class_name, **entry}
    return types
