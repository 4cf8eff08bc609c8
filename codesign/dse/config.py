"""Sweep configuration: a TOML file parsed into frozen dataclasses and validated up front.

Every problem is one line that names the offending key (``space.weight_bits``,
``targets[1].card``) and what to write instead; see docs/sweep.md for the reference.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codesign.dse import config_values as check
from codesign.dse.config_values import SweepConfigError
from codesign.dse.targets import MODEL_KEYS, TargetSpec, noise_target, parse_targets

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAULT_MODELS = ("card", "bit_faults", "variability")
TOP_KEYS = ("dataset", "seed", "epochs", "trials", "objectives", "study_name", "out", "training", "search", "space",
            "targets")
TRAINING_KEYS = ("learning_rate", "batch_size", "fault_model", "fault_level", "regularization")
SEARCH_KEYS = ("population_size", "reuse_duplicates")


@dataclass(frozen=True)
class Space:
    """The search space: every list is a categorical choice of Optuna's NSGA-II sampler."""

    weight_bits: tuple[int, ...] = (2, 3, 4)
    act_bits: tuple[int, ...] = (2, 3, 4)
    input_bits: tuple[int, ...] = (4,)
    hidden: tuple[tuple[int, ...], ...] = ((8,), (16,), (16, 8))
    fault_aware: tuple[bool, ...] = (False,)
    knobs: dict[str, tuple] = field(default_factory=dict)  # backend knobs for every target that has them


@dataclass(frozen=True)
class Training:
    learning_rate: float = 0.02
    batch_size: int = 64
    fault_model: str = "card"  # noise seen by fault-aware training: card (first crossbar card), bit_faults, variability
    fault_level: float = 0.1  # bit-fault rate or variability sigma (not used by "card")
    regularization: float = 0.0  # fault-sensitivity penalty of fault-aware training


@dataclass(frozen=True)
class SweepConfig:
    dataset: str
    targets: tuple[TargetSpec, ...]
    seed: int = 0
    epochs: int = 20
    trials: int = 50
    objectives: tuple[str, ...] = ()  # empty: default_objectives()
    study_name: str = "codesign-sweep"
    out: str | None = None
    training: Training = field(default_factory=Training)
    space: Space = field(default_factory=Space)
    population_size: int = 20
    reuse_duplicates: bool = True
    source: str = "<dict>"

    # -- objectives ------------------------------------------------------------------------------
    def objective_names(self) -> list[str]:
        return list(self.objectives) if self.objectives else default_objectives(self)

    def directions(self) -> list[str]:
        return ["maximize" if name.endswith("accuracy") else "minimize" for name in self.objective_names()]

    def known_objectives(self) -> list[str]:
        return ["accuracy", *(name for t in self.targets for name in t.metric_names())]

    def target(self, name: str) -> TargetSpec:
        return next(t for t in self.targets if t.name == name)

    def with_trials(self, trials: int) -> SweepConfig:
        check.positive_int(trials, "trials", self.source)
        return _replace(self, trials=trials)

    # -- identity of a study: everything that changes what a trial computes -------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source")
        return data

    def fingerprint(self) -> str:
        data = self.to_dict()
        for key in ("trials", "out", "study_name"):
            data.pop(key)
        data["objectives"] = self.objective_names()
        text = json.dumps(data, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_objectives(config: SweepConfig) -> list[str]:
    """Reference accuracy; the accuracy of each target whose hardware can change it (device noise,
    approximation budgets: the backend says); energy and area of every target."""
    from codesign.backends.base import get_backend

    names = ["accuracy"]
    for t in config.targets:
        if get_backend(t.target).varies_accuracy(t.knobs):
            names.append(f"{t.name}.accuracy")
    for t in config.targets:
        names += [f"{t.name}.energy_j", f"{t.name}.area_mm2"]
    return names


def _replace(config: SweepConfig, **changes) -> SweepConfig:
    from dataclasses import replace

    return replace(config, **changes)


# -- parsing ----------------------------------------------------------------------------------------
def load_config(path: str | os.PathLike) -> SweepConfig:
    """Read and validate a sweep TOML file."""
    path = Path(path)
    if not path.is_file():
        raise SweepConfigError(f"{path}: no such sweep config", hint="pass the path of a .toml file "
                               "(see examples/sweep_small.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SweepConfigError(f"{path}: not valid TOML ({exc})", hint="fix the syntax") from None
    return parse_config(data, source=str(path))


def parse_config(data: dict[str, Any], *, source: str = "<dict>") -> SweepConfig:
    """Validate a dict (as read from TOML) into a SweepConfig; raises SweepConfigError naming the key."""
    if not isinstance(data, dict):
        raise SweepConfigError(f"{source}: the sweep config must be a table", hint="see docs/sweep.md")
    check.known(data, TOP_KEYS, "", source)
    if "dataset" not in data:
        raise SweepConfigError(f"{source}: missing key 'dataset'",
                               hint="e.g. dataset = \"breast_cancer\" (scikit-learn name, uci:NAME or a CSV path)")
    dataset = data["dataset"]
    if not isinstance(dataset, str) or not dataset.strip():
        raise SweepConfigError(f"{source}: dataset = {dataset!r} must be a non-empty string",
                               hint="e.g. dataset = \"breast_cancer\"")
    seed = check.integer(data.get("seed", 0), "seed", source, low=0)
    epochs = check.positive_int(data.get("epochs", 20), "epochs", source)
    trials = check.positive_int(data.get("trials", 50), "trials", source)
    study_name = data.get("study_name", "codesign-sweep")
    if not isinstance(study_name, str) or not study_name:
        raise SweepConfigError(f"{source}: study_name = {study_name!r} must be a non-empty string",
                               hint="e.g. study_name = \"breast-cancer\"")
    out = data.get("out")
    if out is not None and (not isinstance(out, str) or not out):
        raise SweepConfigError(f"{source}: out = {out!r} must be a directory path", hint="e.g. out = \"runs/sweep\"")

    training = _training(check.table(data.get("training", {}), "training", source), source)
    search = check.table(data.get("search", {}), "search", source)
    check.known(search, SEARCH_KEYS, "search.", source)
    population = check.integer(search.get("population_size", 20), "search.population_size", source, low=2)
    reuse = check.boolean(search.get("reuse_duplicates", True), "search.reuse_duplicates", source)
    space = _space(check.table(data.get("space", {}), "space", source), source)
    targets = parse_targets(data.get("targets"), space.knobs, source)
    space = _replace(space, knobs={k: check.choices(v, f"space.{k}", source) for k, v in space.knobs.items()})
    if training.fault_model == "card" and True in space.fault_aware and noise_target(targets) is None:
        raise SweepConfigError(f"{source}: training.fault_model = \"card\" needs a target with a device noise model",
                               hint="add e.g. a crossbar target, or use fault_model = \"bit_faults\" / \"variability\"")
    config = SweepConfig(dataset=dataset, targets=targets, seed=seed, epochs=epochs, trials=trials,
                         study_name=study_name, out=out, training=training, space=space,
                         population_size=population, reuse_duplicates=reuse, source=source)
    objectives = data.get("objectives", [])
    if not isinstance(objectives, list) or not all(isinstance(o, str) for o in objectives):
        raise SweepConfigError(f"{source}: objectives must be a list of names",
                               hint=f"e.g. objectives = [\"accuracy\", \"{targets[0].name}.energy_j\"]")
    known = config.known_objectives()
    for index, name in enumerate(objectives):
        if name not in known:
            raise SweepConfigError(f"{source}: objectives[{index}] = {name!r} is unknown",
                                   hint=f"use any of {', '.join(known)}")
    if len(set(objectives)) != len(objectives):
        raise SweepConfigError(f"{source}: objectives lists a name twice", hint="list each objective once")
    if objectives and len(objectives) < 2:
        raise SweepConfigError(f"{source}: objectives needs at least two names (a multi-objective sweep)",
                               hint=f"e.g. objectives = [\"accuracy\", \"{targets[0].name}.energy_j\"]")
    return _replace(config, objectives=tuple(objectives))


def _training(table: dict, source: str) -> Training:
    check.known(table, TRAINING_KEYS, "training.", source)
    rate = check.number(table.get("learning_rate", 0.02), "training.learning_rate", source)
    if not rate > 0:
        raise SweepConfigError(f"{source}: training.learning_rate = {rate} must be > 0", hint="e.g. 0.02")
    batch = check.positive_int(table.get("batch_size", 64), "training.batch_size", source)
    model = table.get("fault_model", "card")
    if model not in FAULT_MODELS:
        raise SweepConfigError(f"{source}: training.fault_model = {model!r} is unknown",
                               hint=f"use one of {', '.join(FAULT_MODELS)}")
    level = check.number(table.get("fault_level", 0.1), "training.fault_level", source)
    if not 0 <= level <= 1:
        raise SweepConfigError(f"{source}: training.fault_level = {level} must be in [0, 1]", hint="e.g. 0.1")
    regularization = check.number(table.get("regularization", 0.0), "training.regularization", source)
    if regularization < 0:
        raise SweepConfigError(f"{source}: training.regularization = {regularization} must be >= 0", hint="e.g. 0.1")
    return Training(rate, batch, model, level, regularization)


def _space(table: dict, source: str) -> Space:
    defaults = Space()
    values: dict[str, Any] = {}
    for key in ("weight_bits", "act_bits", "input_bits"):
        values[key] = check.int_choices(table.get(key, list(getattr(defaults, key))), f"space.{key}", source, 1, 16)
    hidden = table.get("hidden", [list(h) for h in defaults.hidden])
    if not isinstance(hidden, list) or not hidden:
        raise SweepConfigError(f"{source}: space.hidden must be a non-empty list of hidden-layer size lists",
                               hint="e.g. hidden = [[8], [16], [16, 8]]")
    shapes = []
    for index, shape in enumerate(hidden):
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = [shape]
        if not isinstance(shape, list) or not shape or not all(
                isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 4096 for h in shape):
            raise SweepConfigError(f"{source}: space.hidden[{index}] = {shape!r} must be a list of sizes in 1..4096",
                                   hint="e.g. hidden = [[8], [16], [16, 8]]")
        shapes.append(tuple(shape))
    values["hidden"] = check.unique(shapes, "space.hidden", source)
    aware = table.get("fault_aware", [False])
    if isinstance(aware, bool):
        aware = [aware]
    if not isinstance(aware, list) or not aware or not all(isinstance(a, bool) for a in aware):
        raise SweepConfigError(f"{source}: space.fault_aware = {aware!r} must be a list of booleans",
                               hint="e.g. fault_aware = [false, true]")
    values["fault_aware"] = check.unique(aware, "space.fault_aware", source)
    values["knobs"] = {key: value for key, value in table.items() if key not in MODEL_KEYS}  # checked with targets
    return Space(**values)


