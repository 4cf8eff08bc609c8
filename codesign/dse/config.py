"""Sweep configuration: a TOML file parsed into frozen dataclasses and validated up front.

Every problem is one line that names the offending key (``space.weight_bits``,
``targets[1].card``) and what to write instead; see docs/sweep.md for the reference.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError, ParameterError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

METRICS = ("energy_j", "area_mm2", "latency_s", "power_w")
FAULT_MODELS = ("card", "bit_faults", "variability")
TOP_KEYS = ("dataset", "seed", "epochs", "trials", "objectives", "study_name", "out", "training", "search", "space",
            "targets")
TRAINING_KEYS = ("learning_rate", "batch_size", "fault_model", "fault_level", "regularization")
SEARCH_KEYS = ("population_size", "reuse_duplicates")
MODEL_KEYS = ("weight_bits", "act_bits", "input_bits", "hidden", "fault_aware")  # the rest: backend knobs
TARGET_KEYS = ("name", "target", "card", "options", "space")  # plus any option of the target's backend
LEGACY_OPTION_NAMES = {"search_trials": "trials"}


class SweepConfigError(ParameterError):
    """The sweep configuration file has a missing, unknown or invalid key."""


@dataclass(frozen=True)
class TargetSpec:
    """One hardware target evaluated for every trial."""

    name: str  # label in objective names: "<name>.energy_j"
    target: str  # backend name (`codesign backends`)
    card: str
    options: dict[str, Any] = field(default_factory=dict)  # fixed backend options (validated by its schema)
    knobs: dict[str, tuple] = field(default_factory=dict)  # backend options varied per trial: {option: choices}

    def metric_names(self) -> list[str]:
        return [f"{self.name}.accuracy", *(f"{self.name}.{m}" for m in METRICS)]

    def param_name(self, knob: str) -> str:
        return f"{self.name}.{knob}"

    def trial_options(self, params: dict[str, Any]) -> dict[str, Any]:
        """The backend options of one trial: the fixed ones and this trial's knob choices."""
        return {**self.options, **{knob: params[self.param_name(knob)] for knob in self.knobs}}


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
        _positive_int(trials, "trials", self.source)
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
    _known(data, TOP_KEYS, "", source)
    if "dataset" not in data:
        raise SweepConfigError(f"{source}: missing key 'dataset'",
                               hint="e.g. dataset = \"breast_cancer\" (scikit-learn name, uci:NAME or a CSV path)")
    dataset = data["dataset"]
    if not isinstance(dataset, str) or not dataset.strip():
        raise SweepConfigError(f"{source}: dataset = {dataset!r} must be a non-empty string",
                               hint="e.g. dataset = \"breast_cancer\"")
    seed = _int(data.get("seed", 0), "seed", source, low=0)
    epochs = _positive_int(data.get("epochs", 20), "epochs", source)
    trials = _positive_int(data.get("trials", 50), "trials", source)
    study_name = data.get("study_name", "codesign-sweep")
    if not isinstance(study_name, str) or not study_name:
        raise SweepConfigError(f"{source}: study_name = {study_name!r} must be a non-empty string",
                               hint="e.g. study_name = \"breast-cancer\"")
    out = data.get("out")
    if out is not None and (not isinstance(out, str) or not out):
        raise SweepConfigError(f"{source}: out = {out!r} must be a directory path", hint="e.g. out = \"runs/sweep\"")

    training = _training(_table(data.get("training", {}), "training", source), source)
    search = _table(data.get("search", {}), "search", source)
    _known(search, SEARCH_KEYS, "search.", source)
    population = _int(search.get("population_size", 20), "search.population_size", source, low=2)
    reuse = _bool(search.get("reuse_duplicates", True), "search.reuse_duplicates", source)
    space = _space(_table(data.get("space", {}), "space", source), source)
    targets = _targets(data.get("targets"), space, source)
    space = _replace(space, knobs={k: _choices(v, f"space.{k}", source) for k, v in space.knobs.items()})
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
    _known(table, TRAINING_KEYS, "training.", source)
    rate = _float(table.get("learning_rate", 0.02), "training.learning_rate", source)
    if not rate > 0:
        raise SweepConfigError(f"{source}: training.learning_rate = {rate} must be > 0", hint="e.g. 0.02")
    batch = _positive_int(table.get("batch_size", 64), "training.batch_size", source)
    model = table.get("fault_model", "card")
    if model not in FAULT_MODELS:
        raise SweepConfigError(f"{source}: training.fault_model = {model!r} is unknown",
                               hint=f"use one of {', '.join(FAULT_MODELS)}")
    level = _float(table.get("fault_level", 0.1), "training.fault_level", source)
    if not 0 <= level <= 1:
        raise SweepConfigError(f"{source}: training.fault_level = {level} must be in [0, 1]", hint="e.g. 0.1")
    regularization = _float(table.get("regularization", 0.0), "training.regularization", source)
    if regularization < 0:
        raise SweepConfigError(f"{source}: training.regularization = {regularization} must be >= 0", hint="e.g. 0.1")
    return Training(rate, batch, model, level, regularization)


def _space(table: dict, source: str) -> Space:
    defaults = Space()
    values: dict[str, Any] = {}
    for key in ("weight_bits", "act_bits", "input_bits"):
        values[key] = _int_choices(table.get(key, list(getattr(defaults, key))), f"space.{key}", source, 1, 16)
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
    values["hidden"] = _unique(shapes, "space.hidden", source)
    aware = table.get("fault_aware", [False])
    if isinstance(aware, bool):
        aware = [aware]
    if not isinstance(aware, list) or not aware or not all(isinstance(a, bool) for a in aware):
        raise SweepConfigError(f"{source}: space.fault_aware = {aware!r} must be a list of booleans",
                               hint="e.g. fault_aware = [false, true]")
    values["fault_aware"] = _unique(aware, "space.fault_aware", source)
    values["knobs"] = {key: value for key, value in table.items() if key not in MODEL_KEYS}  # checked with targets
    return Space(**values)


def _choices(value, name: str, source: str) -> tuple:
    """A knob's choices: a list, one value, or an integer range table {low, high, step}."""
    if isinstance(value, dict):
        return _int_choices(value, name, source, -2**31, 2**31)
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str | int | float | bool) for v in values):
        raise SweepConfigError(f"{source}: {name} = {value!r} must be a list of numbers, strings or booleans",
                               hint="e.g. [1, 2, 4]")
    return _unique(values, name, source)


def _targets(entries, space: Space, source: str) -> tuple[TargetSpec, ...]:
    if not isinstance(entries, list) or not entries:
        raise SweepConfigError(f"{source}: missing [[targets]]", hint="add at least one, e.g. [[targets]] "
                               "target = \"fpga\" card = \"pynq-z2\"")
    takers = _knob_takers(entries)
    for knob in space.knobs:
        if knob not in takers:
            known = sorted({*MODEL_KEYS, *takers})
            raise SweepConfigError(f"{source}: unknown key 'space.{knob}'",
                                   hint=f"use one of {', '.join(known)} (backend knobs: `codesign backends --options TARGET`)")
        _choices(space.knobs[knob], f"space.{knob}", source)
    targets = [_target(entry, f"targets[{index}]", space, source) for index, entry in enumerate(entries)]
    names = [t.name for t in targets]
    for index, name in enumerate(names):
        if name == "accuracy" or names.index(name) != index:
            raise SweepConfigError(f"{source}: targets[{index}].name = {name!r} is used twice",
                                   hint="give targets of the same backend distinct names")
    return tuple(targets)


def _knob_takers(entries: list) -> set[str]:
    """Sweep knobs of the installed backends the config's targets name (for the unknown-key check)."""
    from codesign.backends.base import get_backend, installed_backends

    knobs: set[str] = set()
    for entry in entries:
        target = entry.get("target") if isinstance(entry, dict) else None
        if target in installed_backends():
            with contextlib.suppress(CodesignError):
                knobs.update(get_backend(target).sweep_knobs)
    return knobs


def _target(entry, key: str, space: Space, source: str) -> TargetSpec:
    from codesign.backends.base import get_backend, installed_backends
    from codesign.cards import load_card

    if not isinstance(entry, dict):
        raise SweepConfigError(f"{source}: {key} must be a table", hint="write [[targets]] sections")
    target = entry.get("target")
    installed = installed_backends()
    if target not in installed:
        raise SweepConfigError(f"{source}: {key}.target = {target!r} is unknown",
                               hint=f"use one of {', '.join(installed)} (`codesign backends`)")
    try:
        backend = get_backend(target)
    except CodesignError as exc:
        raise SweepConfigError(f"{source}: {key}.target: {exc.message}", hint=exc.hint) from None
    schema = backend.options
    for extra in entry:
        if extra not in TARGET_KEYS and LEGACY_OPTION_NAMES.get(extra, extra) not in schema:
            raise SweepConfigError(f"{source}: unknown key '{key}.{extra}'",
                                   hint=f"use {', '.join(TARGET_KEYS)} or a {target} option "
                                   f"(`codesign backends --options {target}`)")
    card_name = entry.get("card", backend.default_card)
    if not isinstance(card_name, str) or not card_name:
        raise SweepConfigError(f"{source}: {key}.card = {card_name!r} must be a card name",
                               hint="name a card (see `codesign cards`)")
    try:
        card = load_card(card_name)
    except CodesignError as exc:
        raise SweepConfigError(f"{source}: {key}.card: {exc.message}", hint=exc.hint) from None
    if card.family != backend.family:
        raise SweepConfigError(f"{source}: {key}.card = {card_name!r} is a {card.family} card, not {backend.family}",
                               hint=f"pick a {backend.family} card (`codesign cards --family {backend.family}`)")
    name = entry.get("name", target)
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise SweepConfigError(f"{source}: {key}.name = {name!r} must be letters, digits, - or _",
                               hint="e.g. name = \"fpga_small\"")
    options = entry.get("options", {})
    if not isinstance(options, dict):
        raise SweepConfigError(f"{source}: {key}.options must be a table", hint="e.g. options = { strategy = \"Latency\" }")
    shorthand = {LEGACY_OPTION_NAMES.get(k, k): v for k, v in entry.items() if k not in TARGET_KEYS}
    options = {**shorthand, **options}
    own_space = _table(entry.get("space", {}), f"{key}.space", source)
    knobs = {k: _choices(v, f"space.{k}", source) for k, v in space.knobs.items() if k in backend.sweep_knobs}
    for knob, value in own_space.items():
        if knob not in backend.sweep_knobs:
            raise SweepConfigError(f"{source}: {key}.space.{knob} is not a sweep knob of {target}",
                                   hint=f"{target} knobs: {', '.join(backend.sweep_knobs) or 'none'}")
        knobs[knob] = _choices(value, f"{key}.space.{knob}", source)
    for knob in knobs:
        if knob in options:
            raise SweepConfigError(f"{source}: {key}.options.{knob} is also swept",
                                   hint=f"set it in {key}.options or in the space, not both")
    for knob, choices in knobs.items():
        where = f"{key}.space.{knob}" if knob in own_space else f"space.{knob}"
        for index, choice in enumerate(choices):
            _validated(backend, {knob: choice}, f"{where}[{index}]", source)
    _validated(backend, options, f"{key}.options", source)
    return TargetSpec(name, target, card_name, dict(options), knobs)


def _validated(backend, options: dict, where: str, source: str) -> dict:
    """Options checked by the backend's own schema, the error naming the config key."""
    try:
        return backend.options.resolve(backend.name, options, "sweep")
    except CodesignError as exc:
        raise SweepConfigError(f"{source}: {where}: {exc.message}", hint=exc.hint) from None


def noise_target(targets) -> TargetSpec | None:
    """The first target whose backend gives fault-aware training a device noise model."""
    from codesign.backends.base import get_backend
    from codesign.cards import load_card

    for target in targets:
        if get_backend(target.target).training_noise(load_card(target.card)) is not None:
            return target
    return None


# -- small validators --------------------------------------------------------------------------------
def _known(table: dict, keys: tuple[str, ...], prefix: str, source: str) -> None:
    for key in table:
        if key not in keys:
            raise SweepConfigError(f"{source}: unknown key '{prefix}{key}'", hint=f"use one of {', '.join(keys)}")


def _table(value, name: str, source: str) -> dict:
    if not isinstance(value, dict):
        raise SweepConfigError(f"{source}: {name} must be a table", hint=f"write a [{name}] section")
    return value


def _int(value, name: str, source: str, *, low: int | None = None, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SweepConfigError(f"{source}: {name} = {value!r} must be an integer", hint=f"e.g. {name.split('.')[-1]} = 4")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise SweepConfigError(f"{source}: {name} = {value} must be {bounds}", hint="change the value")
    return value


def _positive_int(value, name: str, source: str) -> int:
    return _int(value, name, source, low=1)


def _float(value, name: str, source: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise SweepConfigError(f"{source}: {name} = {value!r} must be a number", hint="e.g. 0.1")
    return float(value)


def _bool(value, name: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise SweepConfigError(f"{source}: {name} = {value!r} must be true or false", hint="write true or false")
    return value


def _int_choices(value, name: str, source: str, low: int, high: int) -> tuple[int, ...]:
    """A list of integers, one integer, or a range table {low, high, step}."""
    if isinstance(value, dict):
        unknown = set(value) - {"low", "high", "step"}
        if unknown or "low" not in value or "high" not in value:
            raise SweepConfigError(f"{source}: {name} range must be {{ low = A, high = B[, step = S] }}",
                                   hint=f"e.g. {name.split('.')[-1]} = {{ low = 2, high = 6 }}")
        start = _int(value["low"], f"{name}.low", source, low=low, high=high)
        stop = _int(value["high"], f"{name}.high", source, low=start, high=high)
        step = _int(value.get("step", 1), f"{name}.step", source, low=1)
        return tuple(range(start, stop + 1, step))
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise SweepConfigError(f"{source}: {name} must be a non-empty list of integers or {{ low, high }}",
                               hint=f"e.g. {name.split('.')[-1]} = [2, 3, 4]")
    for index, item in enumerate(value):
        _int(item, f"{name}[{index}]", source, low=low, high=high)
    return _unique(value, name, source)


def _unique(values: list, name: str, source: str) -> tuple:
    if len(set(values)) != len(values):
        raise SweepConfigError(f"{source}: {name} lists a value twice", hint="list each choice once")
    return tuple(values)
