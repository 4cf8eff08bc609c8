"""Recompute every case of a baseline directory and compare it key by key with its stored estimate.

Estimates are deterministic, so the default tolerance is 1e-6 relative for every key: any change
of the estimators, the cards or the tools shows up. A changed card file (its content hash)
always counts as a drift. ``update=True`` rewrites the stored estimates on purpose.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from codesign.check.baselines import (
    DEFAULT_TOLERANCES,
    TOLERANCES_FILE,
    Case,
    load_cases,
    load_stored,
    load_tolerances,
    remove_stale,
    stored_estimates,
    write_text,
)
from codesign.errors import CodesignError, DataError
from codesign.estimate import HEADLINE, Drift, Estimate, compare

MAX_KEYS_NAMED = 8


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


def check_baselines(directory: str | os.PathLike, update: bool = False) -> CheckResult:
    """Recompute every case of ``directory/baselines.toml`` and compare it with its stored estimate.

    Without ``update`` a missing stored estimate is an error (nothing to compare with); with it,
    the stored estimates are rewritten from the current code and cards (and stale ones removed).
    Bad input raises a ``CodesignError``; drifts are in the result (``result.ok``, ``result.drifted``).
    """
    start = time.perf_counter()
    directory = Path(directory)
    if not directory.is_dir():
        what = "is a file, not a baseline directory" if directory.exists() else "no such baseline directory"
        raise DataError(f"{directory}: {what}", hint="pass the directory that holds baselines.toml")
    tolerances = load_tolerances(directory)
    cases = load_cases(directory)
    graphs: dict[Path, Any] = {}
    if not update:
        _require_stored(directory, cases, graphs)
    stored, unreadable = _read_stored(cases, update)
    results = []
    for case, card, backend in cases:
        began = time.perf_counter()
        baseline = stored[case.index]
        notes = [unreadable[case.index]] if case.index in unreadable else []
        current = _estimate(case, card, backend, graphs)
        drifts = sorted(compare(current, baseline, tolerances), key=_importance) if baseline is not None else []
        if baseline is not None and (drifts or update) and baseline.tool_versions != current.tool_versions:
            notes.append("tool versions differ: " + _versions_diff(baseline.tool_versions, current.tool_versions))
        status = _update_status(case, current) if update else ("drifted" if drifts else "ok")
        results.append(CaseResult(case, status, current, baseline, drifts, time.perf_counter() - began, notes))
    for result in results:  # written only once every case has been estimated: a failing case writes nothing
        if result.status in ("created", "updated"):
            _store(result.case, result.current)
    stale = sorted(stored_estimates(directory) - {case.relative_path for case, _, _ in cases})
    removed, kept = remove_stale(directory, stale) if update else ([], stale)
    notes = _unused_tolerances(tolerances, results)
    return CheckResult(directory, update, results, time.perf_counter() - start, stale=kept, removed=removed,
                       notes=notes)


def _require_stored(directory: Path, cases: list[tuple[Case, Any, Any]], graphs: dict[Path, Any]) -> None:
    """Every case has a stored estimate; a typo in a case's options (which also changes its file
    name) is reported as the typo, not as a missing file."""
    missing = [case for case, _, _ in cases if not case.estimate_path.is_file()]
    if not missing:
        return
    for case, card, backend in cases:
        if case in missing:
            _estimate(case, card, backend, graphs)
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    raise DataError(f"{missing[0].estimate_path}: no stored estimate for case {missing[0].index} "
                    f"({missing[0].label}){more}",
                    hint=f"run codesign check {directory} --update to create the baselines")


def _read_stored(cases: list[tuple[Case, Any, Any]], update: bool) -> tuple[dict[int, Estimate | None], dict[int, str]]:
    """Every stored estimate, read before the first (slow) estimate; unreadable ones are an error,
    or with ``update`` a note (they get replaced)."""
    stored: dict[int, Estimate | None] = {}
    unreadable: dict[int, str] = {}
    for case, _, _ in cases:
        stored[case.index] = None
        if case.estimate_path.is_file():
            try:
                stored[case.index] = load_stored(case)
            except DataError as exc:
                if not update:
                    raise
                unreadable[case.index] = f"replaced an unreadable stored estimate ({exc.message})"
    return stored, unreadable


def _update_status(case: Case, current: Estimate) -> str:
    if not case.estimate_path.is_file():
        return "created"
    stored = case.estimate_path.read_text(encoding="utf-8", errors="replace")
    return "unchanged" if stored == current.to_json() else "updated"


def _store(case: Case, current: Estimate) -> None:
    try:
        write_text(case.estimate_path, current.to_json())
    except OSError as exc:
        raise DataError(f"{case.estimate_path}: cannot be written ({exc.strerror or exc})",
                        hint="make the baseline directory writable") from None


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
