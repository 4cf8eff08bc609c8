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

from codesign.backends.base import backend_for
from codesign.cards import Card, load_card
from codesign.errors import ParameterError
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph
from codesign.outputs import write_files

DEFAULT_CARDS = ("pynq-z2", "rram-40nm", "egfet-1v")  # one per family
COLUMNS = (("latency_s", "latency", "s"), ("energy_j", "energy", "J"), ("area_mm2", "area", "mm²"),
           ("power_w", "power", "W"))


@dataclass(frozen=True)
class Comparison:
    model: str
    rows: tuple[Estimate, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "rows": [row.to_dict() for row in self.rows]}

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
        return buffer.getvalue()

    def table(self):
        from rich.table import Table

        table = Table(title=f"{self.model}: one model, {len(self.rows)} targets (per inference)")
        for title in ("target", "card", "method", *(f"{name} ({unit})" for _, name, unit in COLUMNS),
                      "key assumption"):
            table.add_column(title, justify="left" if title in ("target", "card", "method", "key assumption")
                             else "right")
        for row in self.rows:
            table.add_row(row.target, row.card, row.method, *(f"{getattr(row, key):.3g}" for key, _, _ in COLUMNS),
                          row.assumptions[0] if row.assumptions else "")
        return table

    def plot(self, path: str | Path) -> Path:
        """Bars per metric (log scale: the targets differ by orders of magnitude)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        fig, axes = plt.subplots(1, len(COLUMNS), figsize=(3.2 * len(COLUMNS), 3.6), constrained_layout=True)
        labels = [f"{row.target}\n{row.card}" for row in self.rows]
        colors = [{"fpga": "tab:blue", "crossbar": "tab:orange", "printed": "tab:green"}.get(row.target, "tab:gray")
                  for row in self.rows]
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
    """Estimate ``graph`` on every card (default: one shipped card per family).

    ``options`` maps a target name ("fpga", "crossbar", "printed") to its backend options.
    """
    loaded = [card if isinstance(card, Card) else load_card(card) for card in (cards or DEFAULT_CARDS)]
    if not loaded:
        raise ParameterError("no cards to compare", hint=f"pass cards, e.g. {', '.join(DEFAULT_CARDS)}")
    options = options or {}
    unknown = set(options) - {card.family for card in loaded}
    if unknown:
        raise ParameterError(f"options given for target {sorted(unknown)[0]!r}, which no card uses",
                             hint="key the options by the target of a compared card")
    rows = []
    for card in loaded:
        backend = backend_for(None, card)
        rows.append(backend.estimate(graph, card, **options.get(backend.name, {})))
    return Comparison(graph.name, tuple(rows))
