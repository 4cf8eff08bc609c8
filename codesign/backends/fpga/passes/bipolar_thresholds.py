"""MatMul -> BatchNormalization -> BipolarQuant as an exact integer threshold."""

from __future__ import annotations

import math

import numpy as np
from qonnx.transformation.base import Transformation


def power_of_two_grid(values: np.ndarray) -> float | None:
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


def input_grid(model, tensor: str) -> tuple[float | None, float]:
    """(spacing, largest magnitude) of the values a MatMul input can take; the spacing is None
    if unknown or not a power of two."""
    from qonnx.util.basic import get_by_name

    producer = model.find_producer(tensor)
    if producer is None or producer.op_type not in ("BipolarQuant", "Quant"):
        return None, math.inf
    scale = model.get_initializer(producer.input[1])
    if scale is None or scale.size != 1:
        return None, math.inf
    scale = abs(float(np.asarray(scale).ravel()[0]))
    if power_of_two_grid(scale) != scale:
        return None, math.inf
    if producer.op_type == "BipolarQuant":
        return scale, scale
    zero_point, bits = (model.get_initializer(name) for name in producer.input[2:4])
    if zero_point is None or bits is None or np.any(zero_point):
        return None, math.inf
    signed = get_by_name(producer.attribute, "signed")
    largest_code = 2.0 ** (float(bits) - 1) if signed is None or signed.i else 2.0 ** float(bits) - 1
    return scale, largest_code * scale


class BipolarThresholds(Transformation):
    """MatMul(x, W) -> BatchNormalization (or a constant bias Add) -> BipolarQuant becomes
    MatMul(x, W') -> Add(-k) -> BipolarQuant with ``k`` the exact threshold on the MatMul's value
    grid (sign flips folded into W' columns, channels that never or always fire as zero
    columns), when W is a constant and the grid of x @ W a power of two. hls4ml then emits a
    Dense with an integer-grid bias and a ``binary_tanh`` (sign with ``>= 0``), both exact; its
    own fused threshold rounds the wrong way, ignores negative batch-norm scales, and wraps a
    threshold outside the accumulator's range (hls4ml's 1-layer BNN: a bias of -4 on sums in
    [-3, 3] fired always)."""

    def apply(self, model):
        for node in list(model.graph.node):
            if node.op_type in ("BatchNormalization", "Add"):
                self._rewrite(model, node)
        return model, False  # one sweep: a rewritten batch norm or bias is replaced by a clamped one

    @staticmethod
    def _affine(model, node) -> tuple[np.ndarray, np.ndarray] | None:
        """(scale, bias) per channel of a batch norm or of a constant bias Add, else None."""
        if node.op_type == "Add":
            bias = model.get_initializer(node.input[1])
            if bias is None or model.get_initializer(node.input[0]) is not None or node.name.endswith("_threshold"):
                return None
            bias = np.asarray(bias, dtype=np.float64).ravel()
            return np.ones_like(bias), bias
        params = [model.get_initializer(name) for name in node.input[1:5]]
        if any(p is None for p in params):
            return None
        gamma, beta, mean, variance = (np.asarray(p, dtype=np.float64).ravel() for p in params)
        epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        scale = gamma / np.sqrt(variance + np.float64(np.float32(epsilon)))
        return scale, beta - mean * scale

    @classmethod
    def _rewrite(cls, model, node) -> None:
        from onnx import helper

        consumers = model.find_consumers(node.output[0]) or []
        matmul = model.find_producer(node.input[0])
        if (len(consumers) != 1 or consumers[0].op_type != "BipolarQuant" or matmul is None
                or matmul.op_type != "MatMul" or len(model.find_consumers(matmul.output[0]) or []) != 1):
            return
        weight = model.get_initializer(matmul.input[1])
        affine = cls._affine(model, node)
        if weight is None or weight.ndim != 2 or affine is None:
            return
        weight_grid = power_of_two_grid(weight)
        x_grid, x_max = input_grid(model, matmul.input[0])
        if weight_grid is None or x_grid is None:
            return
        grid = weight_grid * x_grid
        scale, bias = affine
        if bias.size == 1 and weight.shape[1] > 1:
            scale, bias = np.full(weight.shape[1], scale[0]), np.full(weight.shape[1], bias[0])
        if scale.size != weight.shape[1]:
            return
        # y = scale * v + bias >= 0  <=>  sign * v >= threshold, v on the grid
        sign = np.sign(scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            threshold = np.where(scale != 0, -bias / np.where(scale != 0, scale, 1.0) * sign, 0.0)
        threshold = np.ceil(threshold / grid) * grid
        # channels that never or always fire within the MatMul's range: constant, as a zero column
        # (keeps every threshold inside the range, hence inside the accumulator type)
        bound = np.abs(weight.astype(np.float64)).sum(axis=0) * x_max
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
