"""Rich tables for the terminal: layers, cards, estimates."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table


def layer_table(info: dict[str, Any]) -> Table:
    table = Table(title=f"{info['model']}: layers")
    columns = (("layer", "layer"), ("shape", "in x out"), ("input", "input"), ("weight", "weights"),
               ("output", "output"), ("activation", "activation"), ("accumulator_bits", "acc bits"),
               ("macs", "MACs"), ("parameters", "params"), ("sparsity", "sparsity"))
    for _, title in columns:
        table.add_column(title, justify="right" if title in ("MACs", "params", "acc bits", "sparsity") else "left")
    for row in info["layers"]:
        cells = []
        for key, _ in columns:
            value = row[key]
            if key == "sparsity":
                value = f"{value:.1%}"
            cells.append("-" if value is None else str(value))
        table.add_row(*cells)
    return table


def cards_table(cards) -> Table:
    table = Table(title="target cards")
    for column in ("name", "family", "description"):
        table.add_column(column)
    for card in cards:
        table.add_row(card.name, card.family, card.description)
    return table


def card_table(card) -> Table:
    table = Table(title=f"{card.name} ({card.family}): {card.description}")
    for column in ("key", "value (SI)", "as written", "source"):
        table.add_column(column, overflow="fold")
    for key, constant in card.constants().items():
        table.add_row(key, f"{constant.value:.6g}", constant.unit, constant.source)
    return table


def estimate_table(estimate) -> Table:
    """Headline numbers with SI prefixes, then resources: every unit read from the key's name."""
    from codesign.estimate import HEADLINE
    from codesign.report.formatting import format_value

    table = Table(title=f"{estimate.model or 'model'} on {estimate.card} ({estimate.target}, {estimate.method})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in HEADLINE:
        table.add_row(key.split("_", 1)[0], format_value(getattr(estimate, key), key))
    if estimate.throughput_inf_per_s:
        table.add_row("throughput", format_value(estimate.throughput_inf_per_s, "throughput_inf_per_s"))
    for name, value in estimate.resources.items():
        table.add_row(name, format_value(value, name))
    for assumption in estimate.assumptions:
        table.add_row("assumes", assumption)
    return table


def vendor_table(estimate):
    """Estimate vs a vendor report (HLS and/or logic synthesis), per metric."""
    from rich.table import Table

    table = Table(title="estimate vs vendor report")
    for column in ("report", "metric", "estimate", "reported", "error"):
        table.add_column(column, justify="right")
    for key in sorted(k for k in estimate.breakdown if k.startswith("vendor_") and k != "vendor_relative_error"):
        source = key.removeprefix("vendor_")
        for metric, reported in sorted(estimate.breakdown[key].items()):
            guess = estimate.resources.get(metric)
            error = estimate.breakdown["vendor_relative_error"].get(f"{source}.{metric}")
            table.add_row(source, metric, "-" if guess is None else f"{guess:,.0f}", f"{reported:,.0f}",
                          "-" if error is None else f"{error:+.0%}")
    return table


def options_table(backend, rows: list[dict[str, Any]]) -> Table:
    """`codesign backends --options TARGET`: every option with what it accepts."""
    knobs = f"; sweep knobs: {', '.join(backend.sweep_knobs)}" if backend.sweep_knobs else ""
    table = Table(title=f"{backend.name} options ({backend.family} cards, default card {backend.default_card}{knobs})")
    for column in ("option", "allowed", "default", "used by", "help"):
        table.add_column(column, overflow="fold")
    for row in rows:
        default = "-" if row["default"] is None else json.dumps(row["default"])
        if row["sweep_default"] is not None:
            default += f" (sweeps: {json.dumps(row['sweep_default'])})"
        table.add_row(row["name"], row["allowed"], default, ", ".join(row["commands"]), row["help"])
    return table
