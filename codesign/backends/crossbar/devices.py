"""What one fabricated chip instance actually stores: programmed cell levels -> real conductances.

Conductances are handled in *level units*: a cell at level ``l`` has g = g_min + l * step with
step = (g_max - g_min) / (2**bits_per_cell - 1), i.e. u = g / step = r + l with r = g_min / step.
Noise sigmas from the card are fractions of (g_max - g_min), so in level units they are
multiplied by the number of level steps.  The known g_min baseline (r per cell times the input)
is subtracted digitally, so the simulator works with ``u - r``: exactly the level when ideal.
"""

from __future__ import annotations

import torch

from codesign.noise.models import NoiseModel
from codesign.noise.perturb import stuck_bits
from codesign.quant.fixed_random import SwitchingDistribution

from .mapping import LayerMapping, stored_levels


def level_offset(g_min: float, g_max: float, level_max: int) -> float:
    """r = g_min / step: the Gmin floor in level units."""
    return g_min / ((g_max - g_min) / level_max)


def ir_drop_factors(mapping: LayerMapping, g_max: float, wire_resistance: float) -> torch.Tensor:
    """First-order IR drop: each cell sees the wire resistance between its driver and the
    column's sense amplifier in series, g_eff = g / (1 + g * R_path); returns R_path * g_max per
    cell, shape (polarities, slices, out, in), to be scaled by the cell's g / g_max.

    Rows are driven from the left (word-line segments up to the cell's column), columns are
    sensed at the bottom (bit-line segments from the cell's row down), cells placed by the
    mapping order (input r -> row r mod rows, output/slice/polarity -> column).
    """
    polarities = 2 if mapping.scheme == "differential" else 1
    per_tile = mapping.cols // mapping.columns_per_weight * mapping.columns_per_weight
    out_index = torch.arange(mapping.out_features).view(1, 1, -1, 1)
    slice_index = torch.arange(mapping.slices).view(1, -1, 1, 1)
    polarity_index = torch.arange(polarities).view(-1, 1, 1, 1)
    flat_column = (out_index * mapping.slices + slice_index) * polarities + polarity_index
    column = flat_column % per_tile
    row = torch.arange(mapping.in_features).view(1, 1, 1, -1) % mapping.rows
    segments = (column + 1) + (mapping.rows - row)
    return (segments * wire_resistance * g_max).to(torch.float64)


def program(levels: torch.Tensor, weight_codes: torch.Tensor, mapping: LayerMapping, noise: NoiseModel,
            gens: dict[str, torch.Generator], *, r: float, weight_bits: int, weight_signed: bool,
            weight_bipolar: bool, ir_drop: torch.Tensor | None, dtype: torch.dtype,
            programming_normals=None) -> torch.Tensor:
    """Effective levels u - r of one chip instance, shape (polarities, slices, out, in);
    ``programming_normals(shape)``: standard normals of the programming noise (default: the
    instance's torch generator)."""
    level_max = mapping.level_max
    if noise.bit_faults.rate:
        faulty = stuck_bits(weight_codes, weight_bits, noise.bit_faults, gens["bits"], signed=weight_signed,
                            bipolar=weight_bipolar)
        levels = torch.as_tensor(stored_levels(faulty.numpy(), mapping))
    u = levels.to(dtype) + r
    faults = noise.device_faults
    if faults.gmin_rate or faults.gmax_rate:
        draw = torch.rand(u.shape, generator=gens["stuck"], dtype=dtype)
        u = torch.where(draw < faults.gmin_rate, torch.full_like(u, r), u)
        stuck_high = (draw >= faults.gmin_rate) & (draw < faults.gmin_rate + faults.gmax_rate)
        u = torch.where(stuck_high, torch.full_like(u, r + level_max), u)
    if noise.programming.sigma:
        z = programming_normals(u.shape) if programming_normals is not None else \
            torch.randn(u.shape, generator=gens["programming"], dtype=dtype)
        u = u + noise.programming.sigma * level_max * z.to(dtype)
        u = torch.clamp(u, min=r)
    return _after_programming(u, noise, gens, r=r, level_max=level_max, ir_drop=ir_drop, dtype=dtype)


def sample_switching(mapping: LayerMapping, distribution: SwitchingDistribution, noise: NoiseModel,
                     gens: dict[str, torch.Generator], *, r: float, ir_drop: torch.Tensor | None,
                     dtype: torch.dtype) -> torch.Tensor:
    """A fixed-random layer: one un-verified SET pulse per cell, ON with p_set at a log-normal
    conductance around g_max, else at g_min; no programming noise (nothing is verified)."""
    level_max = mapping.level_max
    shape = (2 if mapping.scheme == "differential" else 1, 1, mapping.out_features, mapping.in_features)
    on = torch.rand(shape, generator=gens["programming"], dtype=dtype) < distribution.p_set
    spread = torch.exp(distribution.sigma * torch.randn(shape, generator=gens["programming"], dtype=dtype))
    u = torch.where(on, (r + level_max) * spread, torch.full(shape, r, dtype=dtype))
    return _after_programming(u, noise, gens, r=r, level_max=level_max, ir_drop=ir_drop, dtype=dtype)


def _after_programming(u: torch.Tensor, noise: NoiseModel, gens: dict[str, torch.Generator], *, r: float,
                       level_max: int, ir_drop: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    if noise.variability.sigma:
        u = u * torch.exp(noise.variability.sigma * torch.randn(u.shape, generator=gens["variability"], dtype=dtype))
    drift = noise.drift
    if (drift.nu or drift.nu_sigma) and drift.time_s > drift.t0_s:
        nu = drift.nu + drift.nu_sigma * torch.randn(u.shape, generator=gens["drift"], dtype=dtype)
        u = u * (drift.time_s / drift.t0_s) ** (-nu)
    if ir_drop is not None:
        u = u / (1.0 + u / (r + level_max) * ir_drop.to(dtype))
    return u - r
