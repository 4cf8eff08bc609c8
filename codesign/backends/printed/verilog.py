"""Readable bespoke Verilog for a ``Design``: one wire per neuron stage, every weight a shift-add
of its CSD digits, exact widths from the design's value ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from codesign.backends.printed.csd import csd
from codesign.backends.printed.design import (
    Design,
    Neuron,
    accumulator_range,
    partial_sum_range,
    term_range,
    width_of,
)
from codesign.backends.printed.requant import ThresholdRequant


@dataclass
class _Writer:
    lines: list[str] = field(default_factory=list)

    def comment(self, text: str) -> None:
        self.lines.append(f"  // {text}")

    def wire(self, name: str, low: int, high: int, expr: str, *, signed: bool = True) -> None:
        width = width_of(min(low, -1), high) if signed else width_of(0, high)
        kind = "wire signed" if signed else "wire"
        self.lines.append(f"  {kind} [{width - 1}:0] {name} = {expr};")


# Verilog-2005 keywords a model name could plausibly collide with (a module cannot be named so)
KEYWORDS = frozenset(["always", "and", "assign", "begin", "buf", "case", "default", "defparam", "disable", "edge", "else", "end", "endcase", "endfunction", "endmodule", "endtask", "for", "force", "function", "generate", "genvar", "if", "initial", "inout", "input", "integer", "module", "nand", "nor", "not", "or", "output", "parameter", "real", "reg", "repeat", "signed", "specify", "supply0", "supply1", "table", "task", "time", "tri", "unsigned", "wait", "while", "wire", "xor", "xnor"])


def module_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name) or "mlp"
    return cleaned if cleaned[0].isalpha() and cleaned not in KEYWORDS else f"m_{cleaned}"


def _literal(value: int) -> str:
    bits = abs(value).bit_length() + 1  # the magnitude must be positive in a signed literal
    return f"-{bits}'sd{-value}" if value < 0 else f"{bits}'sd{value}"


def _term(source: str, shift: int, truncation: int) -> str:
    if shift >= truncation:
        return source if shift == 0 else f"({source} <<< {shift})"
    return f"(({source} >>> {truncation - shift}) <<< {truncation})"


def _sum(parts: list[tuple[int, str]]) -> str:
    """Signed sum of (sign, expression); '0' when empty."""
    if not parts:
        return "1'sb0"
    text = ""
    for position, (sign, expr) in enumerate(parts):
        if position == 0:
            text = expr if sign > 0 else f"-{expr}"
        else:
            text += f" {'+' if sign > 0 else '-'} {expr}"
    return text


def emit(design: Design, header: dict[str, str]) -> str:
    """The complete Verilog source of ``design``."""
    w = _Writer()
    ports = [f"  input  wire [{design.input_bits - 1}:0] x{i}," for i in range(design.in_features)]
    ports.append(f"  output wire [{design.class_bits - 1}:0] class_id")
    low = np.full(design.in_features, design.input_low, dtype=np.int64)
    high = np.full(design.in_features, design.input_high, dtype=np.int64)
    w.comment(f"inputs as signed operands ({'signed' if design.input_signed else 'unsigned'} {design.input_bits}-bit codes)")
    sources = []
    for i in range(design.in_features):
        expr = f"$signed(x{i})" if design.input_signed else f"$signed({{1'b0, x{i}}})"
        w.wire(f"in_{i}", int(low[i]), int(high[i]), expr)
        sources.append(f"in_{i}")
    for index, layer in enumerate(design.layers):
        last = index == len(design.layers) - 1
        w.lines.append("")
        w.comment(f"layer {layer.name}: {len(layer.neurons[0].weights)} -> {len(layer.neurons)}")
        outputs, out_low, out_high = [], [], []
        for j, neuron in enumerate(layer.neurons):
            acc_name = f"l{index}_n{j}_acc"
            acc_low, acc_high = accumulator_range(neuron, low, high)
            nonzero = sum(1 for v in neuron.weights if v)
            note = f"neuron {j}: {nonzero} non-zero weights, {len(neuron.terms())} CSD terms"
            if neuron.truncation:
                note += f", partial products truncated below bit {neuron.truncation}"
            w.comment(note)
            terms = [(sign, _term(sources[i], shift, neuron.truncation)) for i, shift, sign in neuron.terms()
                     if term_range(int(low[i]), int(high[i]), shift, neuron.truncation) != (0, 0)]
            if _is_gate(neuron):
                name, lo, hi = _threshold_gate(w, acc_name, terms, neuron, low, high, f"l{index}_n{j}")
            elif last and neuron.requant is None:
                _accumulate(w, acc_name, acc_low, acc_high, terms, neuron, low, high)
                name, lo, hi = _logit(w, acc_name, acc_low, acc_high, neuron, f"l{index}_n{j}")
            else:
                _accumulate(w, acc_name, acc_low, acc_high, terms, neuron, low, high)
                name, lo, hi = _requant(w, acc_name, acc_low, acc_high, neuron, f"l{index}_n{j}")
            outputs.append(name)
            out_low.append(lo)
            out_high.append(hi)
        sources, low, high = outputs, np.array(out_low), np.array(out_high)
    w.lines.append("")
    _argmax(w, design, sources, low, high)
    title = [f"// {key}: {value}" for key, value in header.items()]
    body = "\n".join(w.lines)
    return "\n".join([*title, f"module {module_name(design.name)} (", *ports, ");", body, "endmodule", ""])


def _is_gate(neuron: Neuron) -> bool:
    """A 1-bit activation: one comparison of the sum with a threshold (a linear threshold gate)."""
    requant = neuron.requant
    return isinstance(requant, ThresholdRequant) and len(requant.thresholds) == 1 and not neuron.output_drop


def _threshold_gate(w: _Writer, acc_name: str, terms, neuron: Neuron, low, high, prefix: str) -> tuple[str, int, int]:
    """out = [pos - neg >= T] as one comparison pos (+ |T|) >= neg (+ T): the threshold joins the
    adder tree of the side it adds to, and no subtraction or sign bit is built."""
    requant = neuron.requant
    threshold = requant.thresholds[0]
    sides = {}
    for digit_sign, suffix in ((1, "pos"), (-1, "neg")):
        parts = [expr for sign, expr in terms if sign == digit_sign]
        tree_low, tree_high = partial_sum_range(neuron, low, high, digit_sign)
        constant = max(-threshold, 0) if digit_sign > 0 else max(threshold, 0)
        if constant:
            parts.append(_literal(constant))
        sides[suffix] = f"{acc_name}_{suffix}"
        w.wire(sides[suffix], tree_low + constant, tree_high + constant, " + ".join(parts) or "1'sb0")
    out = f"{prefix}_out"
    w.comment(f"linear threshold gate: [sum >= {threshold}]" + (f" + {requant.low}" if requant.low else ""))
    if requant.low:
        w.wire(out, requant.low, requant.high, f"{_literal(requant.low)} + $signed({{1'b0, {sides['pos']} >= {sides['neg']}}})")
    else:
        w.lines.append(f"  wire {out} = {sides['pos']} >= {sides['neg']};")
    return out, requant.low, requant.high


def _accumulate(w: _Writer, acc_name: str, acc_low: int, acc_high: int, terms, neuron, low, high) -> None:
    """Positive and negative partial products summed separately (no sign extension in either
    adder tree), then one subtraction."""
    for digit_sign, suffix in ((1, "pos"), (-1, "neg")):
        parts = [expr for sign, expr in terms if sign == digit_sign]
        tree_low, tree_high = partial_sum_range(neuron, low, high, digit_sign)
        w.wire(f"{acc_name}_{suffix}", tree_low, tree_high, " + ".join(parts) or "1'sb0")
    w.wire(acc_name, acc_low, acc_high, f"{acc_name}_pos - {acc_name}_neg")


def _multiply(source: str, multiplier: int) -> list[tuple[int, str]]:
    return [(sign, source if shift == 0 else f"({source} <<< {shift})") for shift, sign in csd(multiplier)]


def _requant(w: _Writer, acc: str, acc_low: int, acc_high: int, neuron: Neuron, prefix: str) -> tuple[str, int, int]:
    requant = neuron.requant
    out = f"{prefix}_out"
    if isinstance(requant, ThresholdRequant):
        w.comment(f"requantisation: {len(requant.thresholds)} thresholds on the accumulator")
        parts = [f"$signed({{1'b0, {acc} >= {_literal(t)}}})" for t in requant.thresholds]
        w.wire(f"{prefix}_code", requant.low, requant.high, " + ".join([_literal(requant.low), *parts]))
        code = f"{prefix}_code"
    else:
        m, c, s = requant.multiplier, requant.offset, requant.shift
        w.comment(f"requantisation: clip((acc * {m} + {c}) >>> {s}, {requant.low}, {requant.high})"
                  + (" with ties to even" if requant.half_even else ""))
        scaled = [*_multiply(acc, m), *([(1, _literal(c))] if c else [])]
        ends = [acc_low * m + c, acc_high * m + c]
        w.wire(f"{prefix}_scaled", min(ends), max(ends), _sum(scaled))
        if requant.half_even:
            w.comment("ties round to even: add bit s of the scaled value before the shift")
            w.wire(f"{prefix}_shifted", min(ends) >> s, (max(ends) + 1) >> s,
                   f"({prefix}_scaled + $signed({{1'b0, {prefix}_scaled[{s}]}})) >>> {s}")
        else:
            w.wire(f"{prefix}_shifted", min(ends) >> s, max(ends) >> s, f"{prefix}_scaled >>> {s}")
        lo, hi = _literal(requant.low), _literal(requant.high)
        w.wire(f"{prefix}_code", requant.low, requant.high,
               f"({prefix}_shifted < {lo}) ? {lo} : ({prefix}_shifted > {hi}) ? {hi} : {prefix}_shifted")
        code = f"{prefix}_code"
    high = requant.high
    if neuron.output_drop:
        w.comment(f"activation approximation: low {neuron.output_drop} bits forced to zero")
        w.wire(out, requant.low, high, f"({code} >>> {neuron.output_drop}) <<< {neuron.output_drop}")
    else:
        w.wire(out, requant.low, high, code)
    return out, requant.low, high


def _logit(w: _Writer, acc: str, acc_low: int, acc_high: int, neuron: Neuron, prefix: str) -> tuple[str, int, int]:
    m, c = neuron.logit
    ends = [acc_low * m + c, acc_high * m + c]
    w.wire(f"{prefix}_logit", min(ends), max(ends), _sum([*_multiply(acc, m), *([(1, _literal(c))] if c else [])]))
    return f"{prefix}_logit", min(ends), max(ends)


def _argmax(w: _Writer, design: Design, values: list[str], low: np.ndarray, high: np.ndarray) -> None:
    drop = design.argmax_drop
    if drop:
        w.comment(f"argmax approximation: low {drop} bits of every logit ignored")
        dropped = []
        for j, name in enumerate(values):
            w.wire(f"cmp_{j}", int(low[j]) >> drop, int(high[j]) >> drop, f"{name} >>> {drop}")
            dropped.append(f"cmp_{j}")
        values, low, high = dropped, low >> drop, high >> drop
    if len(values) == 1:
        w.comment("binary decision: class 1 when the logit is positive")
        w.lines.append(f"  assign class_id = {values[0]} > 1'sb0;")
        return
    w.comment("argmax: comparator tree, the lower index wins ties (as argmax does)")
    bits = design.class_bits
    nodes = [(name, f"{bits}'d{j}", int(low[j]), int(high[j])) for j, name in enumerate(values)]
    level = 0
    while len(nodes) > 1:
        merged = []
        for k in range(0, len(nodes) - 1, 2):
            (a, ia, alo, ahi), (b, ib, blo, bhi) = nodes[k], nodes[k + 1]
            name = f"max_{level}_{k // 2}"
            w.lines.append(f"  wire {name}_right = {b} > {a};")
            w.wire(f"{name}_value", min(alo, blo), max(ahi, bhi), f"{name}_right ? {b} : {a}")
            w.lines.append(f"  wire [{bits - 1}:0] {name}_index = {name}_right ? {ib} : {ia};")
            merged.append((f"{name}_value", f"{name}_index", min(alo, blo), max(ahi, bhi)))
        if len(nodes) % 2:
            merged.append(nodes[-1])
        nodes, level = merged, level + 1
    w.lines.append(f"  assign class_id = {nodes[0][1]};")
