"""The backend-neutral layer graph: what every backend lowers and every estimate is about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from codesign.errors import FloatGraphError
from codesign.ir.ops import Affine, ElementwiseOp, activation_label
from codesign.ir.quantspec import QuantSpec

HEADS = ("none", "softmax", "logsoftmax", "argmax")


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """One fully connected layer in integer form.

    accumulator = input_codes @ weight.T (exact integers)
    value       = accumulator * acc_scale + bias, then ``post`` ops, then ``output_quant``.
    """

    name: str
    weight: np.ndarray  # int64 (out, in), zero point removed
    weight_quant: QuantSpec
    input_quant: QuantSpec | None  # None: float input (first layer of a graph with float input)
    bias: np.ndarray | None  # float64 (out,), in real units
    post: tuple[ElementwiseOp, ...] = ()
    output_quant: QuantSpec | None = None
    source_nodes: tuple[str, ...] = ()

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def weight_scale(self) -> np.ndarray:
        """Per-output-channel weight scale, shape (out,)."""
        return np.broadcast_to(self.weight_quant.scale.reshape(-1), (self.out_features,)).copy()

    @property
    def acc_scale(self) -> np.ndarray:
        """Real value of one accumulator LSB per output channel."""
        in_scale = 1.0 if self.input_quant is None else float(self.input_quant.scale.reshape(-1)[0])
        return in_scale * self.weight_scale

    @property
    def activation(self) -> str:
        bipolar = self.output_quant is not None and self.output_quant.bipolar
        return activation_label(self.post, bipolar)

    @property
    def macs(self) -> int:
        return self.in_features * self.out_features

    @property
    def nonzero_weights(self) -> int:
        return int(np.count_nonzero(self.weight))

    @property
    def parameters(self) -> int:
        return self.weight.size + (0 if self.bias is None else self.bias.size)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero_weights / self.weight.size

    @property
    def accumulator_bits(self) -> int | None:
        """Signed bits that hold any accumulator value for in-range inputs (None: float input)."""
        if self.input_quant is None:
            return None
        bound = accumulator_bound(self.weight, self.input_quant)
        return int(bound).bit_length() + 1

    def post_affine(self) -> Affine | None:
        """The post ops folded into one affine map, when they are all affine."""
        if not all(isinstance(op, Affine) for op in self.post):
            return None
        folded = Affine()
        for op in self.post:
            folded = folded.then(op)
        return folded


def accumulator_bound(weight: np.ndarray, input_quant: QuantSpec) -> int:
    """Largest |accumulator| over all inputs the quantiser can produce (exact, per-row sum)."""
    largest_code = max(abs(input_quant.code_min), abs(input_quant.code_max))
    return int(np.max(np.abs(weight).sum(axis=1))) * largest_code if weight.size else 0


@dataclass(frozen=True, eq=False)
class InputTransform:
    """Element-wise pre-processing applied to the flattened input before the first quantiser."""

    input_shape: tuple[int, ...]  # per-sample shape as in the graph (without batch)
    ops: tuple[ElementwiseOp, ...] = ()

    @property
    def features(self) -> int:
        return int(np.prod(self.input_shape)) if self.input_shape else 1

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        for op in self.ops:
            x = op.apply(x)
        return x


@dataclass(frozen=True, eq=False)
class LayerGraph:
    """A validated quantised MLP: input transform, dense layers, output head."""

    name: str
    input_transform: InputTransform
    layers: tuple[DenseLayer, ...]
    head: str = "none"
    metadata: dict[str, str] = field(default_factory=dict)
    source: Any = None  # the cleaned qonnx ModelWrapper, for backends that start from QONNX
    source_path: str | None = None

    @property
    def input_quant(self) -> QuantSpec | None:
        return self.layers[0].input_quant

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    @property
    def topology(self) -> nx.DiGraph:
        """Layers as a networkx chain: input -> layer... -> output (edges carry widths)."""
        graph = nx.DiGraph()
        graph.add_node("input", kind="input", features=self.in_features)
        previous = "input"
        for layer in self.layers:
            graph.add_node(layer.name, kind="dense", layer=layer)
            graph.add_edge(previous, layer.name, features=layer.in_features)
            previous = layer.name
        graph.add_node("output", kind="output", head=self.head)
        graph.add_edge(previous, "output", features=self.out_features)
        return graph

    @property
    def fixed_random_layers(self) -> tuple[str, ...]:
        names = self.metadata.get("codesign.fixed_random_layers", "")
        return tuple(n for n in names.split(",") if n)

    @property
    def integer(self) -> bool:
        """True when every layer input is quantised, so every dot product is on integers."""
        return all(layer.input_quant is not None for layer in self.layers)

    def require_integer(self, purpose: str) -> None:
        """Raise a clear error when a backend needs integer activations and the graph has floats."""
        floats = [layer.name for layer in self.layers if layer.input_quant is None]
        if floats:
            raise FloatGraphError(
                f"{purpose} needs quantised activations, but the input of {', '.join(floats)} is floating point",
                hint="add an input quantiser (Brevitas QuantIdentity) and activation quantisers between layers",
            )

    def layer(self, name: str) -> DenseLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)
