"""How a check result reads in a terminal: one line per case, a table of drifted keys, notes and
the one-line summary CI logs end with."""

from __future__ import annotations

import math

from codesign.check.runner import CaseResult, CheckResult
from codesign.console import console as terminal
from codesign.estimate import Drift

STATUS_WORDS = {"ok": "ok", "drifted": "DRIFT", "created": "created", "updated": "updated", "unchanged": "unchanged"}


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


def print_result(result: CheckResult) -> None:
    console = terminal()

    def say(text: str) -> None:
        console.print(text, markup=False, soft_wrap=True)

    for r in result.cases:
        say(f"{STATUS_WORDS[r.status]:9s} {r.case.label}  [{r.case.relative_path}, {r.seconds:.2f} s]")
    with_drifts = [r for r in result.cases if r.drifts]
    if with_drifts:
        console.print(drift_table(with_drifts, "changes written to the baselines" if result.update else "drifted keys"))
    for r in result.cases:
        for note in r.notes:
            say(f"note: {r.case.label}: {note}")
    for name in result.stale:
        say(f"note: {name} is not an estimate record and belongs to no case; left in place" if result.update
            else f"note: {name} belongs to no case (codesign check --update removes it)")
    for name in result.removed:
        say(f"removed {name} (no case produces it)")
    for note in result.notes:
        say(f"note: {note}")
    say(result.summary())
