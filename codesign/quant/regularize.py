"""Regularisation that pulls weights away from fault-sensitive values.

For a stored code c, E[(c_faulty - c)^2] under the bit-fault model depends on c's bit pattern
(e.g. with mostly stuck-at-0 faults, codes with few 1-bits lose little). The penalty evaluates
that expectation on the continuous pre-quantisation weights (linear between codes, so it has
a gradient) and adds the variability term sigma^2 c^2 of multiplicative device spread.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from codesign.noise.models import BitStuckAt, NoiseModel
from codesign.noise.perturb import stuck_bits

TABLE_SAMPLES = 4096


@lru_cache(maxsize=64)
def fault_error_table(bits: int, spec: BitStuckAt, signed: bool, bipolar: bool) -> torch.Tensor:
    """E[(faulty - c)^2] for every code c from the smallest to the largest, estimated once with a
    fixed generator (so the penalty is deterministic)."""
    if bipolar:
        codes = torch.tensor([-1, 1])
    elif signed:
        codes = torch.arange(-(2 ** (bits - 1)), 2 ** (bits - 1))
    else:
        codes = torch.arange(0, 2**bits)
    gen = torch.Generator().manual_seed(0)
    samples = codes.repeat(TABLE_SAMPLES, 1)
    faulty = stuck_bits(samples, bits, spec, gen, signed=signed, bipolar=bipolar)
    return ((faulty - samples).double() ** 2).mean(0).float()


def _interpolate(table: torch.Tensor, codes: torch.Tensor, lowest: int) -> torch.Tensor:
    position = torch.clamp(codes - lowest, 0, len(table) - 1)
    index = torch.clamp(position.floor().long(), max=len(table) - 2) if len(table) > 1 else position.long()
    if len(table) == 1:
        return table[index]
    frac = position - index
    return table[index] * (1 - frac) + table[index + 1] * frac


def robustness_penalty(model, noise: NoiseModel) -> torch.Tensor:
    """Mean expected squared weight error (in units of the weight range) over trainable layers."""
    from codesign.quant.noisy import noisy_layers

    total = torch.zeros(())
    layers = [layer for layer in noisy_layers(model) if not layer.fixed_random]
    for layer in layers:
        quant = layer.quant_weight()
        bits, w_max, signed, bipolar = layer.weight_code_range(quant)
        scale = quant.scale.detach()
        codes = layer.weight / scale
        term = torch.zeros(())
        if noise.bit_faults.rate:
            table = fault_error_table(bits, noise.bit_faults, signed, bipolar)
            lowest = -1 if bipolar else (-(2 ** (bits - 1)) if signed else 0)
            term = term + _interpolate(table, codes, lowest).mean()
        if noise.variability.sigma:
            term = term + (noise.variability.sigma**2) * (codes**2).mean()
        total = total + term / (w_max**2)
    return total / max(len(layers), 1)
