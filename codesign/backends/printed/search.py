"""Per-neuron approximation search with Optuna's NSGA-II: accuracy vs a fast area proxy.

Each trial scores an approximate design bit-true on the search data (milliseconds); only the
designs picked for the accuracy-loss budgets, and a few Pareto points, are synthesised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.backends.printed.approximate import (
    COEFFICIENT_TOLERANCES,
    Approximation,
    NeuronKnobs,
    apply,
    cost_proxy,
)
from codesign.backends.printed.design import Design, evaluate
from codesign.errors import ParameterError


@dataclass(frozen=True)
class Candidate:
    approximation: Approximation
    accuracy: float
    proxy: float
    trial: int


@dataclass(frozen=True)
class SearchResult:
    exact_accuracy: float
    exact_proxy: float
    candidates: tuple[Candidate, ...]  # every distinct trial
    design: Design | None = None
    validation: tuple[np.ndarray, np.ndarray] | None = None  # held-out (codes, labels) for the picks

    def pareto(self) -> list[Candidate]:
        """Non-dominated candidates (higher accuracy, lower proxy), by proxy."""
        front, best = [], -1.0
        for c in sorted(self.candidates, key=lambda c: (c.proxy, -c.accuracy)):
            if c.accuracy > best:
                front.append(c)
                best = c.accuracy
        return front

    def within(self, loss: float) -> Candidate:
        """The cheapest candidate whose accuracy is at most ``loss`` below the exact design's, on
        the search data and, when held-out validation data was given, on that too (a pick that
        only fits the search data does not count)."""
        allowed = sorted((c for c in self.candidates if c.accuracy >= self.exact_accuracy - loss - 1e-12),
                         key=lambda c: (c.proxy, -c.accuracy))
        if self.validation is None or self.design is None:
            return allowed[0]
        codes, labels = self.validation
        exact = float(np.mean(evaluate(self.design, codes).predictions == labels))
        for candidate in allowed:
            held_out = float(np.mean(evaluate(apply(self.design, candidate.approximation), codes).predictions == labels))
            if held_out >= exact - loss - 1e-12:
                return candidate
        return allowed[-1]  # unreachable: the exact design is always allowed


def _suggest(trial, design: Design) -> Approximation:
    layers = []
    for li, layer in enumerate(design.layers):
        knobs = []
        for j, neuron in enumerate(layer.neurons):
            tolerance = COEFFICIENT_TOLERANCES[trial.suggest_int(f"l{li}n{j}_coef", 0, len(COEFFICIENT_TOLERANCES) - 1)]
            truncation = trial.suggest_int(f"l{li}n{j}_trunc", 0, 8)
            drop = digits = 0
            if neuron.requant is not None and li < len(design.layers) - 1:
                drop = trial.suggest_int(f"l{li}n{j}_drop", 0, max(neuron.requant.high.bit_length() - 1, 0))
                digits = trial.suggest_int(f"l{li}n{j}_rdigits", 0, 4)
            knobs.append(NeuronKnobs(tolerance, truncation, drop, digits))
        layers.append(tuple(knobs))
    return Approximation(tuple(layers), trial.suggest_int("argmax_drop", 0, 8))


def search(design: Design, x_codes: np.ndarray, labels: np.ndarray, *, trials: int = 400, seed: int = 0,
           storage: str | None = None, study_name: str | None = None, progress: bool = False,
           validation: tuple[np.ndarray, np.ndarray] | None = None) -> SearchResult:
    """Explore approximations of the exact ``design``; accuracy is measured on (x_codes, labels),
    and budget picks must also hold on ``validation`` (codes, labels) when given."""
    import optuna

    if trials < 1:
        raise ParameterError(f"trials = {trials} must be >= 1", hint="e.g. 400")
    labels = np.asarray(labels)
    exact_accuracy = float(np.mean(evaluate(design, x_codes).predictions == labels))
    exact = Approximation.exact(design)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=40)
    study = optuna.create_study(directions=["minimize", "maximize"], sampler=sampler, storage=storage,
                                study_name=study_name, load_if_exists=storage is not None)
    if not study.trials:
        study.enqueue_trial({name: 0 for name in _parameter_names(design)})
        for params in _uniform_starts(design)[:max(trials // 4, 1)]:
            study.enqueue_trial(params)
    seen: dict = {}

    def objective(trial) -> tuple[float, float]:
        approximation = _suggest(trial, design)
        candidate = apply(design, approximation)
        accuracy = float(np.mean(evaluate(candidate, x_codes).predictions == labels))
        proxy = cost_proxy(candidate)
        seen.setdefault(approximation, Candidate(approximation, accuracy, proxy, trial.number))
        return proxy, accuracy

    remaining = max(trials - len(study.trials), 0)
    study.optimize(objective, n_trials=remaining, show_progress_bar=progress)
    if exact not in seen:  # resumed study: score the exact design again
        seen[exact] = Candidate(exact, exact_accuracy, cost_proxy(design), -1)
    return SearchResult(exact_accuracy, cost_proxy(design), tuple(seen.values()), design, validation)


def _parameter_names(design: Design) -> list[str]:
    names = []
    for li, layer in enumerate(design.layers):
        for j, neuron in enumerate(layer.neurons):
            names += [f"l{li}n{j}_coef", f"l{li}n{j}_trunc"]
            if neuron.requant is not None and li < len(design.layers) - 1:
                names += [f"l{li}n{j}_drop", f"l{li}n{j}_rdigits"]
    return [*names, "argmax_drop"]


def _uniform_starts(design: Design) -> list[dict]:
    """Whole-design settings of increasing strength: starting points on every part of the front,
    which random initial populations of a many-parameter search rarely contain."""
    starts = []
    for coef in range(0, 7):
        for trunc in range(0, 7, 2):
            for drop in (0, 1, 2):
                params = {}
                for name in _parameter_names(design):
                    kind = name.rsplit("_", 1)[1]
                    params[name] = {"coef": coef, "trunc": trunc, "drop": drop, "rdigits": 3 if drop else 0}[kind]
                starts.append(params)
    return starts
