"""Hardware-aware discrete retraining: a genetic search over the integer weights of a bespoke
design, scored bit-true.

Gradient QAT ends at a model whose every weight, threshold and precision is then fixed in
hardware. This search keeps training *in* the hardware's number system, as genetic
approximate training does for printed MLPs: every candidate is a complete bespoke design, its
accuracy is what the circuit computes (``design.evaluate``: truncated partial products,
dropped activation and argmax bits included) and its cost the area proxy. Mutations are the
moves a designer would make by hand, each an approximation the forward pass then sees:

* prune a weight (a ternary or multi-bit weight to 0), or step it by +-1 (a coefficient
  approximation when it lowers the CSD digit count; adding a connection from 0);
* move a threshold (a linear threshold gate's comparison constant, a requantisation offset, a
  logit's bias) by a few accumulator steps;
* truncate or restore a low bit of a neuron's partial products, drop or restore a low bit of a
  hidden neuron's output code, or of every logit before the argmax;
* silence a whole neuron (all weights 0: a constant that synthesis removes with its consumers'
  terms);

and neuron-wise uniform crossover mixes two parents. Selection is NSGA-II (non-dominated
sorting, crowding distance) on (accuracy on the search data, area proxy). The result holds every
distinct design evaluated; ``front`` re-scores the non-dominated ones on held-out data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from codesign.backends.printed.design import Design, Layer, Neuron, evaluate
from codesign.backends.printed.proxy import area_proxy_mm2
from codesign.backends.printed.requant import ShiftRequant, ThresholdRequant
from codesign.errors import ParameterError

MAX_TRUNCATION = 6
MAX_DROP = 6
MOVES = ("prune", "step", "threshold", "truncate", "drop", "silence", "argmax")


@dataclass(frozen=True)
class RetrainConfig:
    generations: int = 40
    population: int = 48
    mutations: int = 2  # mean number of moves per child (at least one)
    crossover: float = 0.5  # probability that a child mixes two parents neuron by neuron
    threshold_step: int = 2  # largest threshold move, in accumulator steps
    weight_range: tuple[int, int] | None = None  # allowed integer weights; None: each layer's own range
    seed: int = 0

    def __post_init__(self) -> None:
        if self.generations < 0 or self.population < 4:
            raise ParameterError(f"generations = {self.generations} and population = {self.population} "
                                 "must be >= 0 and >= 4", hint="e.g. generations=40, population=48")
        if not 0 <= self.crossover <= 1 or self.mutations < 1 or self.threshold_step < 1:
            raise ParameterError("crossover must be in [0, 1], mutations and threshold_step >= 1",
                                 hint="e.g. crossover=0.5, mutations=2, threshold_step=2")


@dataclass(frozen=True)
class Scored:
    design: Design
    accuracy: float  # on the search data
    proxy_mm2: float
    generation: int


@dataclass
class RetrainResult:
    start: Scored
    evaluated: dict = field(default_factory=dict)  # Design -> Scored

    def pareto(self) -> list[Scored]:
        """Non-dominated designs on (search accuracy, proxy), cheapest first."""
        return pareto_front(list(self.evaluated.values()))


def pareto_front(items: list[Scored]) -> list[Scored]:
    front, best = [], -1.0
    for item in sorted(items, key=lambda s: (s.proxy_mm2, -s.accuracy)):
        if item.accuracy > best + 1e-12:
            front.append(item)
            best = item.accuracy
    return front


# -- NSGA-II selection (two objectives, both minimised) ----------------------------------------
def _ranks(objectives: np.ndarray) -> np.ndarray:
    """Non-domination rank of every row (0 = first front)."""
    count = len(objectives)
    ranks = np.full(count, -1)
    remaining = np.arange(count)
    rank = 0
    while remaining.size:
        sub = objectives[remaining]
        dominated = np.zeros(len(remaining), dtype=bool)
        for k in range(len(remaining)):
            better = np.all(sub <= sub[k], axis=1) & np.any(sub < sub[k], axis=1)
            dominated[k] = better.any()
        ranks[remaining[~dominated]] = rank
        remaining = remaining[dominated]
        rank += 1
    return ranks


def _crowding(objectives: np.ndarray) -> np.ndarray:
    distance = np.zeros(len(objectives))
    for column in range(objectives.shape[1]):
        order = np.argsort(objectives[:, column], kind="stable")
        span = objectives[order[-1], column] - objectives[order[0], column]
        distance[order[[0, -1]]] = np.inf
        if span > 0 and len(order) > 2:
            distance[order[1:-1]] += (objectives[order[2:], column] - objectives[order[:-2], column]) / span
    return distance


def select(objectives: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` survivors: by rank, then by crowding distance."""
    ranks = _ranks(objectives)
    chosen: list[int] = []
    for rank in range(ranks.max() + 1):
        members = np.flatnonzero(ranks == rank)
        if len(chosen) + len(members) <= count:
            chosen.extend(members.tolist())
            continue
        crowd = _crowding(objectives[members])
        chosen.extend(members[np.argsort(-crowd, kind="stable")][:count - len(chosen)].tolist())
        break
    return np.array(chosen)


# -- moves ---------------------------------------------------------------------------------------
def _weight_bounds(design: Design, config: RetrainConfig) -> list[tuple[int, int]]:
    if config.weight_range is not None:
        return [config.weight_range] * len(design.layers)
    bounds = []
    for layer in design.layers:
        values = [w for n in layer.neurons for w in n.weights] or [0]
        largest = max(1, max(abs(v) for v in values))
        bounds.append((-largest, largest))
    return bounds


def _with_neuron(design: Design, layer_index: int, neuron_index: int, neuron: Neuron) -> Design:
    layer = design.layers[layer_index]
    neurons = list(layer.neurons)
    neurons[neuron_index] = neuron
    return design.with_layer(layer_index, Layer(layer.name, tuple(neurons), layer.output_bits, layer.signed_output))


def _move_threshold(neuron: Neuron, delta: int) -> Neuron:
    requant = neuron.requant
    if isinstance(requant, ThresholdRequant):
        return replace(neuron, requant=replace(requant, thresholds=tuple(t + delta for t in requant.thresholds)))
    if isinstance(requant, ShiftRequant):
        return replace(neuron, requant=replace(requant, offset=requant.offset - delta * requant.multiplier))
    m, c = neuron.logit
    return replace(neuron, logit=(m, c - delta * m))


def mutate(design: Design, rng: np.random.Generator, config: RetrainConfig,
           bounds: list[tuple[int, int]]) -> Design:
    """One random move (see the module docstring)."""
    sizes = np.array([len(layer.neurons) for layer in design.layers], dtype=float)
    layer_index = int(rng.choice(len(sizes), p=sizes / sizes.sum()))
    layer = design.layers[layer_index]
    neuron_index = int(rng.integers(len(layer.neurons)))
    neuron = layer.neurons[neuron_index]
    weights = list(neuron.weights)
    nonzero = [i for i, w in enumerate(weights) if w]
    hidden = neuron.requant is not None and layer_index < len(design.layers) - 1
    weights_of_moves = np.array([0.28, 0.28, 0.24, 0.08, 0.04 if hidden else 0.0, 0.04, 0.04])
    move = rng.choice(MOVES, p=weights_of_moves / weights_of_moves.sum())
    if move == "prune" and nonzero:
        weights[int(rng.choice(nonzero))] = 0
        return _with_neuron(design, layer_index, neuron_index, replace(neuron, weights=tuple(weights)))
    if move == "step":
        low, high = bounds[layer_index]
        i = int(rng.integers(len(weights)))
        weights[i] = int(np.clip(weights[i] + rng.choice([-1, 1]), low, high))
        return _with_neuron(design, layer_index, neuron_index, replace(neuron, weights=tuple(weights)))
    if move == "truncate":
        truncation = int(np.clip(neuron.truncation + rng.choice([-1, 1]), 0, MAX_TRUNCATION))
        return _with_neuron(design, layer_index, neuron_index, replace(neuron, truncation=truncation))
    if move == "drop" and hidden:
        drop = int(np.clip(neuron.output_drop + rng.choice([-1, 1]), 0, MAX_DROP))
        return _with_neuron(design, layer_index, neuron_index, replace(neuron, output_drop=drop))
    if move == "silence" and nonzero:
        return _with_neuron(design, layer_index, neuron_index, replace(neuron, weights=(0,) * len(weights)))
    if move == "argmax":
        return replace(design, argmax_drop=int(np.clip(design.argmax_drop + rng.choice([-1, 1]), 0, MAX_DROP)))
    delta = int(rng.integers(1, config.threshold_step + 1)) * int(rng.choice([-1, 1]))
    return _with_neuron(design, layer_index, neuron_index, _move_threshold(neuron, delta))


def shrink(design: Design, rng: np.random.Generator, config: RetrainConfig,
           bounds: list[tuple[int, int]]) -> Design:
    """A move towards a smaller design: mostly pruning, sometimes a threshold move to follow it."""
    if rng.random() < 0.25:
        return mutate(design, rng, config, bounds)
    nonzero = [(li, j, i) for li, layer in enumerate(design.layers) for j, n in enumerate(layer.neurons)
               for i, w in enumerate(n.weights) if w]
    if not nonzero:
        return design
    li, j, i = nonzero[int(rng.integers(len(nonzero)))]
    neuron = design.layers[li].neurons[j]
    weights = list(neuron.weights)
    weights[i] = 0
    return _with_neuron(design, li, j, replace(neuron, weights=tuple(weights)))


def crossover(a: Design, b: Design, rng: np.random.Generator) -> Design:
    """Each neuron from either parent (same topology), argmax precision from one of them."""
    layers = []
    for la, lb in zip(a.layers, b.layers, strict=True):
        pick = rng.random(len(la.neurons)) < 0.5
        neurons = tuple(nb if p else na for na, nb, p in zip(la.neurons, lb.neurons, pick, strict=True))
        layers.append(Layer(la.name, neurons, la.output_bits, la.signed_output))
    return replace(a, layers=tuple(layers), argmax_drop=b.argmax_drop if rng.random() < 0.5 else a.argmax_drop)


# -- the search ----------------------------------------------------------------------------------
def retrain(design: Design, x_codes: np.ndarray, labels: np.ndarray, config: RetrainConfig = RetrainConfig(),
            *, progress: bool = False) -> RetrainResult:
    """Evolve hardware-aware variants of ``design`` on (x_codes, labels); bit-true scoring."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(config.seed)
    labels = np.asarray(labels)
    x_codes = np.asarray(x_codes, dtype=np.int64)
    bounds = _weight_bounds(design, config)
    result = RetrainResult(start=_score(design, x_codes, labels, 0))
    result.evaluated[design] = result.start

    def scored(candidate: Design, generation: int) -> Scored:
        if candidate not in result.evaluated:
            result.evaluated[candidate] = _score(candidate, x_codes, labels, generation)
        return result.evaluated[candidate]

    # the first population spans the whole front: from a few moves to pruning most weights
    population = [result.start]
    weights = sum(1 for layer in design.layers for n in layer.neurons for w in n.weights if w)
    for moves in np.geomspace(1, max(2.0, 0.9 * weights), config.population - 1):
        child = design
        for _ in range(int(round(moves))):
            child = shrink(child, rng, config, bounds)
        population.append(scored(child, 0))
    bar = tqdm(range(1, config.generations + 1), desc="hardware-aware retraining", unit="gen",
               disable=not progress, leave=False)
    for generation in bar:
        objectives = np.array([[-s.accuracy, s.proxy_mm2] for s in population])
        ranks = _ranks(objectives)
        crowd = _crowding(objectives)
        children = []
        for _ in range(config.population):
            first, second = (_tournament(ranks, crowd, rng) for _ in range(2))
            child = population[first].design
            if rng.random() < config.crossover:
                child = crossover(child, population[second].design, rng)
            for _ in range(max(1, int(rng.poisson(config.mutations)))):
                child = mutate(child, rng, config, bounds)
            children.append(scored(child, generation))
        merged = population + children
        unique = list({s.design: s for s in merged}.values())
        survivors = select(np.array([[-s.accuracy, s.proxy_mm2] for s in unique]), config.population)
        population = [unique[i] for i in survivors]
        best = max(s.accuracy for s in population)
        bar.set_postfix(best=f"{best:.3f}", designs=len(result.evaluated))
    bar.close()
    return result


def _tournament(ranks: np.ndarray, crowd: np.ndarray, rng: np.random.Generator) -> int:
    a, b = rng.integers(len(ranks), size=2)
    if ranks[a] != ranks[b]:
        return int(a if ranks[a] < ranks[b] else b)
    return int(a if crowd[a] >= crowd[b] else b)


def _score(design: Design, x_codes: np.ndarray, labels: np.ndarray, generation: int) -> Scored:
    accuracy = float(np.mean(evaluate(design, x_codes).predictions == labels))
    return Scored(design, accuracy, area_proxy_mm2(design), generation)
