"""The sections that show files as they are: plots, verification reports, Pareto fronts of an
export, other JSON results and notes, and the file inventory."""

from __future__ import annotations

import base64
from pathlib import Path

from codesign.report.collect import RunContents, verdict
from codesign.report.formatting import size
from codesign.report.html import anchor, badge, e, kv_table, plural, render_json, section

MAX_FILES = 1000  # rows in the file inventory


def figure(path: Path, rel: str) -> str:
    """A PNG embedded as a data: URI, captioned from its file name."""
    caption = path.stem.replace("_", " ").replace("-", " ").strip().capitalize()
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        return f"<p>{badge(None, 'UNREADABLE')} <code>{e(rel)}</code>: {e(str(exc).splitlines()[0])}</p>"
    return (f'<figure id="{anchor("plot", rel)}"><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption><strong>{e(caption)}</strong> <span class=\"muted\">({e(rel)})</span></figcaption></figure>")


def images_section(contents: RunContents) -> str:
    if not contents.images:
        return ""
    figures = "".join(figure(path, contents.rel(path)) for path in contents.images)
    return section("plots", "Plots", f"<div>{figures}</div>", plural(len(contents.images), "plot"))


def verification_section(contents: RunContents) -> str:
    if not contents.verifications:
        return ""
    parts, verdicts = [], []
    for rel, data in contents.verifications:
        passed, scalars, nested = verdict(data)
        verdicts.append(passed)
        details = "".join(f"<details><summary>{e(k)}</summary>{render_json(v, context=k)}</details>"
                          for k, v in nested.items())
        parts.append(f'<div class="card" id="{anchor("verification", rel)}"><h3>{badge(passed)} '
                     f"<code>{e(rel)}</code></h3>{kv_table(scalars)}{details}</div>")
    counts = [(verdicts.count(True), True, "passed"), (verdicts.count(False), False, "failed"),
              (verdicts.count(None), None, "without a verdict")]
    head = " ".join(badge(kind, f"{n} {word}") for n, kind, word in counts if n)
    return section("verification", "Verification", f"<p>{head}</p>" + "".join(parts),
                   plural(len(parts), "report"))


def pareto_section(contents: RunContents) -> str:
    """Pareto fronts other than a sweep's (e.g. the approximation search of a printed export)."""
    if not contents.paretos:
        return ""
    parts = []
    for rel, data in contents.paretos:
        body = render_json(data, order=("exact", "budgets", "front"))
        parts.append(f'<div class="card" id="{anchor("pareto", rel)}"><h3><code>{e(rel)}</code></h3>{body}</div>')
    return section("pareto", "Pareto fronts", "".join(parts), plural(len(parts), "file"))


def other_section(contents: RunContents) -> str:
    parts = []
    for rel, data in contents.other_json:
        parts.append(f"<details><summary><code>{e(rel)}</code></summary>{render_json(data)}</details>")
    for rel, text in contents.markdown:
        parts.append(f"<details><summary><code>{e(rel)}</code></summary><pre>{e(text)}</pre></details>")
    for rel, problem in contents.unreadable:
        parts.append(f"<p>{badge(None, 'UNREADABLE')} <code>{e(rel)}</code>: {e(problem)}</p>")
    return section("other", "Other results", "".join(parts), plural(len(parts), "file")) if parts else ""


def files_section(contents: RunContents) -> str:
    shown = contents.files[:MAX_FILES]
    rows = "".join(f"<tr><td><code>{e(contents.rel(p))}</code></td><td class=\"num\">"
                   f"{e(size(p.stat().st_size))}</td></tr>" for p in shown)
    count = plural(len(contents.files), "file")
    if len(shown) < len(contents.files):
        count = f"{len(shown)} of {count} listed"
    return section("files", "Files", f"<details><summary>{count}</summary>"
                   f"<table><tr><th>file</th><th>size</th></tr>{rows}</table></details>", count)
