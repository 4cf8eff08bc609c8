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

from codesign.dse.config import SweepConfig, TargetSpec

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
        if target.target == "fpga":
            params[f"{target.name}.reuse_factor"] = trial.suggest_categorical(
                f"{target.name}.reuse_factor", list(space.reuse_factor))
        elif target.target == "printed":
            params[f"{target.name}.accuracy_loss"] = trial.suggest_categorical(
                f"{target.name}.accuracy_loss", list(space.accuracy_loss))
    return params


@dataclass
class Outcome:
    """What a trial measured: headline metrics (objective candidates) and per-target details."""

    metrics: dict[str, float]
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: Path | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of this process (wall time minus waiting for a core)

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
    from codesign.cards import load_card
    from codesign.noise import named_model

    training = config.training
    card = None
    if training.fault_model == "card":
        card = load_card(next(t.card for t in config.targets if t.target == "crossbar"))
    return named_model(training.fault_model, level=training.fault_level, card=card)


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

    started, cpu_started = time.perf_counter(), time.process_time()
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
                      round(time.process_time() - cpu_started, 3))
    report = {"params": params, "metrics": metrics, "targets": targets, "model": path.name,
              "seed": config.seed, "dataset": data.name}
    (trial_dir / "estimates.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return outcome


def estimate_target(config: SweepConfig, target: TargetSpec, params: dict[str, Any], graph, data,
                    reference_accuracy: float) -> dict[str, Any]:
    """{'target', 'card', 'options', 'accuracy', 'estimate': Estimate.to_dict(), ...} of one target."""
    from codesign.backends.base import get_backend
    from codesign.cards import load_card

    card = load_card(target.card)
    details: dict[str, Any] = {"target": target.target, "card": target.card}
    if target.target == "fpga":
        options = {**target.options, "reuse_factor": int(params[f"{target.name}.reuse_factor"])}
        estimate = get_backend("fpga").estimate(graph, card, **options)
        details.update(options=options, accuracy=reference_accuracy,
                       accuracy_source="integer reference on the test split (bit-exact on the FPGA)")
    elif target.target == "crossbar":
        from codesign.backends.crossbar.simulator import simulate

        options = dict(target.options)
        estimate = get_backend("crossbar").estimate(graph, card, x=data.x_test, **options)
        simulation = simulate(graph, card, data.x_test, data.y_test, instances=target.instances, seed=config.seed,
                              keep_logits=False)
        details.update(options=options, accuracy=simulation.mean,
                       accuracy_source=f"Monte-Carlo mean over {target.instances} chip instances under the card's noise",
                       monte_carlo={"instances": target.instances, "seed": config.seed, "mean": simulation.mean,
                                    "worst": simulation.worst, "std": simulation.std})
    else:
        details.update(printed(config, target, params, graph, data, card))
        estimate = details.pop("_estimate")
    details["estimate"] = estimate.to_dict()
    return details


def printed(config: SweepConfig, target: TargetSpec, params: dict[str, Any], graph, data, card) -> dict[str, Any]:
    """Exact bespoke circuit, or the cheapest approximation within the trial's accuracy-loss budget."""
    from codesign.backends.printed.approximate import apply
    from codesign.backends.printed.design import build
    from codesign.backends.printed.design import evaluate as run_design
    from codesign.backends.printed.implement import implement
    from codesign.ir import execute
    from codesign.ir.reference import input_codes

    loss = float(params[f"{target.name}.accuracy_loss"])
    synthesis = {"timeout_s": float(target.options.get("synthesis_timeout", 600.0)),
                 "abc_script": str(target.options.get("abc_script", "fast"))}
    exact = build(graph)
    x_test = input_codes(graph, data.x_test)
    chosen, reference, search_info = exact, execute(graph, data.x_test).predictions, None
    if loss > 0:
        from codesign.backends.printed.search import search

        result = search(exact, input_codes(graph, data.x_train), data.y_train, trials=target.search_trials,
                        seed=config.seed)
        candidate = result.within(loss)
        chosen, reference = apply(exact, candidate.approximation), None
        search_info = {"trials": target.search_trials, "budget": loss, "exact_train_accuracy": result.exact_accuracy,
                       "chosen_train_accuracy": candidate.accuracy, "exact_proxy": result.exact_proxy,
                       "chosen_proxy": candidate.proxy}
    implementation = implement(chosen, card, x_test, activity_source=f"test samples of {data.name}",
                               reference_predictions=reference, **synthesis)
    predictions = run_design(chosen, x_test).predictions
    accuracy = float(np.mean(predictions == data.y_test))
    return {"options": {**target.options, "accuracy_loss": loss}, "accuracy": accuracy,
            "constant": constant_classifier(predictions),
            "accuracy_source": "gate-level design on the test split" + (f" (approximated within {loss:g} "
                                                                         "loss on the training split)" if loss else ""),
            "approximation": search_info, "verification": implementation.verification,
            "_estimate": implementation.estimate}


def constant_classifier(predictions: np.ndarray) -> bool:
    """True for a design that predicts one class for every test input: it costs no logic and
    scores the majority-class accuracy, so it must never count as a Pareto-optimal design."""
    return bool(len(np.unique(predictions)) <= 1)


def reproduce(config: SweepConfig, params: dict[str, Any], trial_dir: str | Path, data=None) -> Outcome:
    """Re-run a trial from its parameters (e.g. a Pareto point) into ``trial_dir``."""
    from codesign.data import load_dataset

    data = data if data is not None else load_dataset(config.dataset, seed=config.seed)
    return evaluate(config, params, data, trial_dir)
