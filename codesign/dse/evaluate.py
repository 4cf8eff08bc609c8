"""One sweep trial: train, export QONNX, measure accuracy, estimate every target.

A trial is a pure function of the sweep config and its parameters: training is seeded with
``config.seed`` (initial weights, batch order and fault sampling), torch runs on one thread,
and the Monte-Carlo simulation and the approximation search are seeded too, so re-running a
trial reproduces its model and its numbers (``reproduce``).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codesign.dse.config import SweepConfig
from codesign.dse.targets import TargetSpec

HIDDEN_SEPARATOR = "-"


def hidden_key(shape: tuple[int, ...]) -> str:
    return HIDDEN_SEPARATOR.join(str(h) for h in shape)


def hidden_shape(key: str) -> tuple[int, ...]:
    return tuple(int(h) for h in str(key).split(HIDDEN_SEPARATOR))


def suggest(trial, config: SweepConfig) -> dict[str, Any]:
    """The trial's parameters, as Optuna categorical choices (hidden shapes as '16-8' strings)."""
    space = config.space
    params = {
        "hidden": trial.suggest_categorical("hidden", [hidden_key(h) for h in space.hidden]),
        "weight_bits": trial.suggest_categorical("weight_bits", list(space.weight_bits)),
        "act_bits": trial.suggest_categorical("act_bits", list(space.act_bits)),
        "input_bits": trial.suggest_categorical("input_bits", list(space.input_bits)),
        "fault_aware": trial.suggest_categorical("fault_aware", list(space.fault_aware)),
    }
    for target in config.targets:
        for knob, choices in target.knobs.items():
            params[target.param_name(knob)] = trial.suggest_categorical(target.param_name(knob), list(choices))
    return params


@dataclass
class Outcome:
    """What a trial measured: headline metrics (objective candidates) and per-target details."""

    metrics: dict[str, float]
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: Path | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of this process (wall time minus waiting for a core)
    # CPU time of the thread that ran the trial (torch runs on it alone): without the process's other
    # threads (a Ray worker's core threads, the heartbeat), so only the trial's own work
    thread_cpu_seconds: float = 0.0

    def objectives(self, names: list[str]) -> list[float]:
        return [self.metrics[name] for name in names]


@contextlib.contextmanager
def single_thread():
    """torch on one thread (workers share the cores; results must not depend on thread count)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def training_noise(config: SweepConfig):
    """The noise fault-aware trials train with: a named model, or the device noise of a target's card."""
    from codesign.noise import named_model

    training = config.training
    if training.fault_model == "card":
        from codesign.backends.base import get_backend
        from codesign.cards import load_card
        from codesign.dse.targets import noise_target

        target = noise_target(config.targets)
        return get_backend(target.target).training_noise(load_card(target.card))
    return named_model(training.fault_model, level=training.fault_level)


def train_and_export(config: SweepConfig, params: dict[str, Any], data, path: Path):
    """Train the trial's MLP and write its QONNX file; returns (path, train result)."""
    from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
    from codesign.quant.export import export_qonnx, training_metadata

    mlp = MLPConfig(hidden=hidden_shape(params["hidden"]), weight_bits=int(params["weight_bits"]),
                    act_bits=int(params["act_bits"]), input_bits=int(params["input_bits"]))
    aware = bool(params["fault_aware"])
    training = config.training
    train_config = TrainConfig(epochs=config.epochs, batch_size=training.batch_size,
                               learning_rate=training.learning_rate, seed=config.seed,
                               noise=training_noise(config) if aware else None,
                               regularization=training.regularization if aware else 0.0)
    model = build_mlp(Topology(data.features, data.num_classes, mlp), seed=config.seed)
    result = train(model, data, train_config, progress=False)
    metadata = {**training_metadata(mlp, train_config, dataset=data.name),
                "sweep_params": json.dumps(params, sort_keys=True)}
    return export_qonnx(result.model, path, in_features=data.features, metadata=metadata), result


def evaluate(config: SweepConfig, params: dict[str, Any], data, trial_dir: str | Path) -> Outcome:
    """Run one trial into ``trial_dir`` (model.onnx, estimates.json)."""
    from codesign.ir import execute, load

    started, cpu_started, thread_started = time.perf_counter(), time.process_time(), time.thread_time()
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    with single_thread():
        path, result = train_and_export(config, params, data, trial_dir / "model.onnx")
        graph = load(path)
        predictions = execute(graph, data.x_test).predictions
        reference = float(np.mean(predictions == data.y_test))
        metrics: dict[str, float] = {"accuracy": reference, "train_accuracy": float(result.train_accuracy),
                                     "fake_quant_test_accuracy": float(result.test_accuracy),
                                     "constant_classifier": float(constant_classifier(predictions))}
        targets = {}
        for target in config.targets:
            details = estimate_target(config, target, params, graph, data, reference)
            targets[target.name] = details
            estimate = details["estimate"]
            metrics[f"{target.name}.accuracy"] = float(details["accuracy"])
            metrics[f"{target.name}.constant_classifier"] = float(details.pop("constant", metrics["constant_classifier"]))
            for metric in ("energy_j", "area_mm2", "latency_s", "power_w"):
                metrics[f"{target.name}.{metric}"] = float(estimate[metric])
    outcome = Outcome(metrics, targets, path, round(time.perf_counter() - started, 3),
                      round(time.process_time() - cpu_started, 3), round(time.thread_time() - thread_started, 3))
    report = {"params": params, "metrics": metrics, "targets": targets, "model": path.name,
              "seed": config.seed, "dataset": data.name}
    (trial_dir / "estimates.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return outcome


def estimate_target(config: SweepConfig, target: TargetSpec, params: dict[str, Any], graph, data,
                    reference_accuracy: float) -> dict[str, Any]:
    """{'target', 'card', 'options', 'accuracy', 'accuracy_source', 'estimate': Estimate.to_dict(), ...}
    of one target, measured by its backend's ``evaluate``."""
    from codesign.backends.base import get_backend
    from codesign.cards import load_card

    evaluation = get_backend(target.target).evaluate(graph, load_card(target.card), data, seed=config.seed,
                                                     reference_accuracy=reference_accuracy,
                                                     **target.trial_options(params))
    details = {key: _plain(value) for key, value in evaluation.details.items()}
    constant = {} if evaluation.constant_classifier is None else {"constant": evaluation.constant_classifier}
    return {**details, **constant, "target": target.target, "card": target.card,
            "accuracy": float(evaluation.accuracy),
            "accuracy_source": evaluation.accuracy_source, "estimate": evaluation.estimate.to_dict()}


def _plain(value):
    """Tuples (e.g. resolved float-list options) as lists, so trial records compare equal after JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def constant_classifier(predictions: np.ndarray) -> bool:
    """True for a design that predicts one class for every test input: it costs no logic and
    scores the majority-class accuracy, so it must never count as a Pareto-optimal design."""
    return bool(len(np.unique(predictions)) <= 1)


def reproduce(config: SweepConfig, params: dict[str, Any], trial_dir: str | Path, data=None) -> Outcome:
    """Re-run a trial from its parameters (e.g. a Pareto point) into ``trial_dir``."""
    from codesign.data import load_dataset

    data = data if data is not None else load_dataset(config.dataset, seed=config.seed)
    return evaluate(config, params, data, trial_dir)
