"""``codesign report RUN_DIR``: one self-contained HTML page summarising a run directory.

The page opens offline: styles are inline, plots are embedded as base64 ``data:`` URIs, and
nothing refers to the network. It shows, from whatever the run directory holds:

- a cross-target table of estimates (``comparison.json`` when present, otherwise every
  estimate JSON found), with latency / energy / area / power in SI prefixes, the method and
  the key assumptions;
- every PNG (comparison plots, Pareto fronts, flow plots), captioned from its file name;
- each estimate's ``breakdown`` (per layer, per component) and ``resources`` as tables;
- every ``verification.json`` as a pass / fail badge with its numbers;
- every ``pareto.json`` (and any other JSON result) as tables;
- the target cards the estimates used, each constant with its value, unit and source, and
  every assumption;
- an inventory of the files.

The output is deterministic (sorted traversal, no timestamps), so two reports of the same run
directory are byte-identical.
"""

from __future__ import annotations

import base64
import json
import math
import os
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError, DataError
from codesign.outputs import MANIFEST_NAME, write_file

DEFAULT_NAME = "report.html"
HEADLINE = (("latency_s", "latency"), ("energy_j", "energy"), ("area_mm2", "area"), ("power_w", "power"))
ESTIMATE_KEYS = {"target", "card", "method", "latency_s", "energy_j", "area_mm2", "power_w"}
MAX_JSON_BYTES = 2_000_000  # larger JSON files (netlists) are listed, not parsed
MAX_OTHER_JSON_BYTES = 200_000  # other JSON results rendered generically up to this size
MAX_ROWS = 200  # rows per generic table
MAX_FILES = 1000  # rows in the file inventory
KEY_ASSUMPTIONS = 2  # assumptions shown in the cross-target table (all are in the Assumptions section)


# ---------------------------------------------------------------------------------------------
# Number formatting
# ---------------------------------------------------------------------------------------------
_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"),
             (1e-9, "n"), (1e-12, "p"), (1e-15, "f"), (1e-18, "a"))


def format_si(value: Any, unit: str, digits: int = 4) -> str:
    """50e-9, 's' -> '50 ns'; 6.308e-9, 'J' -> '6.308 nJ'; 0 -> '0 J'."""
    if not _is_number(value):
        return "–" if value is None else str(value)
    value = float(value)
    if not math.isfinite(value):
        return f"{value} {unit}".strip()
    if value == 0:
        return f"0 {unit}".strip()
    magnitude = abs(value)
    index = next((i for i, (factor, _) in enumerate(_PREFIXES) if magnitude >= factor), len(_PREFIXES) - 1)
    factor, prefix = _PREFIXES[index]
    text = f"{value / factor:.{digits}g}"
    if abs(float(text)) >= 1000 and index > 0:  # rounding carried into the next prefix
        factor, prefix = _PREFIXES[index - 1]
        text = f"{value / factor:.{digits}g}"
    return f"{text} {prefix}{unit}".strip()


def format_area(mm2: Any) -> str:
    """Areas stay in mm² (µm² below 0.001 mm², cm² above 100 mm²)."""
    if not _is_number(mm2):
        return "–" if mm2 is None else str(mm2)
    mm2 = float(mm2)
    if mm2 and abs(mm2) < 1e-3:
        return f"{mm2 * 1e6:.4g} µm²"
    if abs(mm2) >= 100:
        return f"{mm2 / 100:.4g} cm²"
    return f"{mm2:.4g} mm²"


# key suffix -> how to show its value
_SUFFIX_UNITS = (("_inf_per_s", lambda v: format_si(v, "inf/s")),
                 ("_mm2", format_area), ("_cm2", lambda v: format_area(float(v) * 100)),
                 ("_mw", lambda v: format_si(float(v) * 1e-3, "W")), ("_s", lambda v: format_si(v, "s")),
                 ("_j", lambda v: format_si(v, "J")), ("_w", lambda v: format_si(v, "W")),
                 ("_hz", lambda v: format_si(v, "Hz")))
_FRACTION_WORDS = ("share", "utilisation", "utilization", "rate", "accuracy", "loss", "fraction")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _formatter(key: str):
    key = key.lower()
    for suffix, fmt in _SUFFIX_UNITS:
        if key.endswith(suffix) or key == suffix[1:]:
            return fmt
    if any(word in key for word in _FRACTION_WORDS):
        return lambda v: f"{float(v):.2%}" if 0 <= float(v) <= 1 else _plain(v)
    return None


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if value is None:
        return "–"
    if isinstance(value, list | tuple) and all(isinstance(x, str | int | float) for x in value):
        text = "; ".join(_plain(x) for x in value)
        return text if len(text) <= 400 else text[:397] + "…"
    if isinstance(value, dict | list | tuple):
        text = json.dumps(value, sort_keys=True, default=str)
        return text if len(text) <= 160 else text[:157] + "…"
    return str(value)


def format_value(value: Any, *keys: str) -> str:
    """A value shown by the unit its key names ('latency_s', 'energy_j', 'area_mm2', '..._share')."""
    if _is_number(value):
        for key in keys:
            fmt = _formatter(key) if key else None
            if fmt is not None:
                return fmt(value)
    return _plain(value)


# ---------------------------------------------------------------------------------------------
# Collecting a run directory
# ---------------------------------------------------------------------------------------------
@dataclass
class EstimateEntry:
    source: str  # relative path (and row) it came from
    data: dict[str, Any]
    verification: str | None = None  # relative path of a verification.json next to it


@dataclass
class RunContents:
    root: Path
    files: list[Path] = field(default_factory=list)
    comparison: list[tuple[str, dict]] = field(default_factory=list)  # (path, document)
    estimates: list[EstimateEntry] = field(default_factory=list)  # from estimate files
    verifications: list[tuple[str, Any]] = field(default_factory=list)
    paretos: list[tuple[str, Any]] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    other_json: list[tuple[str, Any]] = field(default_factory=list)
    markdown: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @property
    def has_content(self) -> bool:
        return bool(self.comparison or self.estimates or self.verifications or self.paretos or self.images
                    or self.other_json or self.markdown)


def _walk(root: Path, skip: Path | None) -> list[Path]:
    """Every regular file under root, sorted; hidden files and folders (staging dirs) skipped."""
    found = []
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            path = Path(directory) / name
            if name.startswith(".") or name == MANIFEST_NAME or not path.is_file() or \
                    (skip is not None and _same(path, skip)):
                continue
            found.append(path)
    return found


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _is_estimate(data: Any) -> bool:
    return isinstance(data, dict) and set(data) >= ESTIMATE_KEYS


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def collect(run_dir: str | os.PathLike, skip: Path | None = None) -> RunContents:
    root = Path(run_dir)
    contents = RunContents(root=root)
    contents.files = _walk(root, skip)
    for path in contents.files:
        rel = contents.rel(path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            contents.images.append(path)
        elif suffix == ".md" and path.stat().st_size <= MAX_OTHER_JSON_BYTES:
            contents.markdown.append((rel, path.read_text(encoding="utf-8", errors="replace")))
        elif suffix == ".json":
            size = path.stat().st_size
            named = path.name in ("comparison.json", "estimate.json", "verification.json", "pareto.json")
            if size > MAX_JSON_BYTES and not named:
                continue
            try:
                data = _read_json(path)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                contents.unreadable.append((rel, str(exc).splitlines()[0]))
                continue
            if path.name == "comparison.json" and isinstance(data, dict) and isinstance(data.get("rows"), list):
                contents.comparison.append((rel, data))
            elif _is_estimate(data):
                contents.estimates.append(EstimateEntry(rel, data))
            elif path.name == "verification.json" or path.name.endswith(".verification.json"):
                contents.verifications.append((rel, data))
            elif path.name == "pareto.json" or path.name.endswith("pareto.json"):
                contents.paretos.append((rel, data))
            elif size <= MAX_OTHER_JSON_BYTES:
                contents.other_json.append((rel, data))
    verified = {str(Path(rel).parent) for rel, _ in contents.verifications}
    for entry in contents.estimates:
        folder = str(Path(entry.source).parent)
        if folder in verified:
            entry.verification = (Path(folder) / "verification.json").as_posix()
    return contents


def table_rows(contents: RunContents) -> tuple[str, list[EstimateEntry]]:
    """The rows of the cross-target table and where they came from."""
    if contents.comparison:
        rows = []
        for rel, document in contents.comparison:
            for index, row in enumerate(document["rows"]):
                if isinstance(row, dict):
                    rows.append(EstimateEntry(f"{rel} row {index + 1}", row))
        return ", ".join(rel for rel, _ in contents.comparison), rows
    return "estimate files", list(contents.estimates)


def all_estimates(contents: RunContents) -> list[EstimateEntry]:
    """Comparison rows and estimate files, each distinct estimate once."""
    seen: dict[str, EstimateEntry] = {}
    for entry in [*table_rows(contents)[1], *contents.estimates]:
        key = json.dumps(entry.data, sort_keys=True, default=str)
        if key not in seen:
            seen[key] = entry
        elif entry.verification and not seen[key].verification:
            seen[key].verification = entry.verification
    return list(seen.values())


# ---------------------------------------------------------------------------------------------
# HTML pieces
# ---------------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2430;background:#f6f7f9;line-height:1.45}
main{max-width:1400px;margin:0 auto;padding:1.2em 1.6em 4em}
h1{font-size:1.6em;margin:.4em 0 .1em}h2{border-bottom:2px solid #d6dbe3;padding-bottom:.2em;margin-top:2em}
h3{margin:1.4em 0 .4em}h4{margin:1em 0 .3em;color:#404a5a}
nav{background:#fff;border:1px solid #d6dbe3;border-radius:6px;padding:.5em 1em;margin:1em 0}
nav a{margin-right:1.2em;color:#1a56a8;text-decoration:none}
table{border-collapse:collapse;margin:.4em 0 1em;background:#fff;font-size:.9em}
th,td{border:1px solid #d6dbe3;padding:.25em .6em;vertical-align:top;text-align:left}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{background:#e3f4e6;font-weight:600}
.muted{color:#6a7382;font-size:.9em}code{font-size:.85em;background:#eef1f5;padding:0 .2em;border-radius:3px;word-break:break-all}
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;font-size:.8em;font-weight:700;color:#fff;letter-spacing:.03em}
.pass{background:#1f8a3b}.fail{background:#c62828}.unknown{background:#7a8494}.warn{background:#b26a00}
figure{background:#fff;border:1px solid #d6dbe3;border-radius:6px;padding:.6em;margin:1em 0;display:inline-block;max-width:100%}
figure img{max-width:100%;height:auto;display:block}figcaption{margin-top:.4em;font-size:.9em;color:#404a5a}
details{margin:.4em 0}summary{cursor:pointer;color:#1a56a8}
.card{background:#fff;border:1px solid #d6dbe3;border-radius:6px;padding:.2em 1em .6em;margin:1em 0}
pre{background:#fff;border:1px solid #d6dbe3;padding:.6em;overflow-x:auto;font-size:.85em}
ul.assumptions{margin:0;padding-left:1.1em}ul.assumptions li{margin:.2em 0}
td.assume{min-width:24em;font-size:.85em}td.src code{word-break:normal;white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _anchor(prefix: str, text: str) -> str:
    return prefix + "-" + "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def badge(verdict: bool | None, text: str | None = None) -> str:
    kind = {True: "pass", False: "fail", None: "unknown"}[verdict]
    label = text or {True: "PASS", False: "FAIL", None: "NO VERDICT"}[verdict]
    return f'<span class="badge {kind}">{_e(label)}</span>'


def _cell(value: Any, *keys: str) -> str:
    if value and (isinstance(value, dict) or (isinstance(value, list)
                                             and not all(isinstance(x, str | int | float) for x in value))):
        text = json.dumps(value, sort_keys=True, default=str)
        size = f"{len(value)} {'keys' if isinstance(value, dict) else 'items'}"
        return f"<td><details><summary>{size}</summary><code>{_e(text[:4000])}</code></details></td>"
    css = ' class="num"' if _is_number(value) else ""
    return f"<td{css}>{_e(format_value(value, *keys))}</td>"


def kv_table(items: dict[str, Any], *, context: str = "") -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th>{_cell(v, k, context)}</tr>" for k, v in items.items())
    return f"<table>{rows}</table>" if rows else ""


def list_table(rows: list[dict], *, context: str = "") -> str:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c), c, context) for c in columns) + "</tr>"
                   for row in rows[:MAX_ROWS])
    more = f'<p class="muted">… {len(rows) - MAX_ROWS} more rows not shown</p>' if len(rows) > MAX_ROWS else ""
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>{more}'


def render_json(value: Any, *, depth: int = 0, context: str = "", order: tuple[str, ...] = ()) -> str:
    """Any JSON value as tables: scalars as key/value rows, lists of objects as tables."""
    if isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if not isinstance(v, dict | list)
                   or (isinstance(v, list) and all(not isinstance(x, dict | list) for x in v) and len(v) <= 20)}
        parts = [kv_table(scalars, context=context)]
        nested = [k for k in value if k not in scalars]
        nested = [k for k in order if k in nested] + [k for k in nested if k not in order]
        for key in nested:
            level = min(4 + depth, 6)
            if depth >= 3:
                parts.append(f"<h{level}>{_e(key)}</h{level}><p><code>{_e(_plain(value[key]))}</code></p>")
            else:
                parts.append(f"<h{level}>{_e(key)}</h{level}>" + render_json(value[key], depth=depth + 1, context=key))
        return "".join(parts)
    if isinstance(value, list):
        if not value:
            return '<p class="muted">(empty)</p>'
        if all(isinstance(row, dict) for row in value):
            return list_table(value, context=context)
        if all(not isinstance(x, dict | list) for x in value):
            shown = ", ".join(format_value(x, context) for x in value[:MAX_ROWS])
            return f"<p>{_e(shown)}{' …' if len(value) > MAX_ROWS else ''}</p>"
        return list_table([{"value": x} for x in value], context=context)
    return f"<p>{_e(format_value(value, context))}</p>"


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------
def _estimate_label(data: dict) -> str:
    model = data.get("model") or "model"
    return f"{model} on {data.get('card', '?')} ({data.get('target', '?')})"


def _verdict(data: Any) -> tuple[bool | None, dict[str, Any], dict[str, Any]]:
    """(passed?, scalar numbers, nested details) of a verification document."""
    if not isinstance(data, dict):
        return None, {"value": data}, {}
    flat = {k: v for k, v in data.items() if k != "verification"}
    if isinstance(data.get("verification"), dict):
        flat.update(data["verification"])
    scalars = {k: v for k, v in flat.items() if not isinstance(v, dict | list)}
    nested = {k: v for k, v in flat.items() if isinstance(v, dict | list)}
    verdict: bool | None = None
    if isinstance(flat.get("passed"), bool):
        verdict = flat["passed"]
    elif isinstance(flat.get("agrees"), bool):
        verdict = flat["agrees"]
    else:
        counts = [v for k, v in flat.items() if k.endswith("mismatches") and _is_number(v)]
        if counts:
            verdict = all(v == 0 for v in counts)
    return verdict, scalars, nested


def overview_section(contents: RunContents) -> str:
    source, rows = table_rows(contents)
    if not rows:
        return _section("estimates", "Cross-target comparison", '<p class="muted">No estimates in this run directory.</p>')
    verdicts = {rel: _verdict(data)[0] for rel, data in contents.verifications}
    numbers = {key: [float(r.data[key]) for r in rows if _is_number(r.data.get(key))] for key, _ in HEADLINE}
    best = {key: min(values) for key, values in numbers.items() if len(values) > 1}
    head = ("<tr><th>model</th><th>target</th><th>card</th><th>method</th>"
            + "".join(f"<th>{label}</th>" for _, label in HEADLINE)
            + "<th>throughput</th><th>verified</th><th>key assumptions</th><th>source</th></tr>")
    body = []
    for entry in rows:
        data = entry.data
        cells = [f"<td>{_e(data.get('model') or '–')}</td>", f"<td>{_e(data.get('target', '?'))}</td>",
                 f"<td>{_e(data.get('card', '?'))}</td>", f"<td>{_e(data.get('method', '?'))}</td>"]
        for key, _ in HEADLINE:
            value = data.get(key)
            css = "num best" if key in best and _is_number(value) and float(value) == best[key] else "num"
            cells.append(f'<td class="{css}">{_e(format_value(value, key))}</td>')
        cells.append(f'<td class="num">{_e(format_value(data.get("throughput_inf_per_s"), "throughput_inf_per_s"))}</td>')
        if entry.verification:
            cells.append(f'<td><a href="#{_anchor("verification", entry.verification)}">'
                         f'{badge(verdicts.get(entry.verification))}</a></td>')
        else:
            cells.append('<td class="muted">–</td>')
        assumptions = [str(a) for a in data.get("assumptions") or []]
        shown = "".join(f"<li>{_e(a)}</li>" for a in assumptions[:KEY_ASSUMPTIONS])
        rest = len(assumptions) - KEY_ASSUMPTIONS
        more = f'<a href="#{_anchor("estimate", entry.source)}">+{rest} more</a>' if rest > 0 else ""
        cells.append(f'<td class="assume"><ul class="assumptions">{shown}</ul>{more}</td>')
        cells.append(f'<td class="src"><code>{_e(entry.source)}</code></td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    model = ""
    if contents.comparison:
        models = sorted({str(doc.get("model")) for _, doc in contents.comparison if doc.get("model")})
        model = f"<p>Model: <strong>{_e(', '.join(models))}</strong></p>" if models else ""
    note = (f'<p class="muted">From {_e(source)}. Per inference; the lowest value of each metric is '
            "highlighted. Energy = power × latency of one inference unless the assumptions say otherwise.</p>")
    return _section("estimates", "Cross-target comparison",
                    model + note + f'<div class="scroll"><table>{head}{"".join(body)}</table></div>')


def _breakdown_tables(breakdown: dict[str, Any]) -> str:
    """Breakdown entries grouped by their inner keys: per layer, per component, per metric."""
    groups: dict[tuple[str, ...], list[str]] = {}
    scalars = {}
    for part, metrics in breakdown.items():
        if isinstance(metrics, dict):
            groups.setdefault(tuple(metrics), []).append(part)
        else:
            scalars[part] = metrics
    html = []
    for columns, parts in groups.items():
        head = "<th></th>" + "".join(f"<th>{_e(c)}</th>" for c in columns)
        body = "".join(f"<tr><th>{_e(p)}</th>" + "".join(_cell(breakdown[p].get(c), c, p) for c in columns) + "</tr>"
                       for p in parts)
        html.append(f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>')
    if scalars:
        html.append(kv_table(scalars))
    return "".join(html) or '<p class="muted">(no breakdown)</p>'


def breakdown_section(estimates: list[EstimateEntry]) -> str:
    if not estimates:
        return ""
    parts = []
    for entry in estimates:
        data = entry.data
        anchor = _anchor("estimate", entry.source)
        headline = {key: data.get(key) for key, _ in HEADLINE}
        if data.get("throughput_inf_per_s") is not None:
            headline["throughput_inf_per_s"] = data["throughput_inf_per_s"]
        resources = data.get("resources") or {}
        assumptions = "".join(f"<li>{_e(a)}</li>" for a in data.get("assumptions") or [])
        versions = ", ".join(f"{k} {v}" for k, v in sorted((data.get("tool_versions") or {}).items()))
        parts.append(
            f'<div class="card" id="{anchor}"><h3>{_e(_estimate_label(data))}</h3>'
            f'<p class="muted">{_e(entry.source)} · method <strong>{_e(data.get("method", "?"))}</strong>'
            f' · card hash <code>{_e(str(data.get("card_hash", ""))[:16])}</code>'
            f'{" · " + _e(versions) if versions else ""}</p>'
            + kv_table(headline)
            + "<h4>breakdown</h4>" + _breakdown_tables(data.get("breakdown") or {})
            + (f"<h4>resources</h4>{kv_table(resources)}" if resources else "")
            + (f'<h4>assumptions</h4><ul class="assumptions">{assumptions}</ul>' if assumptions else "")
            + "</div>")
    return _section("breakdowns", "Breakdowns per estimate", "".join(parts))


def images_section(contents: RunContents) -> str:
    if not contents.images:
        return ""
    figures = []
    for path in contents.images:
        rel = contents.rel(path)
        caption = path.stem.replace("_", " ").replace("-", " ").strip().capitalize()
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        figures.append(f'<figure id="{_anchor("plot", rel)}"><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption><strong>{_e(caption)}</strong> <span class=\"muted\">({_e(rel)})</span>"
                       "</figcaption></figure>")
    return _section("plots", "Plots", "<div>" + "".join(figures) + "</div>")


def verification_section(contents: RunContents) -> str:
    if not contents.verifications:
        return ""
    parts = []
    for rel, data in contents.verifications:
        verdict, scalars, nested = _verdict(data)
        details = "".join(f"<details><summary>{_e(k)}</summary>{render_json(v, context=k)}</details>"
                          for k, v in nested.items())
        parts.append(f'<div class="card" id="{_anchor("verification", rel)}"><h3>{badge(verdict)} '
                     f"<code>{_e(rel)}</code></h3>{kv_table(scalars)}{details}</div>")
    summary = sum(1 for _, d in contents.verifications if _verdict(d)[0] is True)
    failed = sum(1 for _, d in contents.verifications if _verdict(d)[0] is False)
    head = (f"<p>{badge(True, f'{summary} passed')} {badge(False, f'{failed} failed') if failed else ''} "
            f"of {len(contents.verifications)} verified artifacts.</p>")
    return _section("verification", "Verification", head + "".join(parts))


def pareto_section(contents: RunContents) -> str:
    if not contents.paretos:
        return ""
    parts = []
    for rel, data in contents.paretos:
        body = render_json(data, order=("exact", "budgets", "front"))
        parts.append(f'<div class="card" id="{_anchor("pareto", rel)}"><h3><code>{_e(rel)}</code></h3>{body}</div>')
    return _section("pareto", "Pareto fronts", "".join(parts))


def _card_notes(path: str) -> dict[str, str]:
    """{dotted key: note} from the card's TOML (notes are not part of the loaded card)."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    notes = {}

    def walk(table: dict, prefix: str) -> None:
        for key, value in table.items():
            dotted = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                if "note" in value and "value" in value:
                    notes[dotted] = str(value["note"])
                else:
                    walk(value, dotted)

    walk(data, "")
    return notes


def _written(constant) -> str:
    from codesign.units import parse_unit

    try:
        _, factor = parse_unit(constant.unit)
    except CodesignError:
        return f"{constant.value:g}"
    value = constant.value / factor
    return f"{value:.6g} {constant.unit}" if constant.unit not in ("1", "count") else f"{value:.6g}"


_SI_UNITS = {"time": "s", "energy": "J", "power": "W", "voltage": "V", "current": "A", "conductance": "S",
             "resistance": "Ω", "frequency": "Hz", "capacitance": "F", "length": "m"}


def _si(constant) -> str:
    from codesign.units import parse_unit

    try:
        dimension, _ = parse_unit(constant.unit)
    except CodesignError:
        return f"{constant.value:.6g}"
    if dimension in _SI_UNITS:
        return format_si(constant.value, _SI_UNITS[dimension])
    if dimension == "area":
        return f"{constant.value:.6g} m²"
    return f"{constant.value:.6g}"


def _find_card(name: str, contents: RunContents | None):
    """A shipped card by name, else a card TOML in the run directory with that name."""
    from codesign.cards import load_card

    try:
        return load_card(name)
    except CodesignError as missing:
        for path in (contents.files if contents else []):
            if path.suffix == ".toml":
                try:
                    card = load_card(path)
                except CodesignError:
                    continue
                if card.name == name:
                    return card
        raise missing from None


def cards_section(estimates: list[EstimateEntry], contents: RunContents | None = None) -> str:
    names: dict[str, set[str]] = {}
    for entry in estimates:
        card = entry.data.get("card")
        if card:
            names.setdefault(str(card), set()).add(str(entry.data.get("card_hash", "")))
    if not names:
        return ""
    parts = []
    for name in sorted(names):
        try:
            card = _find_card(name, contents)
        except CodesignError as exc:
            parts.append(f'<div class="card"><h3>{_e(name)}</h3><p>{badge(None, "NOT FOUND")} '
                         f"{_e(exc.one_line())}</p></div>")
            continue
        hashes = names[name] - {""}
        if hashes and hashes != {card.content_hash}:
            status = badge(False, "CHANGED") + (" the card file differs from the one the estimates used "
                                                f"(estimate hash {', '.join(sorted(h[:12] for h in hashes))}, "
                                                f"card now {card.content_hash[:12]}); values below are today's")
        else:
            status = badge(True, "MATCHES") + " the card file is the one the estimates used"
        notes = _card_notes(card.path)
        rows = "".join(f"<tr><th>{_e(key)}</th><td class=\"num\">{_e(_written(c))}</td>"
                       f"<td class=\"num\">{_e(_si(c))}</td><td>{_e(c.unit)}</td>"
                       f"<td>{_e(c.source)}{'<br><span class=muted>' + _e(notes[key]) + '</span>' if key in notes else ''}"
                       "</td></tr>" for key, c in card.constants().items())
        settings = _card_settings(card.params)
        parts.append(f'<div class="card" id="{_anchor("card", name)}"><h3>{_e(card.name)} '
                     f'<span class="muted">({_e(card.family)})</span></h3><p>{_e(card.description)}</p>'
                     f'<p class="muted">{status}; file <code>{_e(_card_file(card.path, contents))}</code>, '
                     f"sha256 <code>{_e(card.content_hash[:16])}</code></p>"
                     + (f"<h4>settings</h4>{kv_table(settings)}" if settings else "")
                     + "<h4>constants</h4><table><tr><th>key</th><th>as written</th><th>SI value</th>"
                     f"<th>unit</th><th>source</th></tr>{rows}</table></div>")
    return _section("cards", "Target cards", "".join(parts))


def _card_file(path: str, contents: RunContents | None) -> str:
    if contents is not None:
        try:
            return Path(path).resolve().relative_to(contents.root.resolve()).as_posix()
        except ValueError:
            pass
    return Path(path).name


def _card_settings(params: Any, prefix: str = "") -> dict[str, str]:
    import dataclasses

    from codesign.cards import Constant

    found = {}
    if isinstance(params, Constant):
        return found
    if dataclasses.is_dataclass(params):
        for f in dataclasses.fields(params):
            value = getattr(params, f.name)
            key = f"{prefix}.{f.name}" if prefix else f.name
            if isinstance(value, str):
                found[key] = value
            elif dataclasses.is_dataclass(value) or isinstance(value, dict):
                found.update(_card_settings(value, key))
    elif isinstance(params, dict):
        for name, value in params.items():
            found.update(_card_settings(value, f"{prefix}.{name}" if prefix else name))
    return found


def assumptions_section(estimates: list[EstimateEntry]) -> str:
    blocks: dict[tuple[str, ...], list[str]] = {}
    for entry in estimates:
        assumptions = tuple(str(a) for a in entry.data.get("assumptions") or [])
        if assumptions:
            blocks.setdefault(assumptions, []).append(_estimate_label(entry.data))
    if not blocks:
        return ""
    parts = []
    for assumptions, labels in blocks.items():
        items = "".join(f"<li>{_e(a)}</li>" for a in assumptions)
        parts.append(f"<h3>{_e('; '.join(labels))}</h3><ul class=\"assumptions\">{items}</ul>")
    return _section("assumptions", "Assumptions", "".join(parts))


def other_section(contents: RunContents) -> str:
    parts = []
    for rel, data in contents.other_json:
        parts.append(f"<details><summary><code>{_e(rel)}</code></summary>{render_json(data)}</details>")
    for rel, text in contents.markdown:
        parts.append(f"<details><summary><code>{_e(rel)}</code></summary><pre>{_e(text)}</pre></details>")
    for rel, problem in contents.unreadable:
        parts.append(f"<p>{badge(None, 'UNREADABLE')} <code>{_e(rel)}</code>: {_e(problem)}</p>")
    return _section("other", "Other results", "".join(parts)) if parts else ""


def files_section(contents: RunContents) -> str:
    rows = "".join(f"<tr><td><code>{_e(contents.rel(p))}</code></td><td class=\"num\">"
                   f"{_e(_size(p.stat().st_size))}</td></tr>" for p in contents.files[:MAX_FILES])
    more = (f'<p class="muted">… {len(contents.files) - MAX_FILES} more files</p>'
            if len(contents.files) > MAX_FILES else "")
    return _section("files", "Files", f"<details><summary>{len(contents.files)} files</summary>"
                    f"<table><tr><th>file</th><th>size</th></tr>{rows}</table>{more}</details>")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------
def render(contents: RunContents) -> str:
    from codesign import __version__

    estimates = all_estimates(contents)
    sections = [overview_section(contents), images_section(contents), breakdown_section(estimates),
                verification_section(contents), pareto_section(contents), cards_section(estimates, contents),
                assumptions_section(estimates), other_section(contents), files_section(contents)]
    sections = [s for s in sections if s]
    titles = [(s.split('id="', 1)[1].split('"', 1)[0], s.split("<h2>", 1)[1].split("</h2>", 1)[0]) for s in sections]
    nav = "<nav>" + "".join(f'<a href="#{anchor}">{title}</a>' for anchor, title in titles) + "</nav>"
    name = contents.root.resolve().name or str(contents.root)
    counts = (f"{len(estimates)} estimates, {len(contents.images)} plots, {len(contents.verifications)} "
              f"verification reports, {len(contents.paretos)} Pareto fronts, {len(contents.files)} files")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>codesign report: {_e(name)}</title><style>{CSS}</style></head><body><main>"
            f"<h1>codesign report: {_e(name)}</h1><p class=\"muted\">{_e(counts)} · codesign {_e(__version__)}</p>"
            f"{nav}{''.join(sections)}</main></body></html>\n")


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the HTML report of ``run_dir`` (default ``run_dir/report.html``) atomically."""
    root = Path(run_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such run directory", hint="pass a directory written by codesign export, estimate or a flow")
    out_path = Path(out) if out is not None else root / DEFAULT_NAME
    if out_path.is_dir():
        raise DataError(f"{out_path} is a directory", hint="pass a file name, e.g. --out report.html")
    contents = collect(root, skip=out_path)
    if not contents.has_content:
        raise DataError(f"{root}: nothing to report (no estimates, plots, verification, Pareto or JSON results)",
                        hint="run codesign export / estimate --out, or a flow, into this directory first")
    page = render(contents)
    return write_file(out_path, page, replace="own")  # replaces only a report codesign wrote there


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="directory with estimates, exports, plots, verification and Pareto results")
    parser.add_argument("--out", metavar="FILE.html", help=f"where to write the page (default: RUN_DIR/{DEFAULT_NAME})")


def run(args) -> int:
    path = write_report(args.run_dir, args.out)
    print(f"wrote {path} ({_size(path.stat().st_size)})")
    return 0


__all__ = ["add_arguments", "collect", "format_si", "render", "run", "write_report"]
