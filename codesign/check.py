"""``codesign check``: recompute stored estimates and fail when one drifted (the CI regression check).

A baseline directory holds the cases to recompute and the estimates they produced when the
baseline was last updated::

    BASELINE_DIR/
      baselines.toml                        [[case]] model, card, target?, options?
      tolerances.toml                       optional: [tolerances] "key or glob" = relative tolerance
      models/*.onnx                         the models the cases name (paths relative to BASELINE_DIR)
      estimates/<model stem>/<target>-<card>[-<options hash>].json

``check_baselines(directory)`` recomputes every case and compares it key by key with the stored
estimate (``codesign.estimate.compare``); ``update=True`` rewrites the stored estimates on purpose.
Estimates are deterministic, so the default tolerance is 1e-6 relative for every key: any change
of the estimators, the cards or the tools shows up.  A changed card file (its content hash) always
counts as a drift.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError, DataError, ParameterError
from codesign.estimate import DEFAULT_TOLERANCE, HEADLINE, Drift, Estimate, compare
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
MAX_KEYS_NAMED = 8


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------
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


@dataclass
class CaseResult:
    """What happened to one case: ``ok``, ``drifted`` (check) or ``created``/``updated``/``unchanged`` (update)."""

    case: Case
    status: str
    current: Estimate
    baseline: Estimate | None
    drifts: list[Drift]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.case.to_dict(), "status": self.status, "seconds": round(self.seconds, 4),
                "drifts": [_drift_dict(d, self) for d in self.drifts], "notes": self.notes}


@dataclass
class CheckResult:
    """The outcome of ``check_baselines``: ``ok`` unless a case drifted (never after an update)."""

    directory: Path
    update: bool
    cases: list[CaseResult]
    seconds: float
    stale: list[str] = field(default_factory=list)  # stored estimates no case produces
    removed: list[str] = field(default_factory=list)  # stale ones deleted by an update
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> list[CaseResult]:
        return [r for r in self.cases if r.status == "drifted"]

    @property
    def changed(self) -> list[CaseResult]:
        return [r for r in self.cases if r.status in ("created", "updated")]

    @property
    def ok(self) -> bool:
        return not self.drifted

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> str:
        where = f"{self.directory} ({self.seconds:.1f} s)"
        count = len(self.cases)
        if self.update:
            created = sum(r.status == "created" for r in self.cases)
            updated = sum(r.status == "updated" for r in self.cases)
            text = (f"updated baselines: {count} cases, {created} created, {updated} rewritten, "
                    f"{count - created - updated} unchanged")
            if self.removed:
                text += f", {len(self.removed)} stale removed"
            return f"{text} in {where}"
        if self.ok:
            return f"baselines hold: {count} cases, no drift in {where}"
        parts = [f"{r.case.label} ({_keys_named(r.drifts)})" for r in self.drifted]
        return (f"{len(self.drifted)} of {count} cases drifted in {where}: {'; '.join(parts)}; "
                f"if the change is intended, run codesign check {self.directory} --update and commit the estimates")

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "update": self.update, "ok": self.ok,
                "seconds": round(self.seconds, 3), "summary": self.summary(),
                "cases": [r.to_dict() for r in self.cases], "stale": self.stale, "removed": self.removed,
                "notes": self.notes}


def _keys_named(drifts: list[Drift]) -> str:
    keys = [d.key for d in drifts]
    shown = ", ".join(keys[:MAX_KEYS_NAMED])
    return shown + (f", +{len(keys) - MAX_KEYS_NAMED} more" if len(keys) > MAX_KEYS_NAMED else "")


def _finite(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "inf" if value > 0 else "-inf"


def _drift_dict(drift: Drift, result: CaseResult) -> dict[str, Any]:
    data = {"key": drift.key, "baseline": drift.baseline, "current": drift.current,
            "relative_change": _finite(drift.relative_change), "tolerance": drift.tolerance,
            "description": drift.describe()}
    if drift.key == "card_hash" and result.baseline is not None:
        data["baseline"], data["current"] = result.baseline.card_hash, result.current.card_hash
    return data


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


# ---------------------------------------------------------------------------------------------
# Reading the baseline directory
# ---------------------------------------------------------------------------------------------
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


def load_cases(directory: Path) -> list[tuple[Case, Any, Any]]:
    """[(case, card, backend)] of baselines.toml; every problem is a one-line CodesignError."""
    from codesign.backends import backend_for
    from codesign.cards import load_card

    path = directory / BASELINES_FILE
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
    cards: dict[str, Any] = {}
    cases, seen = [], {}
    for index, entry in enumerate(entries, start=1):
        extra = sorted(set(entry) - set(CASE_KEYS))
        if extra:
            raise _case_error(path, index, f"unknown key {extra[0]!r}", f"use {', '.join(CASE_KEYS)}")
        for key in ("model", "card"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise _case_error(path, index, f"missing {key}",
                                  f'add {key} = "..."' + (" (relative to the baseline directory)"
                                                          if key == "model" else " (card name or .toml path)"))
        target = entry.get("target")
        if target is not None and (not isinstance(target, str) or not target):
            raise _case_error(path, index, f"target {target!r} is not a backend name", "e.g. target = \"fpga\"")
        options = entry.get("options", {})
        if not isinstance(options, dict):
            raise _case_error(path, index, "options must be a table", "write options = { reuse_factor = 2 }")
        model = directory / entry["model"]
        if not model.is_file():
            raise DataError(f"{path}: case {index}: model {entry['model']} not found ({model})",
                            hint="model paths are relative to the baseline directory")
        spec = entry["card"]
        card_path = directory / spec if spec.endswith(".toml") else None
        key = str(card_path) if card_path else spec
        try:
            if key not in cards:
                cards[key] = load_card(card_path or spec)
            card = cards[key]
            backend = backend_for(target, card)
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


def _stored_estimates(directory: Path) -> set[str]:
    root = directory / ESTIMATES_DIR
    if not root.is_dir():
        return set()
    return {p.relative_to(directory).as_posix() for p in root.rglob("*.json")}


def _load_stored(case: Case) -> Estimate:
    try:
        return Estimate.load(case.estimate_path)
    except CodesignError as exc:
        message = exc.message if str(case.estimate_path) in exc.message else f"{case.estimate_path}: {exc.message}"
        raise DataError(message, hint="regenerate it with codesign check --update") from None


def _write_atomic(path: Path, text: str) -> None:
    """--update rewrites the stored estimates on purpose: the one deliberate replacement."""
    write_file(path, text, replace="always")


# ---------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------
def check_baselines(directory: str | os.PathLike, update: bool = False) -> CheckResult:
    """Recompute every case of ``directory/baselines.toml`` and compare it with its stored estimate.

    Without ``update`` a missing stored estimate is an error (nothing to compare with); with it,
    the stored estimates are rewritten from the current code and cards (and stale ones removed).
    Bad input raises a ``CodesignError``; drifts are in the result (``result.ok``, ``result.drifted``).
    """
    start = time.perf_counter()
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such baseline directory",
                        hint="pass the directory that holds baselines.toml")
    tolerances = load_tolerances(directory)
    cases = load_cases(directory)
    graphs: dict[Path, Any] = {}
    if not update:
        missing = [case for case, _, _ in cases if not case.estimate_path.is_file()]
        if missing:
            # a typo in a case's options also changes its file name: report the typo, not the file
            for case, card, backend in cases:
                if case in missing:
                    _estimate(case, card, backend, graphs)
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DataError(f"{missing[0].estimate_path}: no stored estimate for case {missing[0].index} "
                            f"({missing[0].label}){more}",
                            hint=f"run codesign check {directory} --update to create the baselines")
    stored: dict[int, Estimate | None] = {}
    unreadable: dict[int, str] = {}
    for case, _, _ in cases:  # every stored estimate is read before the first (slow) estimate
        stored[case.index] = None
        if case.estimate_path.is_file():
            try:
                stored[case.index] = _load_stored(case)
            except DataError as exc:
                if not update:
                    raise
                unreadable[case.index] = f"replaced an unreadable stored estimate ({exc.message})"
    results = []
    for case, card, backend in cases:
        began = time.perf_counter()
        baseline = stored[case.index]
        notes = [unreadable[case.index]] if case.index in unreadable else []
        current = _estimate(case, card, backend, graphs)
        drifts = sorted(compare(current, baseline, tolerances), key=_importance) if baseline is not None else []
        if baseline is not None and (drifts or update) and baseline.tool_versions != current.tool_versions:
            notes.append("tool versions differ: " + _versions_diff(baseline.tool_versions, current.tool_versions))
        if update:
            text = current.to_json()
            if not case.estimate_path.is_file():
                status = "created"
            elif case.estimate_path.read_text(encoding="utf-8", errors="replace") != text:
                status = "updated"
            else:
                status = "unchanged"
            if status != "unchanged":
                _write_atomic(case.estimate_path, text)
        else:
            status = "drifted" if drifts else "ok"
        results.append(CaseResult(case, status, current, baseline, drifts, time.perf_counter() - began, notes))
    stale = sorted(_stored_estimates(directory) - {case.relative_path for case, _, _ in cases})
    removed = []
    if update:
        for name in stale:
            (directory / name).unlink()
            removed.append(name)
            parent = (directory / name).parent
            if parent != directory / ESTIMATES_DIR and not any(parent.iterdir()):
                parent.rmdir()
    notes = _unused_tolerances(tolerances, results)
    return CheckResult(directory, update, results, time.perf_counter() - start,
                       stale=[] if update else stale, removed=removed, notes=notes)


def _importance(drift: Drift) -> tuple[int, str]:
    """Card first, then the headline numbers, resources, breakdown: the order drifts are named in."""
    key = drift.key
    if key == "card_hash":
        rank = 0
    elif key in HEADLINE:
        rank = 1 + HEADLINE.index(key)
    elif "." not in key:
        rank = 1 + len(HEADLINE)
    else:
        rank = {"resources": 10, "breakdown": 11}.get(key.split(".", 1)[0], 12)
    return rank, key


def _estimate(case: Case, card: Any, backend: Any, graphs: dict[Path, Any]) -> Estimate:
    from codesign.ir import load

    try:
        if case.model not in graphs:
            graphs[case.model] = load(case.model)
        return backend.estimate(graphs[case.model], card, **case.options)
    except CodesignError as exc:
        raise type(exc)(f"case {case.index} ({case.label}): {exc.message}", hint=exc.hint) from None


def _versions_diff(before: dict[str, str], after: dict[str, str]) -> str:
    names = sorted(set(before) | set(after))
    return ", ".join(f"{n} {before.get(n, '-')} -> {after.get(n, '-')}" for n in names if before.get(n) != after.get(n))


def _unused_tolerances(tolerances: dict[str, float], results: list[CaseResult]) -> list[str]:
    """Tolerance keys that match no estimate key: most likely a typo in tolerances.toml."""
    keys = set()
    for result in results:
        keys |= set(result.current.flat())
    unused = [pattern for pattern in tolerances
              if pattern not in DEFAULT_TOLERANCES and not any(key == pattern or fnmatch(key, pattern) for key in keys)]
    return [f"{TOLERANCES_FILE}: {pattern!r} matches no estimate key" for pattern in unused]


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("directory", metavar="BASELINE_DIR",
                        help="directory with baselines.toml, tolerances.toml (optional) and estimates/")
    parser.add_argument("--update", action="store_true",
                        help="rewrite the stored estimates from the current code and cards (on purpose), exit 0")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    result = check_baselines(args.directory, update=args.update)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print_result(result)
    return 0 if args.update else result.exit_code


def _console():
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _change(drift: Drift) -> str:
    if drift.key == "card_hash":
        return "card changed"
    if drift.baseline is None:
        return "new key"
    if drift.current is None:
        return "key removed"
    change = drift.relative_change
    return "inf" if change is None or not math.isfinite(change) else f"{change:+.4%}"


def drift_table(results: list[CaseResult], title: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name, justify in (("case", "left"), ("key", "left"), ("baseline", "right"), ("current", "right"),
                          ("change", "right"), ("tolerance", "right")):
        table.add_column(name, justify=justify, overflow="fold")
    for result in results:
        for index, drift in enumerate(result.drifts):
            if drift.key == "card_hash" and result.baseline is not None:
                before, after, tolerance = result.baseline.card_hash[:12], result.current.card_hash[:12], "-"
            else:
                before, after = _number(drift.baseline), _number(drift.current)
                tolerance = f"{drift.tolerance:.3g}"
            table.add_row(result.case.label if index == 0 else "", drift.key, before, after, _change(drift),
                          tolerance)
        if result.drifts:
            table.add_section()
    return table


STATUS_WORDS = {"ok": "ok", "drifted": "DRIFT", "created": "created", "updated": "updated", "unchanged": "unchanged"}


def print_result(result: CheckResult) -> None:
    console = _console()
    for r in result.cases:
        console.print(f"{STATUS_WORDS[r.status]:9s} {r.case.label}  [{r.case.relative_path}, {r.seconds:.2f} s]",
                      markup=False, soft_wrap=True)
    with_drifts = [r for r in result.cases if r.drifts]
    if with_drifts:
        title = "changes written to the baselines" if result.update else "drifted keys"
        console.print(drift_table(with_drifts, title))
    for r in result.cases:
        for note in r.notes:
            console.print(f"note: {r.case.label}: {note}", markup=False, soft_wrap=True)
    for name in result.stale:
        console.print(f"note: {name} belongs to no case (codesign check --update removes it)", markup=False, soft_wrap=True)
    for name in result.removed:
        console.print(f"removed {name} (no case produces it)", markup=False, soft_wrap=True)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    console.print(result.summary(), markup=False, soft_wrap=True)
