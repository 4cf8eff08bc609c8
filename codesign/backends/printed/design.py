"""The bespoke design: a bit-true integer description of the circuit, from which the Verilog,
the approximations and the accuracy evaluation are all derived.

Every neuron is a sum of shifted inputs (the CSD digits of its hard-wired weights), an exact
integer requantisation (see ``requant``), and the last layer feeds an argmax comparator tree.
``evaluate`` computes exactly what the gates compute, so the search can score approximations
without synthesising them, and gate-level simulation is checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from codesign.backends.printed.csd import csd
from codesign.backends.printed.requant import Requant, fit, tabulate
from codesign.errors import UnsupportedOpError
from codesign.ir.graph import DenseLayer, LayerGraph

MAX_LOGIT_SHIFT = 30


@dataclass(frozen=True)
class Neuron:
    """One hard-wired neuron.  ``weights`` are what the circuit multiplies by (negated when the
    reference's map is decreasing, so every requantisation below is non-decreasing)."""

    weights: tuple[int, ...]
    requant: Requant | None = None  # hidden layers: accumulator -> output code
    logit: tuple[int, int] | None = None  # last layer: z = acc * M + C
    truncation: int = 0  # accumulation approximation: partial-product bits below this are dropped
    output_drop: int = 0  # activation approximation: low bits of the output code forced to zero

    def terms(self) -> list[tuple[int, int, int]]:
        """(input index, shift, sign) of every partial product."""
        return [(i, shift, sign) for i, w in enumerate(self.weights) if w for shift, sign in csd(w)]


@dataclass(frozen=True)
class Layer:
    name: str
    neurons: tuple[Neuron, ...]
    output_bits: int  # width of each output code (unsigned unless ``signed_output``)
    signed_output: bool = False


@dataclass(frozen=True)
class Design:
    """A combinational classifier: integer input codes in, class index out."""

    name: str
    input_low: int
    input_high: int
    layers: tuple[Layer, ...]
    classes: int
    argmax_drop: int = 0  # argmax approximation: low bits of every logit ignored

    @property
    def input_bits(self) -> int:
        return width_of(self.input_low, self.input_high)

    @property
    def input_signed(self) -> bool:
        return self.input_low < 0

    @property
    def in_features(self) -> int:
        return len(self.layers[0].neurons[0].weights)

    @property
    def class_bits(self) -> int:
        return max(1, (self.classes - 1).bit_length())

    def with_layer(self, index: int, layer: Layer) -> Design:
        layers = list(self.layers)
        layers[index] = layer
        return replace(self, layers=tuple(layers))


def width_of(low: int, high: int) -> int:
    """Bits of the two's complement (signed) or plain (unsigned) word holding [low, high]."""
    if low >= 0:
        return max(1, int(high).bit_length())
    return max(int(high).bit_length(), int(-low - 1).bit_length()) + 1


# -- evaluation --------------------------------------------------------------------------------
def term_value(x: np.ndarray, shift: int, sign: int, truncation: int) -> np.ndarray:
    """One partial product as the circuit forms it (low bits dropped under truncation)."""
    if shift >= truncation:
        return sign * (x << shift)
    return sign * ((x >> (truncation - shift)) << truncation)


def accumulate(neuron: Neuron, x: np.ndarray) -> np.ndarray:
    """The neuron's accumulator on integer inputs x (N, features), as the circuit forms it:
    digits at or above the truncation position are exact, each lower digit position s adds
    its partial products with their low (truncation - s) bits dropped."""
    if neuron.truncation == 0:
        return x @ np.asarray(neuron.weights, dtype=np.int64)
    exact = np.zeros(len(neuron.weights), dtype=np.int64)
    low: dict[int, np.ndarray] = {}
    for index, shift, sign in neuron.terms():
        if shift >= neuron.truncation:
            exact[index] += sign << shift
        else:
            low.setdefault(shift, np.zeros(len(neuron.weights), dtype=np.int64))[index] += sign
    acc = x @ exact
    for shift, signs in low.items():
        acc = acc + ((x >> (neuron.truncation - shift)) << neuron.truncation) @ signs
    return acc


def term_range(low: int, high: int, shift: int, truncation: int) -> tuple[int, int]:
    """Bounds of one positive partial product for x in [low, high] (it is monotone in x)."""
    # term_value on Python ints (the same floor shifts as int64): called per term of every candidate
    # the retraining costs, where one-element arrays cost 17 % of its time
    if shift >= truncation:
        ends = (low << shift, high << shift)
    else:
        ends = ((low >> (truncation - shift)) << truncation, (high >> (truncation - shift)) << truncation)
    return min(ends), max(ends)


def partial_sum_range(neuron: Neuron, low: np.ndarray, high: np.ndarray, digit_sign: int) -> tuple[int, int]:
    """Bounds of the sum of the partial products whose CSD digit has ``digit_sign``, taken
    positive: the adder tree the circuit builds for that sign."""
    lo = hi = 0
    for index, shift, sign in neuron.terms():
        if sign == digit_sign:
            term_lo, term_hi = term_range(int(low[index]), int(high[index]), shift, neuron.truncation)
            lo, hi = lo + term_lo, hi + term_hi
    return lo, hi


def accumulator_range(neuron: Neuron, low: np.ndarray, high: np.ndarray) -> tuple[int, int]:
    """Exact bounds of the accumulator (positive tree minus negative tree) for inputs in [low, high]."""
    pos_lo, pos_hi = partial_sum_range(neuron, low, high, 1)
    neg_lo, neg_hi = partial_sum_range(neuron, low, high, -1)
    return pos_lo - neg_hi, pos_hi - neg_lo


def logit_of(neuron: Neuron, acc: np.ndarray) -> np.ndarray:
    """Output-layer value the argmax compares: quantised code, or the fixed-point logit."""
    if neuron.requant is not None:
        return neuron.requant.apply(acc)
    return acc * neuron.logit[0] + neuron.logit[1]


@dataclass(frozen=True)
class Evaluation:
    codes: tuple[np.ndarray, ...]  # input codes, then each hidden layer's output codes
    logits: np.ndarray  # integer z of the last layer (after the argmax approximation)
    predictions: np.ndarray


def evaluate(design: Design, x_codes: np.ndarray) -> Evaluation:
    """Exactly what the circuit computes, on integer input codes (N, features)."""
    current = np.asarray(x_codes, dtype=np.int64)
    codes = [current]
    for layer in design.layers[:-1]:
        columns = []
        for neuron in layer.neurons:
            out = neuron.requant.apply(accumulate(neuron, current))
            columns.append((out >> neuron.output_drop) << neuron.output_drop)
        current = np.stack(columns, axis=1)
        codes.append(current)
    logits = np.stack([logit_of(n, accumulate(n, current)) for n in design.layers[-1].neurons], axis=1)
    logits = logits >> design.argmax_drop
    if design.classes == 1 or logits.shape[1] == 1:
        predictions = (logits[:, 0] > 0).astype(np.int64)
    else:
        predictions = np.argmax(logits, axis=1)
    return Evaluation(tuple(codes), logits, predictions)


# -- building from the layer graph ---------------------------------------------------------------
def build(graph: LayerGraph, name: str | None = None) -> Design:
    """The exact bespoke design of an integer MLP (raises for what a printed circuit cannot do).

    A layer whose input codes are bipolar ({-1, +1}, sign activations) sums one wire bit h per
    input (code = 2h - 1): the accumulator the circuit forms is sum(w * h), and the reference's
    accumulator 2 * sum(w * h) - sum(w) is folded into the neuron's threshold or logit offset, so
    binary inputs cost a popcount-style adder tree and no sign handling."""
    graph.require_integer("the printed backend")
    spec = graph.input_quant
    low = np.full(graph.in_features, spec.code_min, dtype=np.int64)
    high = np.full(graph.in_features, spec.code_max, dtype=np.int64)
    gain = 1  # 2 after a bipolar layer (see _encoding)
    layers = []
    for position, layer in enumerate(graph.layers):
        last = position == len(graph.layers) - 1
        if last and layer.output_quant is None:
            layers.append(_logit_layer(layer, low, high, gain))
            break
        built = _hidden_layer(layer, low, high, gain)
        if last:  # quantised logits: argmax over the codes themselves
            layers.append(_codes_as_logits(layer, built))
            break
        layers.append(built)
        low = np.array([n.requant.low for n in built.neurons], dtype=np.int64)
        high = np.array([n.requant.high for n in built.neurons], dtype=np.int64)
        gain = 2 if layer.output_quant.bipolar else 1
    return Design(name or graph.name, int(spec.code_min), int(spec.code_max), tuple(layers),
                  classes=graph.out_features)


def _encoding(weights: tuple[int, ...], gain: int) -> tuple[int, int]:
    """(gain, offset) with reference accumulator = gain * circuit accumulator + offset: wires
    carry the codes themselves (gain 1) or the bit h of a bipolar code 2h - 1 (gain 2)."""
    return (1, 0) if gain == 1 else (2, -int(sum(weights)))


def _hidden_layer(layer: DenseLayer, low: np.ndarray, high: np.ndarray, gain: int = 1) -> Layer:
    neurons = []
    for j in range(layer.out_features):
        weights = tuple(int(w) for w in layer.weight[j])
        acc_low, acc_high = accumulator_range(Neuron(weights), low, high)
        scale, offset = _encoding(weights, gain)
        form, negate = fit(tabulate(layer, j, acc_low, acc_high, gain=scale, offset=offset), acc_low)
        if negate:
            weights = tuple(-w for w in weights)
        neurons.append(Neuron(weights, requant=form))
    low_code = min(n.requant.low for n in neurons)
    high_code = max(n.requant.high for n in neurons)
    if low_code < 0:
        raise UnsupportedOpError(f"{layer.name}: signed hidden activations are not supported by the printed backend",
                                 hint="use an unsigned activation quantiser after ReLU (Brevitas QuantReLU) "
                                      "or a bipolar sign activation")
    return Layer(layer.name, tuple(neurons), width_of(0, high_code))


def _codes_as_logits(layer: DenseLayer, built: Layer) -> Layer:
    scale = layer.output_quant.scale.reshape(-1)
    if scale.size > 1 and np.any(scale != scale[0]):
        raise UnsupportedOpError(f"{layer.name}: per-channel output scales make the argmax depend on float scales",
                                 hint="quantise the logits per tensor")
    return built


def _logit_layer(layer: DenseLayer, low: np.ndarray, high: np.ndarray, input_gain: int = 1) -> Layer:
    """z_j = acc_j * M + C_j with the argmax of z equal to the argmax of the real logits."""
    affine = layer.post_affine()
    if affine is None:
        raise UnsupportedOpError(f"{layer.name}: the output layer applies a non-affine function before the argmax",
                                 hint="end the model with a plain linear layer (no activation)")
    mul = np.broadcast_to(np.asarray(affine.mul, dtype=np.float64).reshape(-1), (layer.out_features,))
    add = np.broadcast_to(np.asarray(affine.add, dtype=np.float64).reshape(-1), (layer.out_features,))
    bias = np.zeros(layer.out_features) if layer.bias is None else np.asarray(layer.bias, dtype=np.float64)
    gain = layer.acc_scale * mul  # value_j = gain_j * acc_j + offset_j
    offset = bias * mul + add
    weights = [tuple(int(w) for w in row) for row in layer.weight]
    # value_j = gain_j * (a_j * circuit_acc_j + b_j) + offset_j = circuit_gain_j * (circuit_acc_j + r_j)
    encodings = [_encoding(w, input_gain) for w in weights]
    circuit_gain = gain * np.array([a for a, _ in encodings], dtype=np.float64)
    if np.any(circuit_gain == 0):
        raise UnsupportedOpError(f"{layer.name}: an output logit does not depend on its inputs (zero scale)",
                                 hint="check the output layer's scale and batch norm")
    ratios = [Fraction(float(o)) / Fraction(float(g)) + Fraction(b, a)
              for o, g, (a, b) in zip(offset, circuit_gain, encodings, strict=True)]
    if np.any(circuit_gain < 0):
        if layer.out_features > 1:
            raise UnsupportedOpError(f"{layer.name}: a logit decreases with its accumulator",
                                     hint="fold negative batch-norm scales into the weights before export")
        # value > 0  <=>  acc + r < 0  <=>  (-acc) > r: negate the weights, keep the bound r
        bound = ratios[0]
        return Layer(layer.name, (Neuron(tuple(-w for w in weights[0]), logit=(1, -_floor(bound))),), 1,
                     signed_output=True)
    if layer.out_features == 1:
        # prediction = value > 0  <=>  acc > -r  <=>  acc - floor(-r) > 0
        return Layer(layer.name, (Neuron(weights[0], logit=(1, -_floor(-ratios[0]))),), 1, signed_output=True)
    if np.all(circuit_gain == circuit_gain[0]):
        logits = _ranked_offsets(ratios)
    else:  # per-channel gains: a common fixed-point grid, checked by verification on data
        shift, smallest = 16, float(np.min(circuit_gain))
        logits = [(round(g / smallest * (1 << shift)), _floor(r * Fraction(g) / Fraction(smallest) * (1 << shift)))
                  for g, r in zip(circuit_gain, ratios, strict=True)]
    neurons = tuple(Neuron(w, logit=form) for w, form in zip(weights, logits, strict=True))
    return Layer(layer.name, neurons, 0, signed_output=True)


def _floor(value: Fraction) -> int:
    return int(value // 1)


def _ceil(value: Fraction) -> int:
    return -int((-value) // 1)


def _ranked_offsets(offsets: list[Fraction]) -> list[tuple[int, int]]:
    """Exact integer logits for real offsets o_j (in accumulator units): z_j = acc_j*K + C_j with
    C_j = floor(o_j)*K + rank of frac(o_j).  For integer differences d = acc_i - acc_j, real
    arithmetic keeps i ahead iff d >= floor(o_j) - floor(o_i) + [frac_j > frac_i], and so does
    z, because ranks order the fractions exactly (equal fractions share a rank, so the comparator
    tree's lower-index-wins rule matches argmax on exact ties)."""
    fractions = sorted({o - _floor(o) for o in offsets})
    rank = {f: position for position, f in enumerate(fractions)}
    scale = 1 << (len(fractions) - 1).bit_length()
    return [(scale, _floor(o) * scale + rank[o - _floor(o)]) for o in offsets]
