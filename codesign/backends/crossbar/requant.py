"""Between-layer requantisation in torch, mirroring ``codesign.ir.reference`` operation by
operation so that float64 results are bit-identical to the reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from codesign.ir.graph import DenseLayer
from codesign.ir.ops import Affine, Clip, FakeQuant, LeakyRelu, Relu, Sigmoid, Tanh
from codesign.ir.quantspec import QuantSpec


def _tensor(values, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float64).to(dtype)


def _round(values: torch.Tensor, mode: str) -> torch.Tensor:
    """``values`` (a temporary: rounded in place where torch can) to integers by ``mode``."""
    if mode in ("ROUND", "HALF_EVEN"):
        return values.round_()
    if mode == "CEIL":
        return torch.ceil(values)
    if mode == "FLOOR":
        return torch.floor(values)
    if mode == "UP":
        return torch.sign(values) * torch.ceil(values.abs())
    if mode == "DOWN":
        return torch.trunc(values)
    if mode == "HALF_UP":
        return torch.sign(values) * torch.floor(values.abs() + 0.5)
    return torch.sign(values) * torch.ceil(values.abs() - 0.5)


def quantize(spec: QuantSpec, values: torch.Tensor) -> torch.Tensor:
    """QuantSpec.quantize in torch (codes as floats of the same dtype)."""
    zero_point = _tensor(spec.zero_point, values.dtype)
    y = (values / _tensor(spec.scale, values.dtype)).add_(zero_point)  # in place: one pass less over memory
    if spec.bipolar:
        return torch.where(y >= 0.0, 1.0, -1.0).to(values.dtype)
    y.clamp_(spec._q_min, spec._q_max)
    return _round(y, spec.rounding).sub_(zero_point)


def dequantize(spec: QuantSpec, codes: torch.Tensor) -> torch.Tensor:
    return codes * _tensor(spec.scale, codes.dtype)


def apply_op(op, values: torch.Tensor) -> torch.Tensor:
    if isinstance(op, Affine):
        return values * _tensor(op.mul, values.dtype) + _tensor(op.add, values.dtype)
    if isinstance(op, Relu):
        return torch.clamp(values, min=0.0)
    if isinstance(op, Clip):
        return torch.clamp(values, op.low, op.high)
    if isinstance(op, Sigmoid):
        return 1.0 / (1.0 + torch.exp(-values))  # the reference's formula, for identical rounding
    if isinstance(op, Tanh):
        return torch.tanh(values)
    if isinstance(op, LeakyRelu):
        return torch.where(values >= 0, values, values * op.alpha)
    if isinstance(op, FakeQuant):
        return dequantize(op.spec, quantize(op.spec, values))
    raise TypeError(f"unsupported element-wise op {op!r}")


def requantize(layer: DenseLayer, accumulator: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Accumulator -> (real value, output codes or None), in the accumulator's dtype."""
    value = accumulator * _tensor(layer.acc_scale, accumulator.dtype)
    if layer.bias is not None:
        value = value + _tensor(layer.bias, accumulator.dtype)
    for op in layer.post:
        value = apply_op(op, value)
    if layer.output_quant is None:
        return value, None
    codes = quantize(layer.output_quant, value)
    return dequantize(layer.output_quant, codes), codes


def folded_requantizer(layer: DenseLayer, dtype: torch.dtype) -> FoldedRequantizer | None:
    """accumulator -> output codes in three passes (multiply-add, round, clamp), or None when the
    layer's ops cannot be folded that way.  Folding reorders float operations, so it is used only
    where results are stochastic anyway (it can differ from the reference at exact ties)."""
    spec = layer.output_quant
    if spec is None or spec.bipolar or spec.rounding not in ("ROUND", "HALF_EVEN") or spec.zero_point.size > 1:
        return None
    mul = np.ones(layer.out_features)
    add = np.zeros(layer.out_features) if layer.bias is None else np.asarray(layer.bias, dtype=np.float64).copy()
    low, high = -np.inf, np.inf
    for position, op in enumerate(layer.post):
        if isinstance(op, Affine):
            mul, add = mul * op.mul, add * op.mul + op.add
        elif isinstance(op, Relu | Clip) and position == len(layer.post) - 1:
            low, high = (0.0, np.inf) if isinstance(op, Relu) else (op.low, op.high)
        else:
            return None
    scale = spec.scale.reshape(-1)
    zero_point = float(spec.zero_point.reshape(-1)[0])
    code_low, code_high = float(spec._q_min), float(spec._q_max)
    for bound, pick in ((low, max), (high, min)):
        if np.isfinite(bound):
            levels = bound / scale + zero_point
            level = float(levels[0])
            if np.any(levels != level) or level != round(level):
                return None
            if pick is max:
                code_low = max(code_low, level)
            else:
                code_high = min(code_high, level)
    out = layer.out_features
    gain = torch.as_tensor(np.broadcast_to(layer.acc_scale * mul / scale, (out,)).copy(), dtype=dtype)
    offset = torch.as_tensor(np.broadcast_to(add / scale + zero_point, (out,)).copy(), dtype=dtype)
    return FoldedRequantizer(gain, offset, code_low, code_high, zero_point)


@dataclass(frozen=True, eq=False)
class FoldedRequantizer:
    """codes = clamp(round(acc * gain + offset), low, high) - zero_point, per output column."""

    gain: torch.Tensor  # (out,)
    offset: torch.Tensor  # (out,)
    low: float
    high: float
    zero_point: float

    def __call__(self, accumulator: torch.Tensor) -> torch.Tensor:
        gain, offset = self.gain.to(accumulator.device), self.offset.to(accumulator.device)
        codes = (accumulator * gain).add_(offset).round_().clamp_(self.low, self.high)  # no fused multiply-add
        return codes.sub_(self.zero_point) if self.zero_point else codes
