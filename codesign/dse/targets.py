"""Sweep targets: which backend and card each trial is measured on, with its options and knobs.

Everything a target may say is declared by its backend (options, sweep knobs, default card), so
a third-party backend works in sweeps without changes here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from codesign.dse.config_values import SweepConfigError, choices, table
from codesign.errors import CodesignError

METRICS = ("energy_j", "area_mm2", "latency_s", "power_w")
MODEL_KEYS = ("weight_bits", "act_bits", "input_bits", "hidden", "fault_aware")  # the rest: backend knobs
TARGET_KEYS = ("name", "target", "card", "options", "space")  # plus any option of the target's backend
LEGACY_OPTION_NAMES = {"search_trials": "trials"}


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


def parse_targets(entries, knobs: dict[str, Any], source: str) -> tuple[TargetSpec, ...]:
    if not isinstance(entries, list) or not entries:
        raise SweepConfigError(f"{source}: missing [[targets]]", hint="add at least one, e.g. [[targets]] "
                               "target = \"fpga\" card = \"pynq-z2\"")
    takers = _knob_takers(entries)
    for knob in knobs:
        if knob not in takers:
            known = sorted({*MODEL_KEYS, *takers})
            raise SweepConfigError(f"{source}: unknown key 'space.{knob}'",
                                   hint=f"use one of {', '.join(known)} (backend knobs: `codesign backends --options TARGET`)")
        choices(knobs[knob], f"space.{knob}", source)
    targets = [_target(entry, f"targets[{index}]", knobs, source) for index, entry in enumerate(entries)]
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


def _target(entry, key: str, shared_knobs: dict[str, Any], source: str) -> TargetSpec:
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
    own_space = table(entry.get("space", {}), f"{key}.space", source)
    knobs = {k: choices(v, f"space.{k}", source) for k, v in shared_knobs.items() if k in backend.sweep_knobs}
    for knob, value in own_space.items():
        if knob not in backend.sweep_knobs:
            raise SweepConfigError(f"{source}: {key}.space.{knob} is not a sweep knob of {target}",
                                   hint=f"{target} knobs: {', '.join(backend.sweep_knobs) or 'none'}")
        knobs[knob] = choices(value, f"{key}.space.{knob}", source)
    for knob in knobs:
        if knob in options:
            raise SweepConfigError(f"{source}: {key}.options.{knob} is also swept",
                                   hint=f"set it in {key}.options or in the space, not both")
    for knob, values in knobs.items():
        where = f"{key}.space.{knob}" if knob in own_space else f"space.{knob}"
        for index, choice in enumerate(values):
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
