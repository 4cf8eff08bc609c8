"""What the FPGA cost model reads from a dense layer: its shape, types and, per output, how many
non-zero constant products it has by number of canonical-signed-digit (CSD) digits.

hls4ml writes weights as constants, so HLS specialises every product to its weight: a zero
weight disappears, a power of two (one CSD digit) is a wire, a weight with d digits is d - 1
shift-and-add adders or, when wide enough, a DSP multiplier. These counts (not the weights
themselves) are all the estimate needs, which also lets published designs whose projects ship
their weights be kept as compact calibration points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DIGIT_CLASSES = 6  # products with 1, 2, 3, 4, 5 and >= 6 CSD digits


def csd_digits(values: np.ndarray) -> np.ndarray:
    """Non-zero digits of each integer's canonical signed-digit (non-adjacent) form."""
    x = np.abs(np.asarray(values, dtype=np.int64))
    digits = np.zeros_like(x)
    while np.any(x):
        odd = (x & 1) == 1
        digit = np.where(odd, 2 - (x & 3), 0)  # +1 or -1 on odd positions (NAF)
        digits += odd
        x = (x - digit) >> 1
    return digits


def digit_rows(codes: np.ndarray) -> np.ndarray:
    """(n_out, DIGIT_CLASSES) counts of non-zero products per output with 1, 2, ... and >= DIGIT_CLASSES CSD digits."""
    digits = csd_digits(codes)
    return np.stack([((digits == d) if d < DIGIT_CLASSES else (digits >= d)).sum(axis=1)
                     for d in range(1, DIGIT_CLASSES + 1)], axis=1).astype(np.int64)


@dataclass(frozen=True)
class LayerStats:
    """One hls4ml Dense layer as the cost model sees it (widths in bits, counts per output)."""

    name: str
    n_in: int
    n_out: int
    weight_bits: int  # the weight type's width
    input_bits: int  # the layer input's width
    accum_bits: int  # hls4ml accum_t width (every add of the tree is at most this wide)
    output_bits: int  # the layer's result / activation output width
    relu: bool
    requantise: bool  # result narrower than the accumulator: rounding / saturation logic
    rows: np.ndarray  # (n_out, DIGIT_CLASSES) products with 1, 2, ..., >= DIGIT_CLASSES CSD digits
    max_code: int  # largest |weight code|: the constant's magnitude bits

    @property
    def terms(self) -> np.ndarray:
        """Non-zero products per output: the leaves of each output's adder tree."""
        return self.rows.sum(axis=1)

    @property
    def magnitude_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.max_code + 1)))

    @classmethod
    def from_codes(cls, name: str, codes: np.ndarray, *, weight_bits: int, input_bits: int, accum_bits: int | None,
                   output_bits: int, relu: bool, requantise: bool | None = None) -> LayerStats:
        """``codes`` is the (n_out, n_in) integer weight matrix; ``accum_bits`` None means the exact
        width of the sum (what codesign's derived types give)."""
        codes = np.asarray(codes, dtype=np.int64)
        n_out, n_in = codes.shape
        max_code = int(np.abs(codes).max(initial=0))
        if accum_bits is None:
            bound = np.abs(codes).sum(axis=1).max(initial=1) * 2.0 ** max(0, input_bits - 1)
            accum_bits = int(math.ceil(math.log2(bound + 1))) + 1
        if requantise is None:
            requantise = output_bits < accum_bits
        return cls(name=name, n_in=n_in, n_out=n_out, weight_bits=int(weight_bits), input_bits=int(input_bits),
                   accum_bits=int(accum_bits), output_bits=int(output_bits), relu=bool(relu),
                   requantise=bool(requantise), rows=digit_rows(codes), max_code=max_code)

    @classmethod
    def from_record(cls, name: str, n_in: int, n_out: int, record: dict) -> LayerStats:
        """A calibration point's stored statistics (benchmarks/data/hls4ml_synthesis_points.json)."""
        rows = np.asarray(record["digit_rows"], dtype=np.int64).reshape(n_out, DIGIT_CLASSES)
        output_bits = int(record["output_bits"])
        return cls(name=name, n_in=n_in, n_out=n_out, weight_bits=int(record["weight_bits"]),
                   input_bits=int(record["input_bits"]), accum_bits=int(record["accum_bits"]),
                   output_bits=output_bits, relu=bool(record["relu"]),
                   requantise=bool(record.get("requantise", output_bits < int(record["accum_bits"]))),
                   rows=rows, max_code=int(record["max_code"]))
