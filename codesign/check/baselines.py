"""A baseline directory on disk: its cases, its tolerances and its stored estimates.

    BASELINE_DIR/
      baselines.toml                        [[case]] model, card?, target?, options?
      tolerances.toml                       optional: [tolerances] "key or glob" = relative tolerance
      models/*.onnx                         the models the cases name (paths relative to BASELINE_DIR)
      estimates/<model stem>/<target>-<card>[-<options hash>].json

A case names its backend by ``target`` (any installed backend), its card by name or ``.toml``
path; without a card it takes the backend's default card, without a target the backend of the
card's family.  Every problem is a one-line ``CodesignError``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError, DataError, ParameterError
from codesign.estimate import DEFAULT_TOLERANCE, Estimate
from codesign.outputs import write_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BASELINES_FILE = "baselines.toml"
TOLERANCES_FILE = "tolerances.toml"
ESTIMATES_DIR = "estimates"
# Relative tolerance per estimate key (exact key, then the longest matching glob, then "*").
# Estimates are deterministic: any change is a drift unless tolerances.toml loosens the key.
DEFAULT_TOLERANCES: dict[str, float] = {"*": DEFAULT_TOLERANCE}
CASE_KEYS = ("model", "card", "target", "options")


@dataclass(frozen=True)
class Case:
    """One ``[[case]]`` of baselines.toml, resolved: model file, card, backend and stored path."""

    index: int  # 1-based position in baselines.toml
    model: Path
    model_spec: str  # as written in baselines.toml
    target: str
    card_name: str
    card_spec: str
    options: dict[str, Any]
    estimate_path: Path  # where the stored estimate lives
    relative_path: str  # estimate_path relative to the baseline directory, POSIX style

    @property
    def label(self) -> str:
        text = f"{self.model.stem} {self.target}/{self.card_name}"
        if self.card_spec.endswith(".toml"):
            text += f" ({self.card_spec})"
        return f"{text} {format_options(self.options)}" if self.options else text

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "model": self.model_spec, "target": self.target, "card": self.card_name,
                "options": self.options, "estimate": self.relative_path, "label": self.label}


def format_options(options: dict[str, Any]) -> str:
    return " ".join(f"{key}={json.dumps(value, sort_keys=True, default=str)}" for key, value in sorted(options.items()))


def options_hash(options: dict[str, Any]) -> str:
    """Short stable hash of a case's options (part of its stored estimate's file name)."""
    text = json.dumps(options, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "_"


def estimate_file(model: Path, target: str, card_name: str, options: dict[str, Any]) -> str:
    """``estimates/<model stem>/<target>-<card name>[-<options hash>].json`` (POSIX, relative)."""
    stem = f"{_safe(target)}-{_safe(card_name)}" + (f"-{options_hash(options)}" if options else "")
    return f"{ESTIMATES_DIR}/{_safe(model.stem)}/{stem}.json"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{path}: not valid TOML ({exc})", hint="fix the TOML syntax") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})", hint="check the file") from None


def load_tolerances(directory: Path) -> dict[str, float]:
    """DEFAULT_TOLERANCES updated with ``[tolerances]`` of tolerances.toml (if there is one)."""
    tolerances = dict(DEFAULT_TOLERANCES)
    path = directory / TOLERANCES_FILE
    if not path.exists():
        return tolerances
    data = _read_toml(path)
    unknown = sorted(set(data) - {"tolerances"})
    if unknown:
        raise DataError(f"{path}: unknown key {unknown[0]!r}",
                        hint='put per-key relative tolerances in a [tolerances] table, e.g. "latency_s" = 0.02')
    table = data.get("tolerances", {})
    if not isinstance(table, dict):
        raise DataError(f"{path}: 'tolerances' must be a table", hint='write [tolerances] then "key" = 0.01 lines')
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ParameterError(f"{path}: tolerance {key!r} = {value!r} is not a non-negative number",
                                 hint="a relative tolerance, e.g. 0.02 for 2%")
        tolerances[key] = float(value)
    return tolerances


def _case_error(path: Path, index: int, message: str, hint: str) -> ParameterError:
    return ParameterError(f"{path}: case {index}: {message}", hint=hint)


def _entries(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"{path}: no such file", hint="a baseline directory needs a baselines.toml with [[case]] "
                        "entries (see docs/ci.md)")
    data = _read_toml(path)
    unknown = sorted(set(data) - {"case", "description"})
    if unknown:
        raise DataError(f"{path}: unknown key {unknown[0]!r}", hint="expected [[case]] tables (and description)")
    entries = data.get("case")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise DataError(f"{path}: no [[case]] entries", hint='add [[case]] with model = "..." and card = "..."')
    return entries


def _check_entry(path: Path, index: int, entry: dict[str, Any]) -> None:
    extra = sorted(set(entry) - set(CASE_KEYS))
    if extra:
        raise _case_error(path, index, f"unknown key {extra[0]!r}", f"use {', '.join(CASE_KEYS)}")
    if not isinstance(entry.get("model"), str) or not entry["model"].strip():
        raise _case_error(path, index, "missing model", 'add model = "..." (relative to the baseline directory)')
    target, card = entry.get("target"), entry.get("card")
    if target is not None and (not isinstance(target, str) or not target):
        raise _case_error(path, index, f"target {target!r} is not a backend name", "e.g. target = \"fpga\"")
    if card is None and target is None:
        raise _case_error(path, index, "missing card", 'add card = "..." (card name or .toml path), or target = "..." '
                          "for that backend's default card")
    if card is not None and (not isinstance(card, str) or not card.strip()):
        raise _case_error(path, index, f"card {card!r} is not a card name", 'add card = "..." (card name or .toml path)')
    if not isinstance(entry.get("options", {}), dict):
        raise _case_error(path, index, "options must be a table", "write options = { reuse_factor = 2 }")


def _resolve(directory: Path, entry: dict[str, Any], cards: dict[str, Any]) -> tuple[Any, Any, str]:
    """(card, backend, card as written) of a case: an explicit card, or the target's default card."""
    from codesign.backends import backend_for, get_backend
    from codesign.cards import load_card

    target, spec = entry.get("target"), entry.get("card")
    if spec is None:
        spec = get_backend(target).default_card
    card_path = directory / spec if spec.endswith(".toml") else None
    key = str(card_path) if card_path else spec
    if key not in cards:
        cards[key] = load_card(card_path or spec)
    return cards[key], backend_for(target, cards[key]), spec


def load_cases(directory: Path) -> list[tuple[Case, Any, Any]]:
    """[(case, card, backend)] of baselines.toml; every problem is a one-line CodesignError."""
    path = directory / BASELINES_FILE
    cards: dict[str, Any] = {}
    cases, seen = [], {}
    for index, entry in enumerate(_entries(path), start=1):
        _check_entry(path, index, entry)
        options = entry.get("options", {})
        model = directory / entry["model"]
        if not model.is_file():
            raise DataError(f"{path}: case {index}: model {entry['model']} not found ({model})",
                            hint="model paths are relative to the baseline directory")
        try:
            card, backend, spec = _resolve(directory, entry, cards)
        except CodesignError as exc:
            raise type(exc)(f"{path}: case {index}: {exc.message}", hint=exc.hint) from None
        relative = estimate_file(model, backend.name, card.name, options)
        case = Case(index=index, model=model, model_spec=entry["model"], target=backend.name, card_name=card.name,
                    card_spec=spec, options=dict(options), estimate_path=directory / relative, relative_path=relative)
        if relative in seen:
            raise _case_error(path, index, f"would store its estimate in {relative} like case {seen[relative]} "
                              "(same model file name, target, card name and options)",
                              "remove the duplicate case, or rename the model or the card")
        seen[relative] = index
        cases.append((case, card, backend))
    return cases


def stored_estimates(directory: Path) -> set[str]:
    """Every estimate file under ``estimates/``, relative to the directory."""
    root = directory / ESTIMATES_DIR
    if not root.is_dir():
        return set()
    return {p.relative_to(directory).as_posix() for p in root.rglob("*.json")}


def load_stored(case: Case) -> Estimate:
    try:
        estimate = Estimate.load(case.estimate_path)
        _check_shape(estimate)
        return estimate
    except CodesignError as exc:
        message = exc.message if str(case.estimate_path) in exc.message else f"{case.estimate_path}: {exc.message}"
        raise DataError(message, hint="regenerate it with codesign check --update") from None


def _check_shape(estimate: Estimate) -> None:
    """The fields a comparison reads have the record's types (a hand-edited file may not)."""
    checks = (("breakdown", isinstance(estimate.breakdown, dict)
               and all(isinstance(v, dict) for v in estimate.breakdown.values())),
              ("resources", isinstance(estimate.resources, dict)),
              ("tool_versions", isinstance(estimate.tool_versions, dict)),
              ("card_hash", isinstance(estimate.card_hash, str)),
              ("throughput_inf_per_s", estimate.throughput_inf_per_s is None
               or (isinstance(estimate.throughput_inf_per_s, int | float)
                   and not isinstance(estimate.throughput_inf_per_s, bool))))
    wrong = [name for name, ok in checks if not ok]
    if wrong:
        raise DataError(f"not an estimate record ({wrong[0]} has the wrong type)")


def write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (the one place ``--update`` writes: a deliberate rewrite
    of the stored estimates)."""
    write_file(path, text, replace="always")


def remove_stale(directory: Path, names: list[str]) -> tuple[list[str], list[str]]:
    """Delete stored estimates no case produces (and their emptied model folders).

    Only files that are estimate records go; anything else under ``estimates/`` is the user's
    and stays. Returns (removed, kept).
    """
    removed, kept = [], []
    for name in names:
        path = directory / name
        try:
            Estimate.load(path)
        except CodesignError:
            kept.append(name)
            continue
        path.unlink()
        removed.append(name)
        parent = path.parent
        if parent != directory / ESTIMATES_DIR and not any(parent.iterdir()):
            parent.rmdir()
    return removed, kept
