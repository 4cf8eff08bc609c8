"""Apply a NoiseModel to integer weight codes (torch, differentiable where it can be).

The same functions serve fault-aware training (float32, gradients flow straight through the
discrete faults) and Monte-Carlo evaluation (float64, one seeded generator per chip instance,
layer and component, so a fault map is a pure function of (seed, instance)).
"""

from __future__ import annotations

import hashlib

import torch

from codesign.noise.models import BitStuckAt, NoiseModel


def generator(seed: int, instance: int, layer: int, stream: str) -> torch.Generator:
    """Independent, reproducible random stream for one (seed, chip instance, layer, component)."""
    key = hashlib.sha256(f"{seed}/{instance}/{layer}/{stream}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(key[:8], "little") & (2**63 - 1))


def weight_range(bits: int, signed: bool, bipolar: bool, narrow: bool) -> int:
    """Largest |code| a weight quantiser emits: the code stored at Gmax."""
    if bipolar:
        return 1
    if not signed:
        return 2**bits - 1 - int(narrow)
    return 2 ** (bits - 1) - int(narrow)


def _encode(codes: torch.Tensor, bits: int, encoding: str) -> torch.Tensor:
    if encoding == "twos_complement":
        return codes % (1 << bits)
    if encoding == "sign_magnitude":
        return torch.where(codes < 0, (1 << (bits - 1)) | (-codes), codes)
    return codes + (1 << (bits - 1))  # offset binary


def _decode(words: torch.Tensor, bits: int, encoding: str) -> torch.Tensor:
    if encoding == "twos_complement":
        return torch.where(words >= (1 << (bits - 1)), words - (1 << bits), words)
    if encoding == "sign_magnitude":
        magnitude = words & ((1 << (bits - 1)) - 1)
        return torch.where(words >= (1 << (bits - 1)), -magnitude, magnitude)
    return words - (1 << (bits - 1))


def stuck_bits(codes: torch.Tensor, bits: int, spec: BitStuckAt, gen: torch.Generator, *,
               signed: bool = True, bipolar: bool = False) -> torch.Tensor:
    """Integer codes with each stored bit stuck at 0 / 1 with probability spec.rate."""
    codes = codes.to(torch.int64)
    if spec.rate == 0:
        return codes
    width = 1 if bipolar else bits
    faulty = torch.rand(codes.shape + (width,), generator=gen) < spec.rate
    to_one = torch.rand(codes.shape + (width,), generator=gen) < spec.sa1_fraction
    weights = 1 << torch.arange(width, dtype=torch.int64)
    set_mask = ((faulty & to_one).to(torch.int64) * weights).sum(-1)
    clear_mask = ((faulty & ~to_one).to(torch.int64) * weights).sum(-1)
    if bipolar:
        words = (codes > 0).to(torch.int64)
        words = (words | set_mask) & ~clear_mask
        return words * 2 - 1
    encoding = spec.encoding if signed else "unsigned"
    words = codes if encoding == "unsigned" else _encode(codes, bits, encoding)
    words = (words | set_mask) & ~clear_mask
    return words if encoding == "unsigned" else _decode(words, bits, encoding)


def device_weights(codes: torch.Tensor, w_max: int, model: NoiseModel, gens: dict[str, torch.Generator]) -> torch.Tensor:
    """Codes -> differential conductance pair -> stuck cells, programming noise, variability,
    drift -> effective (real-valued) codes."""
    if model.device_is_ideal:
        return codes
    cells = torch.stack([torch.relu(codes), torch.relu(-codes)]) / w_max  # (2, ...) in [0, 1]
    faults = model.device_faults
    if faults.gmin_rate or faults.gmax_rate:
        draw = torch.rand(cells.shape, generator=gens["stuck"], dtype=cells.dtype)
        cells = torch.where(draw < faults.gmin_rate, torch.zeros_like(cells), cells)
        cells = torch.where((draw >= faults.gmin_rate) & (draw < faults.gmin_rate + faults.gmax_rate),
                            torch.ones_like(cells), cells)
    if model.programming.sigma:
        noise = torch.randn(cells.shape, generator=gens["programming"], dtype=cells.dtype)
        cells = torch.clamp(cells + model.programming.sigma * noise, min=0.0)
    if model.variability.sigma:
        spread = torch.randn(cells.shape, generator=gens["variability"], dtype=cells.dtype)
        cells = cells * torch.exp(model.variability.sigma * spread)
    drift = model.drift
    if (drift.nu or drift.nu_sigma) and drift.time_s > drift.t0_s:
        nu = drift.nu + drift.nu_sigma * torch.randn(cells.shape, generator=gens["drift"], dtype=cells.dtype)
        cells = cells * (drift.time_s / drift.t0_s) ** (-nu)
    return (cells[0] - cells[1]) * w_max


def perturb(codes: torch.Tensor, *, bits: int, w_max: int, model: NoiseModel, gens: dict[str, torch.Generator],
            signed: bool = True, bipolar: bool = False) -> torch.Tensor:
    """All static non-idealities of one chip on one layer's codes (float tensor out).

    Discrete faults pass gradients straight through (STE), so training sees them.
    """
    result = codes
    if model.bit_faults.rate:
        faulty = stuck_bits(torch.round(codes.detach()), bits, model.bit_faults, gens["bits"],
                            signed=signed, bipolar=bipolar).to(codes.dtype)
        result = codes + (faulty - codes.detach()) if codes.requires_grad else faulty
    return device_weights(result, w_max, model, gens)


STREAMS = ("bits", "stuck", "programming", "variability", "drift", "read")


def instance_generators(seed: int, instance: int, layer: int) -> dict[str, torch.Generator]:
    return {stream: generator(seed, instance, layer, stream) for stream in STREAMS}


def read_noise(accumulator: torch.Tensor, inputs: torch.Tensor, sigma: float, w_max: int,
               gen: torch.Generator) -> torch.Tensor:
    """Add per-inference read noise on a column sum: each of the two cells per weight carries
    N(0, sigma * w_max) in code units, so the sum has std sigma * w_max * sqrt(2 * sum x^2)."""
    if sigma == 0:
        return accumulator
    power = 2.0 * (inputs.to(accumulator.dtype) ** 2).sum(-1, keepdim=True)
    # an all-zero input row (dead ReLUs) has no noise; the clamp keeps sqrt's gradient finite there
    std = sigma * w_max * torch.sqrt(power.clamp_min(1e-12)) * (power > 0)
    return accumulator + std * torch.randn(accumulator.shape, generator=gen, dtype=accumulator.dtype)
