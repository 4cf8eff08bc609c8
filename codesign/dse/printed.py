"""Printed co-design search: topology, weight / activation / input precision, ternary vs multi-bit,
sparsity and the approximations, searched together for bespoke printed classifiers.

Each trial draws an architecture (Optuna TPE over ``PrintedSpace``, on the sweep machinery's
storage: SQLite in the output directory by default, resumable, any RDB URL; run by
``codesign.dse.printed_search``, reproducibly whatever the workers' timing), trains it with
Brevitas QAT on the *search* part of the training split, builds its exact bespoke design and
retrains it in hardware (``codesign.backends.printed.retrain``: a genetic search over integer
weights, thresholds, truncations and dropped bits, scored bit-true against an area proxy). Every
design on that trial's front is scored on the held-out *validation* part; the trial's objective
is the hypervolume of its validation front, which steers the sampler towards architectures that
give good designs anywhere on the accuracy / area trade-off. The test split is used only for
the final report (``codesign.dse.printed_report``): which designs are synthesised and shown is
decided on the accuracy over the whole training split (search and validation parts).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from codesign.backends.printed.retrain import RetrainConfig
from codesign.errors import ParameterError
from codesign.outputs import write_file

WEIGHTS = {"binary": 1, "ternary": 2, "int3": 3, "int4": 4, "int8": 8}
ACTIVATIONS = {"sign": ("sign", 1), "step": ("relu", 1), "relu2": ("relu", 2), "relu3": ("relu", 3),
               "relu4": ("relu", 4)}
AREA_SPAN_MM2 = (0.1, 1e4)  # hypervolume box on log10(area): 0.1 mm^2 (under one gate) to 100 cm^2
POLISH_SAMPLES = 2000
POLISH_DESIGNS = 16  # front designs per trial whose converter levels are co-designed (spread over the front)


@dataclass(frozen=True)
class PrintedSpace:
    hidden: tuple[int, ...] = (2, 3, 4, 6, 8, 12)
    input_bits: tuple[int, ...] = (1, 2, 3, 4)
    weights: tuple[str, ...] = ("ternary", "binary", "int3")
    activation: tuple[str, ...] = ("sign", "relu2")
    sparsity: tuple[float, ...] = (0.0, 0.003, 0.01, 0.03)  # L1 pull of latent weights towards 0
    input_affine: tuple[bool, ...] = (True,)
    # comparators per feature: k > 1 reads each feature through k 1-bit comparators at learned levels
    # (a flash converter's thermometer code, no encoder), i.e. a learned non-uniform k-level input
    thermometer: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        for name, values, known in (("weights", self.weights, WEIGHTS), ("activation", self.activation, ACTIVATIONS)):
            unknown = [v for v in values if v not in known]
            if unknown or not values:
                raise ParameterError(f"space.{name}: {unknown or 'empty'} not in {', '.join(known)}",
                                     hint=f"choose from {', '.join(known)}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ParameterError(f"space.hidden {self.hidden} must be positive sizes", hint="e.g. (2, 4, 8)")
        if not self.thermometer or any(not 1 <= k <= 15 for k in self.thermometer):
            raise ParameterError(f"space.thermometer {self.thermometer} must be in 1..15", hint="e.g. (1, 3)")
        if not self.input_bits or any(not 1 <= b <= 8 for b in self.input_bits):
            raise ParameterError(f"space.input_bits {self.input_bits} must be in 1..8", hint="e.g. (1, 2, 3, 4)")


@dataclass(frozen=True)
class PrintedSearchConfig:
    dataset: str  # a CSV path, uci:NAME or a scikit-learn set name
    space: PrintedSpace = field(default_factory=PrintedSpace)
    trials: int = 48
    epochs: int = 60
    learning_rate: float = 0.02
    batch_size: int = 64
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    validation_fraction: float = 0.25
    seed: int = 0
    card: str = "egfet-1v"
    time_budget_s: float | None = None  # stop starting trials after this long (None: run all trials)
    polish_levels: bool = True  # co-design the converter levels of every front design (converter_levels)

    def __post_init__(self) -> None:
        if self.trials < 1 or self.epochs < 1:
            raise ParameterError(f"trials ({self.trials}) and epochs ({self.epochs}) must be >= 1", hint="e.g. 48, 30")
        if not 0 < self.validation_fraction < 0.5:
            raise ParameterError(f"validation_fraction {self.validation_fraction} must be in (0, 0.5)", hint="e.g. 0.25")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=list))


@dataclass(frozen=True)
class Splits:
    """Search / validation parts of the training split, and the untouched test split."""

    name: str
    classes: int
    x_search: np.ndarray
    y_search: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def training_set(self):
        from codesign.data import Dataset

        return Dataset(self.name, self.x_search, self.y_search, self.x_val, self.y_val,
                       tuple(str(c) for c in range(self.classes)))

    def thermometer(self, copies: int) -> Splits:
        """Every feature repeated ``copies`` times: the model reads each sensor through that many
        1-bit comparators (their levels are the copies' learned offsets)."""
        if copies == 1:
            return self
        return replace(self, x_search=expand(self.x_search, copies), x_val=expand(self.x_val, copies),
                       x_test=expand(self.x_test, copies))


def expand(x: np.ndarray, copies: int) -> np.ndarray:
    """Each feature repeated ``copies`` times side by side (the model input of thermometer inputs)."""
    return np.repeat(np.asarray(x), copies, axis=1)


def make_splits(dataset: str, *, seed: int = 0, validation_fraction: float = 0.25) -> Splits:
    from sklearn.model_selection import train_test_split

    from codesign.data import load_dataset

    data = load_dataset(dataset, seed=seed)
    x_search, x_val, y_search, y_val = train_test_split(
        data.x_train, data.y_train, test_size=validation_fraction, random_state=seed,
        stratify=data.y_train if np.bincount(data.y_train).min() >= 2 else None)
    return Splits(data.name, data.num_classes, x_search, y_search, x_val, y_val, data.x_test, data.y_test)


def suggest(trial, space: PrintedSpace) -> dict[str, Any]:
    return {
        "hidden": trial.suggest_categorical("hidden", list(space.hidden)),
        "input_bits": trial.suggest_categorical("input_bits", list(space.input_bits)),
        "weights": trial.suggest_categorical("weights", list(space.weights)),
        "activation": trial.suggest_categorical("activation", list(space.activation)),
        "sparsity": trial.suggest_categorical("sparsity", list(space.sparsity)),
        "input_affine": trial.suggest_categorical("input_affine", list(space.input_affine)),
        "thermometer": trial.suggest_categorical("thermometer", list(space.thermometer)),
    }


def seed_params(space: PrintedSpace) -> list[dict[str, Any]]:
    """Architectures the study starts with, before TPE: the cheapest corners of the space (fewest
    hidden gates, fewest input bits, ternary / binary threshold gates, the strongest pull to zero
    weights) and the richest (most gates and input bits, the widest weights). Random start-up trials
    rarely draw either end, and TPE only refines the regions it has seen; the fronts' cheap ends
    (a few gates on one or two comparators) and accurate ends both need them."""
    def first(values, preferred):
        return next((v for v in preferred if v in values), values[0])

    hidden, bits = sorted(space.hidden), sorted(space.input_bits)
    gate = first(space.activation, ("sign", "step"))
    cheap = first(space.weights, ("ternary", "binary"))
    wide = max(space.weights, key=lambda w: WEIGHTS[w])
    rich_act = max(space.activation, key=lambda a: ACTIVATIONS[a][1])
    common = {"input_affine": space.input_affine[0], "thermometer": min(space.thermometer)}
    seeds = [
        {"hidden": hidden[0], "input_bits": bits[0], "weights": cheap, "activation": gate,
         "sparsity": max(space.sparsity)},
        {"hidden": hidden[min(1, len(hidden) - 1)], "input_bits": bits[min(1, len(bits) - 1)], "weights": cheap,
         "activation": gate, "sparsity": max(space.sparsity)},
        {"hidden": hidden[len(hidden) // 2], "input_bits": bits[len(bits) // 2], "weights": cheap, "activation": gate,
         "sparsity": sorted(space.sparsity)[len(space.sparsity) // 2]},
        {"hidden": hidden[-1], "input_bits": bits[-1], "weights": cheap, "activation": rich_act,
         "sparsity": min(space.sparsity)},
        {"hidden": hidden[-1], "input_bits": bits[-1], "weights": wide, "activation": rich_act,
         "sparsity": min(space.sparsity)},
    ]
    unique: list[dict[str, Any]] = []
    for seed in seeds:
        if {**seed, **common} not in unique:
            unique.append({**seed, **common})
    return unique


def mlp_config(params: dict[str, Any]):
    from codesign.quant import MLPConfig

    activation, act_bits = ACTIVATIONS[params["activation"]]
    copies = int(params.get("thermometer", 1))
    return MLPConfig(hidden=(int(params["hidden"]),), weight_bits=WEIGHTS[params["weights"]], act_bits=act_bits,
                     input_bits=1 if copies > 1 else int(params["input_bits"]), activation=activation, batchnorm=True,
                     input_affine=bool(params["input_affine"]) or copies > 1)


def spread_levels(model, copies: int) -> None:
    """Start the k comparators of every feature at the levels (j + 1) / (k + 1) of its [0, 1] range."""
    import torch

    from codesign.quant.input_affine import InputAffine

    affine = next(m for m in model.modules() if isinstance(m, InputAffine))
    levels = torch.arange(1, copies + 1, dtype=torch.float32) / (copies + 1)
    with torch.no_grad():  # code 1 when x + offset >= 0.5
        affine.offset.copy_((0.5 - levels).repeat(affine.offset.numel() // copies))


def sparsity_penalty(strength: float):
    """L1 of the latent weights relative to each layer's largest: pulls weights into the zero band
    of low-bit quantisers (pruned connections cost nothing in a bespoke circuit)."""
    seen: list = [None, []]  # the model last seen and its layers: walking Brevitas' module tree every batch cost 8 %

    def penalty(model):
        from codesign.quant.noisy import noisy_layers

        if seen[0] is not model:
            seen[:] = [model, noisy_layers(model)]
        terms = [layer.weight.abs().mean() / layer.weight.abs().max().detach().clamp_min(1e-8) for layer in seen[1]]
        return strength * sum(terms)
    return penalty if strength > 0 else None


# -- one trial ---------------------------------------------------------------------------------------
def run_trial(config: PrintedSearchConfig, params: dict[str, Any], splits: Splits, trial_dir: Path,
              seed: int) -> list[dict[str, Any]]:
    """Train, export, build, retrain in hardware; the trial's validation front as candidates."""
    from codesign.backends.printed.design import build, evaluate
    from codesign.backends.printed.retrain import pareto_front, retrain
    from codesign.backends.printed.serialize import design_to_dict
    from codesign.dse.converter_levels import input_stage, polish, write_offsets
    from codesign.ir import load
    from codesign.ir.reference import input_codes
    from codesign.quant import Topology, TrainConfig, build_mlp, train
    from codesign.quant.export import export_qonnx, training_metadata

    trial_dir.mkdir(parents=True, exist_ok=True)
    started = time.process_time()
    mlp = mlp_config(params)
    copies = int(params.get("thermometer", 1))
    splits = splits.thermometer(copies)
    data = splits.training_set()
    train_config = TrainConfig(epochs=config.epochs, batch_size=config.batch_size,
                               learning_rate=config.learning_rate, seed=seed)
    model = build_mlp(Topology(data.features, splits.classes, mlp), seed=seed)
    if copies > 1:
        spread_levels(model, copies)
    result = train(model, data, train_config, progress=False, loss_hook=sparsity_penalty(float(params["sparsity"])))
    metadata = {**training_metadata(mlp, train_config, dataset=splits.name),
                "printed_search_params": json.dumps(params, sort_keys=True)}
    graph = load(export_qonnx(result.model, trial_dir / "model.onnx", in_features=data.features, metadata=metadata))
    exact = build(graph, name=f"{splits.name}_t{trial_dir.name}")
    x_search, x_val = input_codes(graph, splits.x_search), input_codes(graph, splits.x_val)
    trained = time.process_time()
    evolved = retrain(exact, x_search, splits.y_search, replace(config.retrain, seed=seed))
    retrained = time.process_time()
    candidates = []
    stage = input_stage(graph)
    # converter levels are tuned on at most POLISH_SAMPLES search samples (the move is scored, not fitted)
    subset = np.random.default_rng(seed).permutation(len(splits.y_search))[:POLISH_SAMPLES]
    x_polish, y_polish = splits.x_search[subset], splits.y_search[subset]
    front = pareto_front(list(evolved.evaluated.values()))
    polished = set(np.linspace(0, len(front) - 1, min(len(front), POLISH_DESIGNS)).round().astype(int).tolist())
    for index, item in enumerate(front):
        variants = [("model.onnx", item.accuracy, x_val)]
        if stage is not None and config.polish_levels and index in polished:  # converter levels co-designed
            offsets, _ = polish(item.design, stage, x_polish, y_polish, seed=seed)
            codes = stage.codes(splits.x_search, offsets)
            accuracy = float(np.mean(evaluate(item.design, codes).predictions == splits.y_search))
            if accuracy > item.accuracy + 1e-12:
                path = write_offsets(trial_dir / "model.onnx", offsets, trial_dir / f"levels_{index}.onnx")
                variants.append((path.name, accuracy, stage.codes(splits.x_val, offsets)))
        for model, accuracy, codes in variants:
            predictions = evaluate(item.design, codes).predictions
            candidates.append({"design": design_to_dict(item.design), "search_accuracy": accuracy,
                               "validation_accuracy": float(np.mean(predictions == splits.y_val)),
                               "proxy_mm2": item.proxy_mm2, "exact": item.design == exact, "model": model,
                               "input_copies": copies,
                               "constant": bool(len(np.unique(predictions)) == 1)})
    write_file(trial_dir / "candidates.json", json.dumps(
        {"params": params, "seed": seed, "fake_quant_validation_accuracy": result.test_accuracy,
         "evaluated_designs": len(evolved.evaluated), "candidates": candidates,
         "cpu_seconds": {"training": trained - started, "retraining": retrained - trained,
                         "converter_levels": time.process_time() - retrained}},
        sort_keys=True) + "\n", replace="own")
    return candidates


def hypervolume(candidates: list[dict[str, Any]], floor: float) -> float:
    """Area dominated by (validation accuracy, log area) points above ``floor`` accuracy."""
    low, high = (math.log10(a) for a in AREA_SPAN_MM2)
    points = sorted((min(max((math.log10(max(c["proxy_mm2"], AREA_SPAN_MM2[0])) - low) / (high - low), 0.0), 1.0),
                      c["validation_accuracy"]) for c in candidates
                     if not c["constant"] and c["validation_accuracy"] > floor)
    volume, best = 0.0, floor
    for position, (x, accuracy) in enumerate(points):
        best = max(best, accuracy)
        right = points[position + 1][0] if position + 1 < len(points) else 1.0
        volume += (right - x) * (best - floor)
    return volume
