"""A fast area proxy of a bespoke design that knows what synthesis will remove.

Searches score thousands of designs per second, so they cannot synthesise each one. This proxy
counts the bits that become logic, after the simplifications yosys performs anyway:

* a neuron whose output cannot change over its reachable input range (a threshold outside the
  accumulator range, all weights pruned) is a constant: no logic, and its consumers see a
  constant input that folds into their thresholds;
* an input read by no live neuron needs no wire, no logic and no converter;
* adder trees cost the operand bits beyond the first operand of each tree (about one full adder
  per bit), comparators and the argmax cost their operand widths;
* a design that reads only a few input bits (e.g. two 1-bit converter outputs) is a small Boolean
  function of them whatever its structure: the mapper implements each class-index bit from its
  truth table (a constant or a wire costs nothing), so its cost is at most that of a gate network
  of that many inputs (``small_support_mm2``), usually far below the structural count.

The weights of the terms come from synthesised EGFET designs (``calibration`` below: a linear fit
of mapped area on these counts); the proxy ranks designs, reported areas always come from
synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.backends.printed.csd import digit_count
from codesign.backends.printed.design import Design, Neuron, evaluate, partial_sum_range, width_of
from codesign.backends.printed.requant import ShiftRequant, ThresholdRequant

# mm^2 per counted bit on the egfet-1v card (yosys + ABC -fast): non-negative least squares on 45
# synthesised designs of a Cardio co-design search (ternary, binary and 3-bit weights, 1- to 4-bit
# inputs, threshold gates and 2-bit activations; 0.2-16 cm^2): median relative error 8 %, Spearman
# rank correlation 0.99. Three-class designs leave the argmax weight unidentified (the fit puts it
# at 0); it is set to one comparator-and-multiplexer bit, about a full adder.
ADDER_BIT_MM2 = 3.2
COMPARE_BIT_MM2 = 4.5
ARGMAX_BIT_MM2 = 3.2
# designs reading at most SMALL_SUPPORT_BITS input bits are costed from their truth tables: per
# class-index bit that is not a constant or a (possibly inverted) input bit, about max(1, 2^k/k - 1)
# two-input gates of GATE_MM2 (the mean area of the card's 2-input cells, NAND2 .. XOR2)
SMALL_SUPPORT_BITS = 8
GATE_MM2 = 0.5


@dataclass(frozen=True)
class ProxyBreakdown:
    adder_bits: int  # operand bits entering adder trees, beyond each tree's first operand
    compare_bits: int  # operand bits of threshold comparisons, requantisation and subtraction
    argmax_bits: int  # operand bits of the argmax comparator tree
    live_inputs: tuple[int, ...]  # indices of the inputs some live neuron reads
    live_neurons: tuple[int, ...]  # per layer: neurons that are not constant

    @property
    def area_mm2(self) -> float:
        return (ADDER_BIT_MM2 * self.adder_bits + COMPARE_BIT_MM2 * self.compare_bits
                + ARGMAX_BIT_MM2 * self.argmax_bits)


def _bits(low: int, high: int) -> int:
    """Bits that can toggle for values in [low, high] (0 for a constant)."""
    return 0 if low == high else width_of(min(low, 0), high) if low >= 0 else width_of(low, high)


def _term_bits(low: int, high: int, shift: int, truncation: int) -> int:
    """Toggling bits of one partial product x << shift with the bits below ``truncation`` dropped."""
    if low == high:
        return 0
    dropped = max(truncation - shift, 0)
    return max(_bits(low, high) - dropped, 0)


def _apply(neuron: Neuron, acc: int) -> int:
    return int(neuron.requant.apply(np.array([acc], dtype=np.int64))[0])


def _live_terms(neuron: Neuron, low: np.ndarray, high: np.ndarray) -> list[tuple[int, int, int]]:
    return [(i, shift, sign) for i, shift, sign in neuron.terms() if low[i] != high[i]]


def _tree_bits(neuron: Neuron, terms, low: np.ndarray, high: np.ndarray, sign: int) -> int:
    widths = sorted((_term_bits(int(low[i]), int(high[i]), shift, neuron.truncation)
                     for i, shift, s in terms if s == sign), reverse=True)
    return sum(widths[1:])


def breakdown(design: Design) -> ProxyBreakdown:
    """Forward: value ranges, constant neurons and per-neuron costs; backward: which neurons
    some live consumer reads (the argmax reads every non-constant logit)."""
    low = np.full(design.in_features, design.input_low, dtype=np.int64)
    high = np.full(design.in_features, design.input_high, dtype=np.int64)
    layers = []  # per layer: {neuron: (adder, compare, reads, logit_bits)} of non-constant neurons
    for index, layer in enumerate(design.layers):
        last = index == len(design.layers) - 1
        out_low, out_high, costs = [], [], {}
        for j, neuron in enumerate(layer.neurons):
            terms = _live_terms(neuron, low, high)
            acc_low, acc_high = _accumulator_range(neuron, low, high)
            if neuron.requant is not None:
                lo, hi = _apply(neuron, acc_low), _apply(neuron, acc_high)
                if neuron.output_drop:
                    lo, hi = (lo >> neuron.output_drop) << neuron.output_drop, (hi >> neuron.output_drop) << neuron.output_drop
            else:
                m, c = neuron.logit
                lo, hi = sorted((acc_low * m + c, acc_high * m + c))
            out_low.append(lo)
            out_high.append(hi)
            if lo == hi or not terms:
                continue
            adder = _tree_bits(neuron, terms, low, high, 1) + _tree_bits(neuron, terms, low, high, -1)
            acc_bits = _bits(acc_low, acc_high)
            requant = neuron.requant
            logit = 0
            if isinstance(requant, ThresholdRequant):
                compare = acc_bits * len(set(requant.thresholds))
            elif isinstance(requant, ShiftRequant):
                compare = acc_bits * max(digit_count(requant.multiplier), 1) + 2 * _bits(lo, hi)
            else:  # a logit: subtraction of the two trees, then the argmax compares it
                compare = acc_bits
                logit = max(_bits(lo, hi) - (design.argmax_drop if last else 0), 0)
            costs[j] = (adder, compare, {i for i, _, _ in terms}, logit)
        layers.append(costs)
        low, high = np.array(out_low, dtype=np.int64), np.array(out_high, dtype=np.int64)
    needed = set(layers[-1])
    adder = compare = 0
    live_neurons: list[tuple[int, ...]] = [()] * len(layers)
    reads: set[int] = set()
    logit_bits = [layers[-1][j][3] for j in sorted(needed)]
    for index in range(len(layers) - 1, -1, -1):
        live_neurons[index] = tuple(sorted(needed))
        reads = set()
        for j in needed:
            a, c, r, _ = layers[index][j]
            adder, compare = adder + a, compare + c
            reads |= r
        if index:
            needed = reads & set(layers[index - 1])
    argmax = 0
    classes = len(design.layers[-1].neurons)
    if classes > 1 and logit_bits:
        argmax = (classes - 1) * (max(logit_bits) + design.class_bits)
    return ProxyBreakdown(adder, compare, argmax, tuple(sorted(reads)), tuple(live_neurons))


def _accumulator_range(neuron: Neuron, low: np.ndarray, high: np.ndarray) -> tuple[int, int]:
    pos_lo, pos_hi = partial_sum_range(neuron, low, high, 1)
    neg_lo, neg_hi = partial_sum_range(neuron, low, high, -1)
    return pos_lo - neg_hi, pos_hi - neg_lo


def small_support_mm2(design: Design, live_inputs: tuple[int, ...]) -> float | None:
    """Area bound of a design whose live inputs carry at most ``SMALL_SUPPORT_BITS`` bits, from the
    truth table of every class-index bit over all their codes (None when the support is larger)."""
    bits = len(live_inputs) * design.input_bits
    if bits > SMALL_SUPPORT_BITS:
        return None
    if not live_inputs:
        return 0.0
    values = np.arange(design.input_low, design.input_high + 1, dtype=np.int64)
    grid = np.stack(np.meshgrid(*[values] * len(live_inputs), indexing="ij"), axis=-1).reshape(-1, len(live_inputs))
    codes = np.full((len(grid), design.in_features), design.input_low, dtype=np.int64)
    codes[:, list(live_inputs)] = grid
    predictions = evaluate(design, codes).predictions
    literals = [(grid[:, k] >> b) & 1 for k in range(len(live_inputs))
                for b in range(design.input_bits)]
    per_bit = max(1.0, 2.0 ** bits / bits - 1.0)
    cost = 0.0
    for b in range(design.class_bits):
        column = (predictions >> b) & 1
        if column.min() == column.max() or any(np.array_equal(column, lit) or np.array_equal(column, 1 - lit)
                                               for lit in literals):
            continue  # a constant, a wire or an inverter
        cost += per_bit * GATE_MM2
    return cost


def area_proxy_mm2(design: Design) -> float:
    """Estimated mapped area of the classifier in mm^2 (a ranking aid, not a reported number)."""
    parts = breakdown(design)
    small = small_support_mm2(design, parts.live_inputs)
    return parts.area_mm2 if small is None else min(parts.area_mm2, small)
