"""Evaluate the constant side of a cleaned QONNX graph: weights, biases, quantiser parameters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import helper, numpy_helper

from codesign.errors import NonFiniteError, UnsupportedOpError
from codesign.ir.quantspec import QuantSpec, make_spec


@dataclass(frozen=True, eq=False)
class Constant:
    """A constant tensor; ``codes``/``spec`` are set when it came out of a quantiser."""

    values: np.ndarray  # float64, real units
    codes: np.ndarray | None = None
    spec: QuantSpec | None = None
    producer: str = ""  # name of the node (or initializer) that made it


def node_label(node) -> str:
    return node.name or node.output[0]


def attribute(node, name: str, default=None):
    for attr in node.attribute:
        if attr.name == name:
            value = helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


class ConstantResolver:
    """Knows which tensors are constant and evaluates them (memoised)."""

    def __init__(self, model) -> None:
        self._graph = model.graph
        self._initializers = {t.name: t for t in model.graph.initializer}
        self._producers = {out: node for node in model.graph.node for out in node.output}
        self._cache: dict[str, Constant] = {}
        self._constness: dict[str, bool] = {}

    def is_constant(self, tensor: str) -> bool:
        if not tensor or tensor in self._initializers:
            return True  # an empty name is an optional input left out
        if tensor not in self._constness:
            node = self._producers.get(tensor)
            self._constness[tensor] = node is not None and all(self.is_constant(t) for t in node.input)
        return self._constness[tensor]

    def value(self, tensor: str) -> Constant:
        if tensor not in self._cache:
            self._cache[tensor] = self._evaluate(tensor)
        return self._cache[tensor]

    def array(self, tensor: str) -> np.ndarray:
        return self.value(tensor).values

    def _evaluate(self, tensor: str) -> Constant:
        if tensor in self._initializers:
            values = numpy_helper.to_array(self._initializers[tensor]).astype(np.float64)
            if not np.all(np.isfinite(values)):
                raise NonFiniteError(f"tensor {tensor!r} contains NaN/Inf values",
                                     hint="retrain or fix the exported weights")
            return Constant(values, producer=tensor)
        node = self._producers[tensor]
        where = f"node {node_label(node)!r} ({node.op_type})"
        if node.op_type == "Quant":
            x, scale, zero_point, bits = (self.array(t) for t in node.input[:4])
            spec = make_spec(where=where, bits=bits, signed=attribute(node, "signed", 1),
                             narrow=attribute(node, "narrow", 0), scale=scale,
                             zero_point=zero_point,
                             rounding=attribute(node, "rounding_mode", "ROUND"))
            codes = spec.quantize(x)
            return Constant(spec.dequantize(codes), codes, spec, node_label(node))
        if node.op_type == "BipolarQuant":
            x, scale = self.array(node.input[0]), self.array(node.input[1])
            spec = make_spec(where=where, bits=1, signed=True, narrow=False, scale=scale,
                             zero_point=np.zeros(1), bipolar=True)
            codes = spec.quantize(x)
            return Constant(spec.dequantize(codes), codes, spec, node_label(node))
        if node.op_type == "Identity":
            return self.value(node.input[0])
        if node.op_type in ("Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose") and \
                self.value(node.input[0]).spec is None:
            return Constant(_run_plain(node, [self.array(t) for t in node.input if t]),
                            producer=node_label(node))
        raise UnsupportedOpError(
            f"{where} computes a constant codesign cannot evaluate",
            hint="run qonnx cleanup / constant folding on the export first",
        )


def _run_plain(node, inputs: list[np.ndarray]) -> np.ndarray:
    """Evaluate a shape-only op on an unquantised constant."""
    x = inputs[0]
    if node.op_type == "Cast":
        return x.astype(np.float64)
    if node.op_type == "Transpose":
        return np.transpose(x, attribute(node, "perm", None))
    if node.op_type == "Flatten":
        axis = attribute(node, "axis", 1)
        return x.reshape(int(np.prod(x.shape[:axis])), -1)
    if node.op_type == "Reshape":
        return x.reshape([int(d) for d in inputs[1]])
    if node.op_type == "Squeeze":
        return np.squeeze(x)
    axes = inputs[1] if len(inputs) > 1 else attribute(node, "axes", [0])
    return np.expand_dims(x, tuple(int(a) for a in axes))
