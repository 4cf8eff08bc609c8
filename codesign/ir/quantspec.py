"""Quantiser description shared by every layer: the bridge between floats and integers.

Semantics follow the QONNX ``Quant`` / ``BipolarQuant`` operators exactly (clip, then round with
the node's rounding mode, then subtract the zero point), so that integer codes computed here
are the ones QONNX execution implies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codesign.errors import BitWidthError, NonFiniteError, UnsupportedOpError

ROUNDING_MODES = ("ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN")
MAX_BITS = 32


def _round(values: np.ndarray, mode: str) -> np.ndarray:
    if mode in ("ROUND", "HALF_EVEN"):
        return np.round(values)
    if mode == "CEIL":
        return np.ceil(values)
    if mode == "FLOOR":
        return np.floor(values)
    if mode == "UP":
        return np.sign(values) * np.ceil(np.abs(values))
    if mode == "DOWN":
        return np.fix(values)
    if mode == "HALF_UP":
        return np.sign(values) * np.floor(np.abs(values) + 0.5)
    return np.sign(values) * np.ceil(np.abs(values) - 0.5)  # HALF_DOWN


def check_bits(bits: float, where: str) -> int:
    """Validate a bit width from a graph or an option; returns it as int."""
    if not np.isfinite(bits) or bits != int(bits):
        raise BitWidthError(f"{where}: bit width {bits} is not an integer", hint="use 1..32 bits")
    if not 1 <= int(bits) <= MAX_BITS:
        raise BitWidthError(
            f"{where}: bit width {int(bits)} is outside 1..{MAX_BITS}",
            hint="re-export with a supported bit width",
        )
    return int(bits)


@dataclass(frozen=True, eq=False)
class QuantSpec:
    """A uniform integer quantiser: value = (code) * scale, code in [int_min, int_max].

    ``code`` is the integer *after* removing the zero point, i.e. what a MAC unit multiplies.
    ``scale`` is a scalar or one value per channel (last axis).
    """

    bits: int
    signed: bool
    narrow: bool = False
    scale: np.ndarray = field(default_factory=lambda: np.array(1.0))
    zero_point: np.ndarray = field(default_factory=lambda: np.array(0.0))
    rounding: str = "ROUND"
    bipolar: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", np.asarray(self.scale, dtype=np.float64))
        object.__setattr__(self, "zero_point", np.asarray(self.zero_point, dtype=np.float64))
        if self.bits == 1 and self.signed:
            object.__setattr__(self, "bipolar", True)

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def code_min(self) -> int:
        """Smallest code (after zero-point removal) this quantiser can emit."""
        if self.bipolar:
            return -1
        zp = int(np.max(self.zero_point))
        return self._q_min - zp

    @property
    def code_max(self) -> int:
        if self.bipolar:
            return 1
        zp = int(np.min(self.zero_point))
        return self._q_max - zp

    @property
    def levels(self) -> int:
        return 2 if self.bipolar else self._q_max - self._q_min + 1

    @property
    def _q_min(self) -> int:
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def _q_max(self) -> int:
        if self.signed:
            return 2 ** (self.bits - 1) - 1
        return 2**self.bits - 1 - (1 if self.narrow else 0)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Float values -> int64 codes (zero point removed), as QONNX Quant computes them."""
        y = np.asarray(values, dtype=np.float64) / self.scale + self.zero_point
        if self.bipolar:
            return np.where(y >= 0.0, 1, -1).astype(np.int64)
        y = np.clip(y, self._q_min, self._q_max)
        return (_round(y, self.rounding) - self.zero_point).astype(np.int64)

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.float64) * self.scale

    def describe(self) -> str:
        if self.bipolar:
            return "bipolar"
        return f"{'int' if self.signed else 'uint'}{self.bits}{'n' if self.narrow else ''}"

    def to_dict(self) -> dict:
        return {
            "bits": self.bits,
            "signed": self.signed,
            "narrow": self.narrow,
            "bipolar": self.bipolar,
            "rounding": self.rounding,
            "scale": self.scale.tolist(),
            "zero_point": self.zero_point.tolist(),
        }


def make_spec(
    *,
    where: str,
    bits: float,
    signed: bool,
    narrow: bool,
    scale: np.ndarray,
    zero_point: np.ndarray,
    rounding: str = "ROUND",
    bipolar: bool = False,
) -> QuantSpec:
    """Validate QONNX quantiser parameters and build a spec; ``where`` names the node."""
    bits_int = 1 if bipolar else check_bits(float(np.asarray(bits).reshape(-1)[0]), where)
    if np.asarray(bits).size != 1:
        raise UnsupportedOpError(f"{where}: per-channel bit widths are not supported",
                                 hint="use one bit width per quantiser")
    scale = np.asarray(scale, dtype=np.float64)
    zero_point = np.asarray(zero_point, dtype=np.float64)
    if not np.all(np.isfinite(scale)) or not np.all(np.isfinite(zero_point)):
        raise NonFiniteError(f"{where}: scale or zero point contains NaN/Inf",
                             hint="fix the quantiser parameters in the exporting framework")
    if np.any(scale <= 0):
        raise UnsupportedOpError(f"{where}: quantiser scale must be > 0 (got {scale.min():g})",
                                 hint="re-export with positive scales")
    if np.any(zero_point != np.round(zero_point)):
        raise UnsupportedOpError(f"{where}: non-integer zero point is not supported",
                                 hint="use integer (usually zero) zero points")
    mode = rounding.upper()
    if mode not in ROUNDING_MODES:
        raise UnsupportedOpError(f"{where}: unknown rounding mode {rounding!r}",
                                 hint=f"use one of {', '.join(ROUNDING_MODES)}")
    return QuantSpec(bits=bits_int, signed=bool(signed), narrow=bool(narrow), scale=scale,
                     zero_point=zero_point, rounding=mode, bipolar=bipolar)
