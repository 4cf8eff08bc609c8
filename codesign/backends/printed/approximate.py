"""Approximations of a bespoke design, chosen per neuron, and a fast cost proxy to rank them.

* coefficient: each weight becomes the constant with the fewest CSD digits within +-tolerance
  (weights within the tolerance of zero vanish: pruning);
* accumulation: partial-product bits below ``truncation`` are dropped before summation;
* activation: the low ``output_drop`` bits of a hidden neuron's output code are forced to zero;
* requantisation: the multiplier of a hidden neuron's requantisation keeps only its
  ``requant_digits`` most significant CSD digits (0: exact);
* argmax: the comparator tree ignores the low ``argmax_drop`` bits of every logit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from codesign.backends.printed.csd import cheapest_near, csd, digit_count
from codesign.backends.printed.design import Design, Layer
from codesign.backends.printed.requant import ShiftRequant

COEFFICIENT_TOLERANCES = (0, 1, 2, 3, 4, 6, 8, 12, 16)


@dataclass(frozen=True)
class NeuronKnobs:
    coefficient_tolerance: int = 0
    truncation: int = 0
    output_drop: int = 0
    requant_digits: int = 0


@dataclass(frozen=True)
class Approximation:
    neurons: tuple[tuple[NeuronKnobs, ...], ...]  # per layer, per neuron
    argmax_drop: int = 0

    @classmethod
    def exact(cls, design: Design) -> Approximation:
        return cls(tuple(tuple(NeuronKnobs() for _ in layer.neurons) for layer in design.layers))

    @property
    def is_exact(self) -> bool:
        return self.argmax_drop == 0 and all(k == NeuronKnobs() for layer in self.neurons for k in layer)

    def to_dict(self) -> dict:
        return {"argmax_drop": self.argmax_drop,
                "neurons": [[asdict(k) for k in layer] for layer in self.neurons]}

    @classmethod
    def from_dict(cls, data: dict) -> Approximation:
        return cls(tuple(tuple(NeuronKnobs(**k) for k in layer) for layer in data["neurons"]),
                   int(data.get("argmax_drop", 0)))


def apply(design: Design, approximation: Approximation) -> Design:
    """The approximate design (``design`` must be exact: approximations do not compose)."""
    layers = []
    for layer, knobs in zip(design.layers, approximation.neurons, strict=True):
        neurons = []
        for neuron, knob in zip(layer.neurons, knobs, strict=True):
            weights = neuron.weights
            if knob.coefficient_tolerance:
                weights = tuple(cheapest_near(w, knob.coefficient_tolerance) if w else 0 for w in weights)
            drop = knob.output_drop if neuron.requant is not None else 0
            requant = neuron.requant
            if knob.requant_digits and isinstance(requant, ShiftRequant):
                requant = replace(requant, multiplier=leading_digits(requant.multiplier, knob.requant_digits))
            neurons.append(replace(neuron, weights=weights, truncation=knob.truncation, output_drop=drop,
                                   requant=requant))
        layers.append(Layer(layer.name, tuple(neurons), layer.output_bits, layer.signed_output))
    return replace(design, layers=tuple(layers), argmax_drop=approximation.argmax_drop)


def leading_digits(value: int, digits: int) -> int:
    """``value`` rounded to its ``digits`` most significant CSD digits."""
    kept = sorted(csd(value), reverse=True)[:digits]
    return sum(sign << shift for shift, sign in kept)


def cost_proxy(design: Design) -> float:
    """Adder-tree input bits: roughly one full adder each, the unit the area scales with."""
    bits_in = [design.input_bits] * design.in_features
    total = 0.0
    for index, layer in enumerate(design.layers):
        next_bits = []
        for neuron in layer.neurons:
            for i, shift, _sign in neuron.terms():
                low = max(shift, neuron.truncation) - shift
                total += max(bits_in[i] - low, 0)
            requant = neuron.requant
            if isinstance(requant, ShiftRequant):
                total += 12 * max(digit_count(requant.multiplier) - 1, 0)
            elif requant is not None:
                total += 12 * len(requant.thresholds)
            if requant is not None:
                next_bits.append(max(requant.high.bit_length() - neuron.output_drop, 0))
        bits_in = next_bits
        if index == len(design.layers) - 1:
            total += 2 * len(layer.neurons) * max(16 - design.argmax_drop, 1)
    return total
