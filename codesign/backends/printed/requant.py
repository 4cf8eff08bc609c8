"""Exact integer forms of the reference's requantisation, found per neuron.

The integer reference requantises in float64 (scale, bias, batch norm, activation, quantiser).
A bespoke circuit cannot, so each neuron's map accumulator -> output code is tabulated from the
reference itself over every reachable accumulator value and then matched by integer hardware:

* ``ShiftRequant``:  code = clip(floor((acc * M + C) / 2**s), lo, hi)  — one constant multiply
  (often a power of two, i.e. free), an adder and wiring;
* ``ThresholdRequant``: code = lo + sum_k [acc >= T_k] — comparators, for maps no line fits,
  and for maps of at most four levels (1- and 2-bit activations; one step is a linear
  threshold gate).

Both reproduce the reference exactly on the whole reachable range (checked, not assumed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.backends.printed.csd import digit_count
from codesign.errors import UnsupportedOpError
from codesign.ir.graph import DenseLayer
from codesign.ir.reference import requantize

MAX_TABULATED = 1 << 24  # accumulator values per neuron tabulated from the reference
MAX_SHIFT = 30
MAX_COMPARATOR_LEVELS = 3  # maps with at most this many steps become comparators


@dataclass(frozen=True)
class ShiftRequant:
    """clip(floor((acc*M + C) / 2**s)), or with ``half_even`` the shift rounds ties to even
    (v = acc*M + C; (v + bit s of v) >> s, C holding 2**(s-1) - 1): the rounding of
    power-of-two requantisation in QONNX / Brevitas, which no floor of a line reproduces."""

    multiplier: int
    offset: int
    shift: int
    low: int
    high: int
    half_even: bool = False

    def apply(self, acc: np.ndarray) -> np.ndarray:
        value = acc * self.multiplier + self.offset
        if self.half_even:
            value = value + ((value >> self.shift) & 1)
        return np.clip(value >> self.shift, self.low, self.high)


@dataclass(frozen=True)
class ThresholdRequant:
    thresholds: tuple[int, ...]  # code = low + number of thresholds reached
    low: int

    @property
    def high(self) -> int:
        return self.low + len(self.thresholds)

    def apply(self, acc: np.ndarray) -> np.ndarray:
        out = np.full(acc.shape, self.low, dtype=np.int64)
        for threshold in self.thresholds:
            out += acc >= threshold
        return out


Requant = ShiftRequant | ThresholdRequant


def tabulate(layer: DenseLayer, neuron: int, acc_low: int, acc_high: int, *, gain: int = 1,
             offset: int = 0) -> np.ndarray:
    """Reference output codes of one neuron for every circuit accumulator value in
    [acc_low, acc_high]; the reference accumulator is ``gain * acc + offset`` (the circuit sums
    wires that encode the input codes affinely, e.g. one bit h for a bipolar code 2h - 1).
    Bipolar outputs are returned as the bit the circuit carries, (code + 1) / 2."""
    count = acc_high - acc_low + 1
    if count > MAX_TABULATED:
        raise UnsupportedOpError(
            f"{layer.name}: accumulator range of neuron {neuron} spans {count} values, too wide for a bespoke printed circuit",
            hint="use fewer input or weight bits, or a smaller layer")
    acc = np.arange(acc_low, acc_high + 1, dtype=np.int64)
    grid = np.zeros((count, layer.out_features), dtype=np.int64)
    grid[:, neuron] = acc * gain + offset
    codes = layer.output_quant.quantize(requantize(layer, grid))[:, neuron]
    return (codes + 1) // 2 if layer.output_quant.bipolar else codes


def fit(codes: np.ndarray, acc_low: int) -> tuple[Requant, bool]:
    """An exact integer form for a tabulated map; returns (form, negate) where ``negate`` means
    the map is non-increasing and the neuron's weights must be negated first."""
    steps = np.diff(codes)
    negate = bool(np.any(steps < 0))
    if negate:
        if np.any(steps > 0):
            raise UnsupportedOpError("requantisation is not monotone in the accumulator",
                                     hint="printed circuits need monotone activations (ReLU, clip, affine)")
        codes, acc_low = codes[::-1], -(acc_low + len(codes) - 1)
    low, high = int(codes[0]), int(codes[-1])
    if low == high:
        return ShiftRequant(0, low, 0, low, high), negate
    # first accumulator of each level present, and the last accumulator of each level
    change = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [len(codes) - 1]])
    levels = codes[starts]
    if high - low <= MAX_COMPARATOR_LEVELS:
        # up to 2 output bits: comparators against constants on the shared accumulator are
        # smaller than a constant multiply, shift and clip (measured 18 % less area on a Cardio
        # 21-4-3 ternary network with 2-bit activations); one step is a linear threshold gate
        return ThresholdRequant(tuple(int(acc_low + start) for start in starts[1:]
                                      for _ in range(int(codes[start] - codes[start - 1]))), low), negate
    form = _fit_line(acc_low + starts, acc_low + ends, levels, low, high)
    if form is None:
        form = _fit_half_even_shift(codes, acc_low, low, high, acc_low + starts)
    if form is None:
        form = ThresholdRequant(tuple(int(acc_low + start) for start in starts[1:]
                                      for _ in range(int(codes[start] - codes[start - 1]))), low)
    return form, negate


def _fit_line(starts: np.ndarray, ends: np.ndarray, levels: np.ndarray, low: int, high: int) -> ShiftRequant | None:
    """Smallest shift s (preferring cheap multipliers) with integer M, C such that
    floor((a*M + C) / 2**s), clipped to [low, high], equals the level on every segment."""
    # constraints: C >= lv*2^s - a*M at each level's first accumulator (levels above low) and
    #              C < (lv+1)*2^s - a*M at each level's last accumulator (levels below high)
    lower_a, lower_lv = starts[levels > low].astype(np.int64), levels[levels > low].astype(np.int64)
    upper_a, upper_lv = ends[levels < high].astype(np.int64), levels[levels < high].astype(np.int64)
    span = upper_a[None, :] - lower_a[:, None]
    level_gap = upper_lv[None, :] + 1 - lower_lv[:, None]
    best = None
    for shift in range(MAX_SHIFT + 1):
        room = level_gap * (1 << shift) - 1  # M * span <= room for every (start, end) pair
        if np.any(room[span == 0] < 0):
            continue
        positive, negative = span > 0, span < 0
        m_high = int(np.min(room[positive] // span[positive])) if positive.any() else 1 << 40
        m_low = int(np.max(-(room[negative] // -span[negative]))) if negative.any() else 0
        m_low = max(m_low, 0)
        if m_low > m_high:
            continue
        multiplier = _cheapest_in(m_low, m_high)
        offset = max(int(lv) * (1 << shift) - int(a) * multiplier for a, lv in zip(lower_a, lower_lv, strict=True))
        if not all(offset < (int(lv) + 1) * (1 << shift) - int(a) * multiplier
                   for a, lv in zip(upper_a, upper_lv, strict=True)):
            continue
        candidate = ShiftRequant(multiplier, offset, shift, low, high)
        cost = (digit_count(multiplier), shift)
        if best is None or cost < best[0]:
            best = (cost, candidate)
        if digit_count(multiplier) <= 1 or shift > best[1].shift + 6:
            break
    return None if best is None else best[1]


def _fit_half_even_shift(codes: np.ndarray, acc_low: int, low: int, high: int,
                         starts: np.ndarray) -> ShiftRequant | None:
    """A pure shift with ties to even (M = 1): checked against the whole table."""
    if len(starts) < 3:
        return None
    spacing = (starts[-1] - starts[1]) / max(len(starts) - 2, 1)
    if spacing < 1:
        return None
    acc = np.arange(acc_low, acc_low + len(codes), dtype=np.int64)
    center = int(round(np.log2(spacing)))
    for shift in (center, center - 1, center + 1):
        if shift < 1:
            continue
        # level low+1 starts at starts[1]: (starts[1] + C) / 2**s rounds up to low+1 there
        guess = int((int(codes[starts[1] - acc_low]) - 0.5) * (1 << shift)) - int(starts[1]) + (1 << (shift - 1)) - 1
        for offset in range(guess - 3, guess + 4):
            form = ShiftRequant(1, offset, shift, low, high, half_even=True)
            if np.array_equal(form.apply(acc), codes):
                return form
    return None


def _cheapest_in(low: int, high: int) -> int:
    """The integer in [low, high] with the fewest CSD digits (smallest on ties)."""
    power = 1 << max(low - 1, 0).bit_length()  # smallest power of two >= low
    if power <= high:
        return power
    return min(range(low, min(high, low + 4096) + 1), key=lambda m: (digit_count(m), m))
