"""The estimate sections: the cross-target table, one breakdown card per estimate, the assumptions.

Columns and units come from the Estimate record's own keys (``latency_s`` is a time,
``area_mm2`` an area ...), never from a list of targets.
"""

from __future__ import annotations

from typing import Any

from codesign.estimate import HEADLINE
from codesign.report.collect import (
    EstimateEntry,
    RunContents,
    refusals,
    verdict,
    verification_summary,
)
from codesign.report.formatting import format_value, is_number
from codesign.report.html import (
    AreaUnits,
    anchor,
    badge,
    breakable,
    cell,
    e,
    grid,
    kv_table,
    plural,
    section,
)

KEY_ASSUMPTIONS = 2  # assumptions shown in the cross-target table (all are in the Assumptions section)
THROUGHPUT = "throughput_inf_per_s"


def label(data: dict) -> str:
    model = data.get("model") or "model"
    return f"{model} on {data.get('card', '?')} ({data.get('target', '?')})"


def column_title(key: str) -> str:
    """'latency_s' -> 'latency', 'throughput_inf_per_s' -> 'throughput'."""
    return key.split("_", 1)[0]


def _best(rows: list[EstimateEntry]) -> dict[tuple[str, str], float]:
    """The lowest value of each headline metric per model (only where a model has several rows)."""
    best: dict[tuple[str, str], float] = {}
    models = {str(r.data.get("model") or "") for r in rows}
    for model in models:
        group = [r for r in rows if str(r.data.get("model") or "") == model]
        for key in HEADLINE:
            values = [float(r.data[key]) for r in group if is_number(r.data.get(key))]
            if len(values) > 1:
                best[(model, key)] = min(values)
    return best


def _verified_cell(entry: EstimateEntry, contents: RunContents) -> str:
    if not entry.verification:
        return '<td class="muted" title="no verification report next to this estimate">–</td>'
    data = contents.verification(entry.verification)
    summary = verification_summary(data)
    detail = f'<br><span class="muted">{e(summary)}</span>' if summary else ""
    return (f'<td><a href="#{anchor("verification", entry.verification)}">{badge(verdict(data)[0])}</a>'
            f"{detail}</td>")


def _refused_row(source: str, row: dict[str, Any], width: int) -> str:
    """A target that could not take the model: its name, card and why, across the number columns."""
    reason = str(row["reason"])
    return (f"<tr><td>{breakable(row.get('model') or '–')}</td><td>{breakable(row.get('target'))}</td>"
            f"<td>{breakable(row.get('card') or '–')}</td><td class=\"muted\">–</td>"
            f'<td colspan="{width}">{badge(None, "NOT ESTIMATED")} {e(reason)}</td>'
            f'<td class="src"><code>{breakable(source)}</code></td></tr>')


def overview_section(rows: list[EstimateEntry], contents: RunContents) -> str:
    refused = refusals(contents)
    if not rows and not refused:
        return ""
    best = _best(rows)
    units = AreaUnits()
    for entry in rows:
        units.add("area", entry.data.get("area_mm2"), "area_mm2")
    columns = [*HEADLINE, THROUGHPUT]
    head = ("<tr><th>model</th><th>target</th><th>card</th><th>method</th>"
            + "".join(f"<th>{column_title(key)}</th>" for key in columns)
            + "<th>verified</th><th>key assumptions</th><th>source</th></tr>")
    body = []
    for entry in rows:
        data = entry.data
        model = str(data.get("model") or "")
        cells = [f'<td><a href="#{anchor("estimate", entry.source)}">{breakable(model or "–")}</a></td>',
                 f"<td>{breakable(data.get('target', '?'))}</td>", f"<td>{breakable(data.get('card', '?'))}</td>",
                 f"<td>{e(data.get('method', '?'))}</td>"]
        for key in columns:
            value = data.get(key)
            highlight = "best" if (model, key) in best and is_number(value) and float(value) == best[(model, key)] else ""
            text = units.text("area", value, key) if key == "area_mm2" else format_value(value, key)
            cells.append(cell(value, key, text=text, css=highlight))
        cells.append(_verified_cell(entry, contents))
        assumptions = [str(a) for a in data.get("assumptions") or []]
        shown = "".join(f"<li>{e(a)}</li>" for a in assumptions[:KEY_ASSUMPTIONS])
        rest = len(assumptions) - KEY_ASSUMPTIONS
        more = f'<a href="#{anchor("estimate", entry.source)}">+{rest} more</a>' if rest > 0 else ""
        cells.append(f'<td class="assume"><ul class="assumptions">{shown}</ul>{more}</td>')
        cells.append(f'<td class="src"><code>{breakable(entry.source)}</code></td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    body += [_refused_row(source, row, len(columns) + 2) for source, row in refused]
    models = sorted({str(doc.get("model")) for _, doc in contents.comparison if doc.get("model")})
    model = f"<p>Model: <strong>{e(', '.join(models))}</strong></p>" if models else ""
    note = ('<p class="muted">Per inference; the lowest value of each metric per model is highlighted. '
            "Energy = power × latency of one inference unless the assumptions say otherwise. "
            "verified: the verification report of the exported artifact (– where only an estimate was made).</p>")
    return section("estimates", "Cross-target comparison",
                   model + note + f'<div class="scroll"><table class="wide">{head}{"".join(body)}</table></div>',
                   plural(len(rows), "estimate") + (f", {len(refused)} not estimated" if refused else ""))


def breakdown_tables(breakdown: dict[str, Any]) -> str:
    """Breakdown entries grouped by their inner keys: per layer, per component, per metric."""
    groups: dict[tuple[str, ...], list[str]] = {}
    scalars = {}
    for part, metrics in breakdown.items():
        if isinstance(metrics, dict):
            groups.setdefault(tuple(metrics), []).append(part)
        else:
            scalars[part] = metrics
    html = [grid(parts, list(columns), lambda part, column: breakdown[part].get(column))
            for columns, parts in groups.items()]
    if scalars:
        html.append(kv_table(scalars))
    return "".join(html) or '<p class="muted">(no breakdown)</p>'


def _installed() -> set[str]:
    """Target names of the installed backends (read from entry points; nothing is imported)."""
    from codesign.backends import installed_backends

    return set(installed_backends())


def breakdown_section(rows: list[EstimateEntry]) -> str:
    if not rows:
        return ""
    installed = _installed()
    parts = []
    for entry in rows:
        data = entry.data
        missing = "" if data.get("target") in installed else (
            f' · <span class="badge warn">backend {e(data.get("target", "?"))} not installed here</span>')
        headline = {key: data.get(key) for key in HEADLINE}
        if data.get(THROUGHPUT) is not None:
            headline[THROUGHPUT] = data[THROUGHPUT]
        resources = data.get("resources") or {}
        assumptions = "".join(f"<li>{e(a)}</li>" for a in data.get("assumptions") or [])
        versions = ", ".join(f"{k} {v}" for k, v in sorted((data.get("tool_versions") or {}).items()))
        parts.append(
            f'<div class="card" id="{anchor("estimate", entry.source)}"><h3>{e(label(data))}</h3>'
            f'<p class="muted">{e(entry.source)} · method <strong>{e(data.get("method", "?"))}</strong>'
            f' · card hash <code>{e(str(data.get("card_hash", ""))[:16])}</code>'
            f'{" · " + e(versions) if versions else ""}{missing}</p>'
            + kv_table(headline)
            + "<h4>breakdown</h4>" + breakdown_tables(data.get("breakdown") or {})
            + (f"<h4>resources</h4>{kv_table(resources)}" if resources else "")
            + (f'<h4>assumptions</h4><ul class="assumptions">{assumptions}</ul>' if assumptions else "")
            + "</div>")
    return section("breakdowns", "Breakdowns per estimate", "".join(parts), plural(len(rows), "estimate"))


def assumptions_section(rows: list[EstimateEntry]) -> str:
    blocks: dict[tuple[str, ...], list[str]] = {}
    for entry in rows:
        assumptions = tuple(str(a) for a in entry.data.get("assumptions") or [])
        if assumptions:
            blocks.setdefault(assumptions, []).append(label(entry.data))
    if not blocks:
        return ""
    parts = []
    for assumptions, labels in blocks.items():
        items = "".join(f"<li>{e(a)}</li>" for a in assumptions)
        parts.append(f"<h3>{e('; '.join(labels))}</h3><ul class=\"assumptions\">{items}</ul>")
    count = plural(sum(len(labels) for labels in blocks.values()), "estimate")
    return section("assumptions", "Assumptions", "".join(parts), count)
