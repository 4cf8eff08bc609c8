"""Fixed-point types of every hls4ml variable, derived from the graph instead of hls4ml's defaults.

hls4ml's QONNX converter takes weight and activation types from the Quant nodes, but every
constant it introduces itself (the ApplyAlpha scale/bias that carries a non-power-of-two
quantiser scale, biases) and the input get the default ``fixed<16,6>``, which silently changes
results. Each such constant gets a fixed-point type that represents it to ``RELATIVE_BITS``
bits, the input gets a type that resolves the first quantiser's rounding boundaries, and
layers hls4ml's precision inference cannot size (xnor inputs, pass-throughs) get exact types.
"""

from __future__ import annotations

import math

import numpy as np

from codesign.ir.graph import LayerGraph

RELATIVE_BITS = 24  # fractional bits below the smallest constant's leading bit
MAX_INPUT_FRACTIONAL_BITS = 48
PASS_THROUGH = ("Activation", "ReLU", "Reshape", "Transpose")


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


def derive_layer_types(layer, entry: dict, graph: LayerGraph, reuse_factor: int, strategy: str,
                       derived: set[tuple[str, str]]) -> None:
    """Set the derived types of one converted hls4ml layer in its config ``entry``; ``derived``
    records what was set here (re-derived every conversion round)."""
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
    entry.setdefault("ReuseFactor", reuse_factor)
    entry.setdefault("Strategy", strategy)



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
