"""The sensor interface of a printed classifier: one converter per input it reads.

A printed classifier reads analog sensors, and converters are a large part of its area and
power (often larger than the classifier), so input precision is a design choice, not a given.
The cost is reported as its own component, next to the classifier's, because published
classifier figures usually leave it out.

Per input the classifier actually reads (an input no live neuron reads needs no converter),
a b-bit flash converter: 2**b - 1 analog comparators (the card's ``[interface]`` figures) and a
thermometer-to-binary encoder, synthesised from the card's own cells. b is the number of bits
the classifier uses: low bits that every reader truncates are not converted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from codesign.backends.printed.design import Design
from codesign.backends.printed.proxy import breakdown
from codesign.cards import Card
from codesign.errors import CardError


@dataclass(frozen=True)
class InterfaceEstimate:
    inputs: int  # converted inputs
    bits: dict[int, int]  # input index -> converted bits
    comparators: int
    area_m2: float
    power_w: float
    latency_s: float
    breakdown: dict[str, float]
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"inputs": self.inputs, "bits": {str(k): v for k, v in sorted(self.bits.items())},
                "comparators": self.comparators, "area_mm2": self.area_m2 * 1e6, "area_cm2": self.area_m2 * 1e4,
                "power_mw": self.power_w * 1e3, "latency_s": self.latency_s, "breakdown": self.breakdown,
                "assumptions": list(self.assumptions)}


def converted_bits(design: Design) -> dict[int, int]:
    """Bits of every input the classifier reads: the input width minus the low bits that all of
    its readers drop (partial-product truncation at shift 0 drops input bits)."""
    info = breakdown(design)
    live = set(info.live_neurons[0]) if info.live_neurons else set()
    dropped: dict[int, int] = {}
    for j in live:
        neuron = design.layers[0].neurons[j]
        for i, shift, _ in neuron.terms():
            if i in info.live_inputs:
                lost = max(neuron.truncation - shift, 0)
                dropped[i] = min(dropped.get(i, lost), lost)
    return {i: max(design.input_bits - dropped.get(i, 0), 1) for i in info.live_inputs}


def interface_estimate(design: Design, card: Card) -> InterfaceEstimate:
    spec = card.interface
    if spec is None:
        raise CardError(f"card {card.name!r} has no [interface] section",
                        hint="add comparator figures under [interface] to cost the sensor converters")
    bits = converted_bits(design)
    comparators = sum((1 << b) - 1 for b in bits.values())
    encoders = Counter(b for b in bits.values() if b > 1)
    encoder_area = encoder_power = encoder_delay = 0.0
    for width, count in encoders.items():
        area, leakage, delay = _encoder(card, width)
        encoder_area += count * area
        encoder_power += count * leakage
        encoder_delay = max(encoder_delay, delay)
    comparator_area = comparators * spec.comparator_area.value
    comparator_power = comparators * spec.comparator_power.value
    assumptions = (
        f"sensor interface: one {spec.architecture} converter per input read ({len(bits)} of {design.in_features}), "
        f"{comparators} comparators in all",
        f"comparator: {spec.comparator_area.value * 1e6:g} mm^2, {spec.comparator_power.value * 1e6:g} uW "
        f"({spec.comparator_area.source})",
        "thermometer-to-binary encoders synthesised from the card's cells (static power only)",
        "reference ladders, sample-and-hold and sensor front ends not counted",
    )
    return InterfaceEstimate(
        inputs=len(bits), bits=bits, comparators=comparators,
        area_m2=comparator_area + encoder_area, power_w=comparator_power + encoder_power,
        latency_s=spec.comparator_delay.value + encoder_delay,
        breakdown={"comparator_area_mm2": comparator_area * 1e6, "encoder_area_mm2": encoder_area * 1e6,
                   "comparator_power_mw": comparator_power * 1e3, "encoder_power_mw": encoder_power * 1e3},
        assumptions=assumptions)


def encoder_verilog(bits: int) -> str:
    """Thermometer code t (2**bits - 1 comparator outputs, t[k] = input above level k+1) to binary."""
    levels = (1 << bits) - 1
    lines = [f"module therm2bin (input wire [{levels - 1}:0] t, output wire [{bits - 1}:0] code);"]
    # one-hot of the highest comparator that fired: t[k] & ~t[k+1]
    for k in range(levels):
        above = f" & ~t[{k + 1}]" if k + 1 < levels else ""
        lines.append(f"  wire h{k} = t[{k}]{above};")
    for bit in range(bits):
        terms = [f"h{k}" for k in range(levels) if (k + 1) >> bit & 1]
        lines.append(f"  assign code[{bit}] = {' | '.join(terms)};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


_ENCODERS: dict[tuple[str, int], tuple[float, float, float]] = {}


def _encoder(card: Card, bits: int) -> tuple[float, float, float]:
    """(area m^2, static power W, delay s) of one encoder, synthesised once per card and width."""
    key = (card.content_hash, bits)
    if key not in _ENCODERS:
        _ENCODERS[key] = _synthesise_encoder(card, bits)
    return _ENCODERS[key]


def _synthesise_encoder(card: Card, bits: int) -> tuple[float, float, float]:
    from codesign.backends.printed.gatesim import Netlist, critical_path
    from codesign.backends.printed.liberty import combinational_cells, liberty
    from codesign.backends.printed.synthesis import synthesize

    functions = {name: cell.function for name, cell in combinational_cells(card).items()}
    result = synthesize(encoder_verilog(bits), liberty(card), "therm2bin")
    netlist = Netlist.from_yosys(result.module, functions)
    counts = Counter(cell.kind for cell in netlist.cells)
    area = sum(card.cells[k].area.value * n for k, n in counts.items())
    leakage = sum(card.cells[k].leakage.value * n for k, n in counts.items())
    delay, _ = critical_path(netlist, {k: c.delay.value for k, c in card.cells.items()})
    return area, leakage, delay
