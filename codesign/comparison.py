"""One model, every target: the cross-target comparison table, its files and its plot.

Each target's backend estimates the same graph through the common interface; the rows keep
their method and assumptions, because an analytical FPGA estimate, a crossbar model and a
synthesised printed netlist are not equally certain and the table must say so.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.backends.base import Backend, all_backends, resolve_card
from codesign.cards import Card
from codesign.errors import BackendError, CodesignError, ParameterError
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph
from codesign.outputs import write_files

COLUMNS = (("latency_s", "latency", "s"), ("energy_j", "energy", "J"), ("area_mm2", "area", "mm²"),
           ("power_w", "power", "W"))


@dataclass(frozen=True)
class Refusal:
    """A target that cannot take the model, and why."""

    target: str
    card: str
    reason: str


@dataclass(frozen=True)
class Comparison:
    model: str
    rows: tuple[Estimate, ...]
    refused: tuple[Refusal, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "rows": [row.to_dict() for row in self.rows],
                "refused": [{"target": r.target, "card": r.card, "reason": r.reason} for r in self.refused]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["target", "card", "method", *(f"{key}" for key, _, _ in COLUMNS),
                         "throughput_inf_per_s", "assumptions"])
        for row in self.rows:
            writer.writerow([row.target, row.card, row.method, *(repr(getattr(row, key)) for key, _, _ in COLUMNS),
                             "" if row.throughput_inf_per_s is None else repr(row.throughput_inf_per_s),
                             " | ".join(row.assumptions)])
        for refusal in self.refused:
            writer.writerow([refusal.target, refusal.card, "refused", *("" for _ in COLUMNS), "",
                             f"cannot take the model: {refusal.reason}"])
        return buffer.getvalue()

    def table(self):
        from rich.table import Table

        title = f"{self.model}: one model, {len(self.rows)} target{'s' if len(self.rows) != 1 else ''} (per inference)"
        if self.refused:
            title += f"; {len(self.refused)} cannot take it"
        table = Table(title=title)
        for title in ("target", "card", "method", *(f"{name} ({unit})" for _, name, unit in COLUMNS),
                      "key assumption"):
            table.add_column(title, justify="left" if title in ("target", "card", "method", "key assumption")
                             else "right")
        for row in self.rows:
            table.add_row(row.target, row.card, row.method, *(f"{getattr(row, key):.3g}" for key, _, _ in COLUMNS),
                          row.assumptions[0] if row.assumptions else "")
        for refusal in self.refused:
            table.add_row(refusal.target, refusal.card, "refused", *("–" for _ in COLUMNS),
                          f"cannot take the model: {refusal.reason}")
        return table

    def plot(self, path: str | Path) -> Path:
        """Bars per metric (log scale: the targets differ by orders of magnitude)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        fig, axes = plt.subplots(1, len(COLUMNS), figsize=(3.2 * len(COLUMNS), 3.6), constrained_layout=True)
        labels = [f"{row.target}\n{row.card}" for row in self.rows]
        palette = plt.get_cmap("tab10")
        targets = sorted({row.target for row in self.rows})
        colors = [palette(targets.index(row.target) % 10) for row in self.rows]
        for ax, (key, name, unit) in zip(axes, COLUMNS, strict=True):
            values = [max(getattr(row, key), 1e-30) for row in self.rows]
            ax.bar(range(len(values)), values, color=colors)
            ax.set_yscale("log")
            ax.set_xticks(range(len(values)), labels, fontsize=7)
            ax.set_title(f"{name} ({unit})")
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle(f"{self.model}: per-inference estimates")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path

    def save(self, directory: str | Path) -> dict[str, Path]:
        """comparison.json, comparison.csv, comparison.png in ``directory``, written atomically;
        an existing file there is replaced only when codesign wrote it (codesign.outputs)."""
        paths = write_files(directory, {"comparison.json": self.to_json(), "comparison.csv": self.to_csv(),
                                        "comparison.png": self.plot})
        return {suffix: paths[f"comparison.{suffix}"] for suffix in ("json", "csv", "png")}


def compare(graph: LayerGraph, cards: list[Card | str] | tuple[Card | str, ...] | None = None,
            options: dict[str, dict[str, Any]] | None = None) -> Comparison:
    """Estimate ``graph`` on every installed target (default: each with its default card), or on
    every target that takes one of ``cards``.

    ``options`` maps a target name to its backend options. A target that cannot take the model gets
    a row with the reason; only when no target can take it is that an error.
    """
    pairs = targets_for(cards)
    options = options or {}
    unknown = set(options) - {backend.name for backend, _ in pairs}
    if unknown:
        raise ParameterError(f"options given for target {sorted(unknown)[0]!r}, which is not compared",
                             hint="key the options by a compared target: " + ", ".join(b.name for b, _ in pairs))
    resolved = {backend.name: backend.options.resolve(backend.name, options.get(backend.name, {}), "estimate")
                for backend, _ in pairs}  # bad options are the user's error, not a refusal
    rows, refused = [], []
    for backend, card in pairs:
        reason = backend.accepts(graph)
        if reason is None:
            try:
                rows.append(backend.estimate(graph, card, **resolved[backend.name]))
                continue
            except CodesignError as exc:
                reason = exc.one_line()
        refused.append(Refusal(backend.name, card.name, reason))
    if not rows:
        details = "; ".join(f"{r.target}: {r.reason}" for r in refused)
        raise BackendError(f"no target can take {graph.name} ({details})", hint="change the model or the targets")
    return Comparison(graph.name, tuple(rows), tuple(refused))


def targets_for(cards) -> list[tuple[Backend, Card]]:
    """(backend, card) to compare: every backend with its default card, or every backend per card."""
    backends = all_backends()
    if not backends:
        raise BackendError("no backends are installed", hint="pip install 'codesign[dev]'")
    if cards is None:
        return [(backend, resolve_card(None, backend)) for backend in backends.values()]
    if not cards:
        raise ParameterError("no cards to compare", hint="pass cards, or none for every target's default card")
    pairs = []
    for card in (resolve_card(card) for card in cards):
        takers = [backend for backend in backends.values() if backend.family == card.family]
        if not takers:
            raise BackendError(f"no installed target takes {card.family} cards such as {card.name!r}",
                               hint="install a backend for that family (`codesign backends`)")
        pairs += [(backend, card) for backend in takers]
    return pairs


def default_cards() -> list[str]:
    """The default card of every installed backend."""
    return [backend.default_card for backend in all_backends().values()]


__all__ = ["Comparison", "Refusal", "compare", "default_cards", "targets_for"]
