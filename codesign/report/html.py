"""HTML pieces of the report: the style sheet, badges, tables and a renderer for any JSON value.

Every table picks one area unit per column (or per row, where the row's key is the area):
an area column never mixes µm², mm² and cm².
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from codesign.report.formatting import (
    area_key,
    area_unit,
    format_area,
    format_value,
    is_number,
    plain,
)

MAX_ROWS = 200  # rows per generic table

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2430;background:#f6f7f9;line-height:1.45}
main{max-width:1400px;margin:0 auto;padding:1.2em 1.6em 4em;box-sizing:border-box}
h1{font-size:1.6em;margin:.4em 0 .1em}h2{border-bottom:2px solid #d6dbe3;padding-bottom:.2em;margin-top:2em}
h3{margin:1.4em 0 .4em}h4{margin:1em 0 .3em;color:#404a5a}
nav{background:#fff;border:1px solid #d6dbe3;border-radius:6px;padding:.5em 1em;margin:1em 0}
nav a{margin-right:1.2em;color:#1a56a8;text-decoration:none}
table{border-collapse:collapse;margin:.4em 0 1em;background:#fff;font-size:.9em}
th,td{border:1px solid #d6dbe3;padding:.25em .6em;vertical-align:top;text-align:left}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{background:#e3f4e6;font-weight:600}
table.wide{width:100%}
.muted{color:#6a7382;font-size:.9em}code{font-size:.85em;background:#eef1f5;padding:0 .2em;border-radius:3px}
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;font-size:.8em;font-weight:700;color:#fff;letter-spacing:.03em;white-space:nowrap}
.pass{background:#1f8a3b}.fail{background:#c62828}.unknown{background:#7a8494}.warn{background:#b26a00}
figure{background:#fff;border:1px solid #d6dbe3;border-radius:6px;padding:.6em;margin:1em 0;display:inline-block;max-width:100%;box-sizing:border-box}
figure img{max-width:100%;height:auto;display:block}figcaption{margin-top:.4em;font-size:.9em;color:#404a5a}
details{margin:.4em 0}summary{cursor:pointer;color:#1a56a8}
.card{background:#fff;border:1px solid #d6dbe3;border-radius:6px;padding:.2em 1em .6em;margin:1em 0}
pre{background:#fff;border:1px solid #d6dbe3;padding:.6em;overflow-x:auto;font-size:.85em;white-space:pre-wrap}
ul.assumptions{margin:0;padding-left:1.1em}ul.assumptions li{margin:.2em 0}
td.assume{min-width:16em;font-size:.85em}
.scroll{overflow-x:auto;max-width:100%}
"""


def e(value: Any) -> str:
    """HTML-escaped text."""
    return escape(str(value), quote=True)


def breakable(text: Any) -> str:
    """Escaped text that may wrap after '.', '_', '/' and '-' (names and paths in narrow columns)."""
    escaped = e(text)
    for mark in (".", "_", "/", "-"):
        escaped = escaped.replace(mark, mark + "<wbr>")
    return escaped


def anchor(prefix: str, text: str) -> str:
    return prefix + "-" + "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def badge(verdict: bool | None, text: str | None = None) -> str:
    kind = {True: "pass", False: "fail", None: "unknown"}[verdict]
    label = text or {True: "PASS", False: "FAIL", None: "NO VERDICT"}[verdict]
    return f'<span class="badge {kind}">{e(label)}</span>'


def section(anchor_id: str, title: str, body: str, count: str = "") -> str:
    """A top-level section; ``count`` (what it shows, e.g. '3 estimates') goes into the heading."""
    heading = f"{e(title)} <span class=\"muted\">({e(count)})</span>" if count else e(title)
    return f'<section id="{anchor_id}" data-title="{e(title)}"><h2>{heading}</h2>{body}</section>'


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


class AreaUnits:
    """One area unit per group of cells (a column, or a row keyed by an area name)."""

    def __init__(self) -> None:
        self._values: dict[Any, list[float]] = {}
        self._units: dict[Any, tuple[str, float]] = {}

    def add(self, group: Any, value: Any, *keys: str) -> None:
        found = area_key(*keys)
        if found is not None and is_number(value):
            self._values.setdefault(group, []).append(float(value) * found[1])

    def text(self, group: Any, value: Any, *keys: str) -> str:
        found = area_key(*keys)
        if found is None or not is_number(value):
            return format_value(value, *keys)
        if group not in self._units:
            self._units[group] = area_unit(self._values.get(group, []))
        return format_area(float(value) * found[1], self._units[group])


def cell(value: Any, *keys: str, text: str | None = None, css: str = "") -> str:
    """One <td>: nested values fold into <details>; numbers right-aligned, shown by their key's unit."""
    if value and (isinstance(value, dict) or (isinstance(value, list)
                                             and not all(isinstance(x, str | int | float) for x in value))):
        dumped = json.dumps(value, sort_keys=True, default=str)
        count = plural(len(value), "key" if isinstance(value, dict) else "item")
        return f"<td><details><summary>{count}</summary><code>{e(dumped[:4000])}</code></details></td>"
    classes = " ".join(c for c in ("num" if is_number(value) else "", css) if c)
    attribute = f' class="{classes}"' if classes else ""
    return f"<td{attribute}>{e(format_value(value, *keys) if text is None else text)}</td>"


def kv_table(items: dict[str, Any], *, context: str = "") -> str:
    """Key / value rows; under an area context (``area_mm2: {...}``) every row shares one unit."""
    units = AreaUnits()
    shared = area_key(context) is not None

    def group(key: str) -> str:
        return "context" if shared and area_key(key) is None else key

    for key, value in items.items():
        units.add(group(key), value, key, context)
    rows = "".join(f"<tr><th>{e(key)}</th>"
                   + cell(value, key, context, text=units.text(group(key), value, key, context)
                          if is_number(value) else None) + "</tr>"
                   for key, value in items.items())
    return f"<table>{rows}</table>" if rows else ""


def grid(rows: list[str], columns: list[str], value_of, *, labelled: bool = True, context: str = "") -> str:
    """A table of ``value_of(row, column)``; a cell's unit comes from its column key, else its row
    key (when rows are labelled), else the context (the key the whole table sits under)."""
    units = AreaUnits()

    def keys(row: str, column: str) -> tuple[str, ...]:
        return (column, row, context) if labelled else (column, context)

    def group(row: str, column: str) -> Any:
        if area_key(column):
            return ("column", column)
        return ("row", row) if labelled and area_key(row) else ("table",)

    for row in rows:
        for column in columns:
            units.add(group(row, column), value_of(row, column), *keys(row, column))
    head = ("<th></th>" if labelled else "") + "".join(f"<th>{breakable(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = value_of(row, column)
            text = units.text(group(row, column), value, *keys(row, column)) if is_number(value) else None
            cells.append(cell(value, *keys(row, column), text=text))
        body.append("<tr>" + (f"<th>{e(row)}</th>" if labelled else "") + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def list_table(rows: list[dict], *, context: str = "") -> str:
    """A list of objects as one table (columns in first-seen order, at most MAX_ROWS rows)."""
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    shown = rows[:MAX_ROWS]
    table = grid([str(i) for i in range(len(shown))], columns, lambda r, c: shown[int(r)].get(c),
                 labelled=False, context=context)
    more = f'<p class="muted">showing {MAX_ROWS} of {len(rows)} rows</p>' if len(rows) > MAX_ROWS else ""
    return table + more


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
                parts.append(f"<h{level}>{e(key)}</h{level}><p><code>{e(plain(value[key]))}</code></p>")
            else:
                parts.append(f"<h{level}>{e(key)}</h{level}>" + render_json(value[key], depth=depth + 1, context=key))
        return "".join(parts)
    if isinstance(value, list):
        if not value:
            return '<p class="muted">(empty)</p>'
        if all(isinstance(row, dict) for row in value):
            return list_table(value, context=context)
        if all(not isinstance(x, dict | list) for x in value):
            shown = ", ".join(format_value(x, context) for x in value[:MAX_ROWS])
            return f"<p>{e(shown)}{' …' if len(value) > MAX_ROWS else ''}</p>"
        return list_table([{"value": x} for x in value], context=context)
    return f"<p>{e(format_value(value, context))}</p>"
