"""DAC and ADC models: how integer inputs become word-line drives and column currents become codes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .mapping import LayerMapping


def input_digits(codes: torch.Tensor, mapping: LayerMapping) -> list[torch.Tensor]:
    """Split integer input codes into the DAC's chunks, least significant first, so that
    codes == sum(digit_i * 2**(dac_bits * i)).  Chunks are unsigned except the top one of a
    signed input, which carries the two's-complement sign (a negative drive voltage)."""
    bits, width = mapping.input_bits, mapping.dac_bits
    if mapping.input_cycles == 1:
        return [codes]
    words = torch.remainder(codes, 2**bits) if mapping.input_signed else codes
    digits = []
    for index in range(mapping.input_cycles):
        shift = width * index
        chunk_bits = min(width, bits - shift)
        digit = torch.remainder(torch.div(words, 2**shift, rounding_mode="floor"), 2**chunk_bits)
        if mapping.input_signed and index == mapping.input_cycles - 1:
            digit = torch.where(digit >= 2 ** (chunk_bits - 1), digit - 2**chunk_bits, digit)
        digits.append(digit)
    return digits


def digit_bound(mapping: LayerMapping) -> int:
    """Largest |digit| a DAC chunk can carry."""
    if mapping.input_cycles == 1:
        return 2 ** (mapping.input_bits - 1) if mapping.input_signed else 2**mapping.input_bits - 1
    return 2**mapping.dac_bits - 1


@dataclass(frozen=True)
class AdcModel:
    """A uniform ADC over [-full_scale, full_scale] (signed) or [0, full_scale], in level units.

    ``lossless`` when every integer column sum in range has its own code: then conversion is
    the identity on exact (noise-free) sums.
    """

    bits: int
    full_scale: float
    signed: bool
    ideal: bool = False

    @property
    def span(self) -> float:
        return 2 * self.full_scale if self.signed else self.full_scale

    @property
    def lossless(self) -> bool:
        return self.ideal or (self.span + 1 <= 2**self.bits and self.full_scale == math.floor(self.full_scale))

    @property
    def step(self) -> float:
        return 1.0 if self.lossless else self.span / (2**self.bits - 1)

    @property
    def code_range(self) -> tuple[int, int]:
        high = math.floor(self.full_scale / self.step)
        return (-high if self.signed else 0), high

    def digitize_(self, scaled_sums: torch.Tensor) -> torch.Tensor:
        """ADC codes, in place, of column sums already divided by ``step`` (the simulator folds
        1/step into the tile weights); the value of a code is ``code * step``."""
        if self.ideal:
            return scaled_sums
        low, high = self.code_range
        return scaled_sums.round_().clamp_(low, high)


def adc_for(mapping: LayerMapping, rows_in_tile: int, bits: int, *, full_scale_fraction: float = 1.0,
            ideal: bool = False) -> AdcModel:
    """The ADC of one row tile: full scale = the largest column sum it can see, times a fraction
    (a smaller range clips rare large sums but resolves common ones finer)."""
    worst = digit_bound(mapping) * mapping.cell_code_max * rows_in_tile  # in weight-code units
    signed = mapping.scheme == "differential" or mapping.input_signed
    full_scale = worst * full_scale_fraction
    if full_scale_fraction == 1.0:
        full_scale = float(worst)
    return AdcModel(bits=bits, full_scale=full_scale, signed=signed, ideal=ideal)
