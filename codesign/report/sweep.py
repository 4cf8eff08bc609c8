"""The report of a ``codesign sweep`` directory: its objectives, its Pareto-optimal trials, and per
target the Pareto plot and the estimates of those trials.

Targets are whatever the sweep's config and its trials name (``<name>.accuracy``,
``<name>.energy_j`` ...); their units come from the metric keys.
"""

from __future__ import annotations

from typing import Any

from codesign.estimate import HEADLINE
from codesign.report.collect import RunContents, Sweep, verdict, verification_summary
from codesign.report.formatting import format_value, is_number, plain
from codesign.report.html import (
    MAX_ROWS,
    AreaUnits,
    anchor,
    badge,
    breakable,
    cell,
    e,
    kv_table,
    list_table,
    plural,
    section,
)
from codesign.report.sections import figure

SUMMARY_KEYS = ("study", "dataset", "seed", "epochs", "complete_trials", "requested_trials", "duplicates", "storage")


def _dict(value: Any) -> dict[str, Any]:
    """A sweep file's mapping, or {} where the file holds something else (a damaged file)."""
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    return int(value) if is_number(value) else 0


def _base(sweep: Sweep) -> str:
    """The sweep section's anchor: 'sweep-run' for the run directory itself, else from its folder."""
    return anchor("sweep", sweep.folder or "run")


def targets(sweep: Sweep) -> list[dict[str, Any]]:
    """[{name, target, card}] from the sweep's config, else from its trials' metric keys."""
    found: dict[str, dict[str, Any]] = {}
    specs = _dict(sweep.config).get("targets")
    for spec in specs if isinstance(specs, list) else []:
        if isinstance(spec, dict) and spec.get("name", spec.get("target")):
            name = str(spec.get("name", spec.get("target")))
            found[name] = {"name": name, "target": spec.get("target", name), "card": spec.get("card")}
    for document in sweep.trial_estimates.values():
        for name, details in document["targets"].items():
            if isinstance(details, dict):
                found.setdefault(name, {"name": name, "target": details.get("target", name), "card": details.get("card")})
    for entry in pareto_trials(sweep):
        for key in _dict(entry.get("metrics")):
            name, dot, _ = key.rpartition(".")
            if dot:
                found.setdefault(name, {"name": name, "target": name, "card": None})
    return list(found.values())


def pareto_trials(sweep: Sweep) -> list[dict[str, Any]]:
    return [entry for entry in sweep.pareto.get("pareto") or [] if isinstance(entry, dict)]


def _estimate_of(sweep: Sweep, entry: dict[str, Any], name: str) -> dict[str, Any] | None:
    document = sweep.trial_estimates.get(str(entry.get("trial_dir", "")))
    details = _dict(_dict(document).get("targets")).get(name)
    return details if isinstance(details, dict) else None


def estimates(sweep: Sweep) -> list[dict[str, Any]]:
    """The Estimate records of the Pareto-optimal trials (for the cards they used)."""
    found = []
    for entry in pareto_trials(sweep):
        for target in targets(sweep):
            details = _estimate_of(sweep, entry, target["name"])
            if details and isinstance(details.get("estimate"), dict):
                found.append(details["estimate"])
    return found


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{key}={plain(value)}" for key, value in sorted(params.items()))


def _objectives(sweep: Sweep) -> list[tuple[str, str]]:
    return [(str(o["name"]), str(o.get("direction", ""))) for o in sweep.pareto["objectives"]]


def _front_table(sweep: Sweep, trials: list[dict[str, Any]]) -> str:
    """The Pareto-optimal trials: their parameters and every objective, one unit per column."""
    objectives = _objectives(sweep)
    units = AreaUnits()
    for entry in trials:
        for name, _ in objectives:
            units.add(name, _dict(entry.get("metrics")).get(name), name)
    arrows = {"maximize": "↑", "minimize": "↓"}
    head = ("<tr><th>trial</th><th>design</th>"
            + "".join(f"<th>{breakable(name)} {arrows.get(direction, '')}</th>" for name, direction in objectives) + "</tr>")
    rows = []
    for entry in trials:
        metrics = _dict(entry.get("metrics"))
        model = entry.get("model") or entry.get("trial_model")
        where = f'<br><code>{e(model)}</code>' if model else ""
        cells = [f'<td class="num" id="{anchor(f"{_base(sweep)}-trial", str(entry.get("trial")))}">'
                 f'{e(entry.get("trial", "?"))}</td>',
                 f'<td><span class="muted">{e(_params(_dict(entry.get("params"))))}</span>{where}</td>']
        cells += [cell(metrics.get(name), name, text=units.text(name, metrics.get(name), name)) for name, _ in objectives]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table class="sweep">{head}{"".join(rows)}</table></div>'


def _target_block(sweep: Sweep, target: dict[str, Any], trials: list[dict[str, Any]], contents: RunContents) -> str:
    """One target: its Pareto plot and, per Pareto-optimal trial, its accuracy and estimate."""
    name = target["name"]
    columns = ["accuracy", *HEADLINE]
    units = AreaUnits()
    lines = []
    for entry in trials:
        details = _estimate_of(sweep, entry, name) or {}
        estimate = _dict(details.get("estimate"))
        metrics = _dict(entry.get("metrics"))
        values = {key: estimate.get(key, metrics.get(f"{name}.{key}")) for key in HEADLINE}
        values["accuracy"] = details.get("accuracy", metrics.get(f"{name}.accuracy"))
        if not any(is_number(v) for v in values.values()):
            continue
        units.add("area", values["area_mm2"], "area_mm2")
        lines.append((entry, details, estimate, values))
    if not lines:
        return ""
    verified = any("verification" in details for _, details, _, _ in lines)
    head = ("<tr><th>trial</th>" + "".join(f"<th>{key.split('_', 1)[0]}</th>" for key in columns)
            + ("<th>verified</th>" if verified else "") + "<th>method</th><th>options</th><th>accuracy measured on</th></tr>")
    rows = []
    for entry, details, estimate, values in lines:
        cells = [f'<td class="num">{e(entry.get("trial", "?"))}</td>']
        for key in columns:
            text = units.text("area", values[key], key) if key == "area_mm2" else format_value(values[key], key)
            cells.append(cell(values[key], key, text=text))
        if verified:
            cells.append(_verified(details.get("verification")))
        cells += [f"<td>{e(estimate.get('method', '–'))}</td>",
                  f'<td class="muted">{e(_params(_dict(details.get("options"))) or "–")}</td>',
                  f'<td class="muted">{e(details.get("accuracy_source", "–"))}</td>']
        rows.append("<tr>" + "".join(cells) + "</tr>")
    plots = [image for image in sweep.images if image.stem == f"pareto_{name}"]
    card = f", card {target['card']}" if target.get("card") else ""
    backend = f"{target['target']} backend" if target.get("target") else ""
    return (f'<div class="card" id="{anchor(_base(sweep), name)}"><h3>{e(name)} '
            f'<span class="muted">({e(backend + card)})</span></h3>'
            + "".join(figure(image, contents.rel(image)) for image in plots)
            + f'<div class="scroll"><table class="wide">{head}{"".join(rows)}</table></div></div>')


def _verified(report: Any) -> str:
    """The trial's own check of its design (e.g. the printed gate-level netlist), as a badge."""
    if report is None:
        return '<td class="muted">–</td>'
    summary = verification_summary(report)
    return f"<td>{badge(verdict(report)[0])}{f'<br><span class=muted>{e(summary)}</span>' if summary else ''}</td>"


def _all_trials(sweep: Sweep) -> str:
    if not sweep.trials:
        return ""
    objectives = [name for name, _ in _objectives(sweep)]
    rows = [{"trial": t.get("trial"), "design": _params(_dict(t.get("params"))),
             **{name: _dict(t.get("objectives")).get(name) for name in objectives},
             "duplicate of": t.get("duplicate_of")} for t in sweep.trials[:MAX_ROWS]]
    more = f" (showing {MAX_ROWS})" if len(sweep.trials) > MAX_ROWS else ""
    return (f"<details><summary>all {plural(len(sweep.trials), 'complete trial')}{more}</summary>"
            f"{list_table(rows)}</details>")


def sweep_section(sweep: Sweep, contents: RunContents) -> str:
    trials = pareto_trials(sweep)
    summary = {key: sweep.pareto[key] for key in SUMMARY_KEYS if key in sweep.pareto}
    if _dict(sweep.config).get("source"):
        summary["config"] = _dict(sweep.config)["source"]
    objectives = ", ".join(f"{'maximise' if d == 'maximize' else 'minimise'} {n}" for n, d in _objectives(sweep))
    blocks = "".join(_target_block(sweep, target, trials, contents) for target in targets(sweep))
    rest = [image for image in sweep.images if not any(image.stem == f"pareto_{t['name']}" for t in targets(sweep))]
    body = (kv_table(summary) + f"<p><strong>Objectives:</strong> {e(objectives)}</p>"
            + f"<h3>Pareto-optimal trials ({len(trials)} of {_count(sweep.pareto.get('complete_trials'))})</h3>"
            + _front_table(sweep, trials) + _all_trials(sweep)
            + (f"<h3>Per target</h3>{blocks}" if blocks else "")
            + "".join(figure(image, contents.rel(image)) for image in rest))
    where = f": {sweep.folder}" if sweep.folder else ""
    count = f"{len(trials)} Pareto-optimal of {plural(_count(sweep.pareto.get('complete_trials')), 'trial')}"
    return section(_base(sweep), f"Design-space sweep{where}", body, count)
