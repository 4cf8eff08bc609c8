"""Element-wise operations between a layer's accumulator and its output quantiser.

Each op is monotone per channel, which is what lets a layer's whole requantisation be
expressed as integer thresholds on the accumulator (see ``thresholds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Affine:
    """y = x * mul + add (batch norm, scaling, bias, pre-processing)."""

    mul: np.ndarray = field(default_factory=lambda: np.array(1.0))
    add: np.ndarray = field(default_factory=lambda: np.array(0.0))
    name: str = "affine"

    def apply(self, x: np.ndarray) -> np.ndarray:
        return x * self.mul + self.add

    def direction(self, channels: int) -> np.ndarray:
        return np.broadcast_to(np.sign(self.mul), (channels,)).astype(np.int64)

    def then(self, other: Affine) -> Affine:
        """Compose: other(self(x))."""
        return Affine(self.mul * other.mul, self.add * other.mul + other.add, self.name)


@dataclass(frozen=True)
class Relu:
    name: str = "relu"

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0)

    def direction(self, channels: int) -> np.ndarray:
        return np.ones(channels, dtype=np.int64)


@dataclass(frozen=True)
class Clip:
    low: float = -np.inf
    high: float = np.inf
    name: str = "clip"

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.low, self.high)

    def direction(self, channels: int) -> np.ndarray:
        return np.ones(channels, dtype=np.int64)


@dataclass(frozen=True)
class Sigmoid:
    name: str = "sigmoid"

    def apply(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-x))

    def direction(self, channels: int) -> np.ndarray:
        return np.ones(channels, dtype=np.int64)


@dataclass(frozen=True)
class Tanh:
    name: str = "tanh"

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def direction(self, channels: int) -> np.ndarray:
        return np.ones(channels, dtype=np.int64)


@dataclass(frozen=True)
class LeakyRelu:
    alpha: float = 0.01
    name: str = "leaky_relu"

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, x, x * self.alpha)

    def direction(self, channels: int) -> np.ndarray:
        return np.full(channels, 1 if self.alpha >= 0 else 0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class FakeQuant:
    """A quantiser that is not the layer's last one (quantise-dequantise in float)."""

    spec: object  # QuantSpec; typed loosely to avoid an import cycle
    name: str = "quant"

    def apply(self, x: np.ndarray) -> np.ndarray:
        return self.spec.dequantize(self.spec.quantize(x))

    def direction(self, channels: int) -> np.ndarray:
        return np.ones(channels, dtype=np.int64)


ElementwiseOp = Affine | Relu | Clip | Sigmoid | Tanh | LeakyRelu | FakeQuant


def activation_label(ops: tuple, output_bipolar: bool) -> str:
    """Human label of what a chain of ops does, for tables."""
    if output_bipolar:
        return "sign"
    names = [op.name for op in ops if not isinstance(op, Affine | FakeQuant)]
    if not names:
        return "identity"
    return "+".join(names)
