"""The whole page: sections in order, a navigation bar, and the one place the file is written."""

from __future__ import annotations

import os
from pathlib import Path

from codesign.errors import DataError
from codesign.outputs import write_file
from codesign.report import estimates as estimate_sections
from codesign.report import sections, sweep
from codesign.report.cards import cards_section, cards_used
from codesign.report.collect import RunContents, collect, estimate_rows
from codesign.report.html import CSS, e, plural

DEFAULT_NAME = "report.html"
GENERATOR = '<meta name="generator" content="codesign report">'  # marks a page this command may replace


def render(contents: RunContents) -> str:
    """The HTML page of collected run contents (deterministic: no timestamps, sorted traversal)."""
    from codesign import __version__

    rows = estimate_rows(contents)
    swept = [estimate for s in contents.sweeps for estimate in sweep.estimates(s)]
    parts = [estimate_sections.overview_section(rows, contents),
             *(sweep.sweep_section(s, contents) for s in contents.sweeps),
             sections.images_section(contents), estimate_sections.breakdown_section(rows),
             sections.verification_section(contents), sections.pareto_section(contents),
             cards_section(cards_used([r.data for r in rows] + swept), contents),
             estimate_sections.assumptions_section(rows), sections.other_section(contents),
             sections.files_section(contents)]
    parts = [p for p in parts if p]
    titles = [(p.split('id="', 1)[1].split('"', 1)[0], p.split('data-title="', 1)[1].split('"', 1)[0]) for p in parts]
    nav = "<nav>" + "".join(f'<a href="#{anchor}">{title}</a>' for anchor, title in titles) + "</nav>"
    name = contents.root.resolve().name or str(contents.root)
    counts = [plural(len(rows), "estimate"), plural(len(contents.sweeps), "sweep"),
              plural(len(contents.images) + sum(len(s.images) for s in contents.sweeps), "plot"),
              plural(len(contents.verifications), "verification report"),
              plural(len(contents.paretos), "other Pareto front"), plural(len(contents.files), "file")]
    counts = [c for c in counts if not c.startswith("0 ")]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{GENERATOR}'
            f"<title>codesign report: {e(name)}</title><style>{CSS}</style></head><body><main>"
            f"<h1>codesign report: {e(name)}</h1><p class=\"muted\">{e(', '.join(counts))} · codesign {e(__version__)}</p>"
            f"{nav}{''.join(parts)}</main></body></html>\n")


def _ours(path: Path) -> bool:
    """Whether ``path`` is a page this command wrote (the only kind of file it replaces)."""
    try:
        with path.open("rb") as stream:
            head = stream.read(4096)
    except OSError:
        return False
    return GENERATOR.encode() in head or b"<title>codesign report: " in head  # also pages of earlier versions


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the HTML report of ``run_dir`` (default ``run_dir/report.html``) atomically."""
    root = Path(run_dir)
    if not root.is_dir():
        what = "is a file, not a run directory" if root.exists() else "no such run directory"
        raise DataError(f"{root}: {what}", hint="pass a directory written by codesign export, estimate, sweep or a flow")
    out_path = Path(out) if out is not None else root / DEFAULT_NAME
    if out_path.is_dir():
        raise DataError(f"{out_path} is a directory", hint="pass a file name, e.g. --out report.html")
    if out_path.exists() and not _ours(out_path):
        raise DataError(f"{out_path} exists and is not a page codesign report wrote; it is left untouched",
                        hint="pass another --out, or move the file away")
    contents = collect(root, skip=out_path)
    if not contents.has_content:
        raise DataError(f"{root}: nothing to report (no estimates, sweeps, plots, verification, Pareto or JSON results)",
                        hint="run codesign export / estimate --out / sweep, or a flow, into this directory first")
    page = render(contents)
    try:
        write_file(out_path, page, replace=_ours)  # atomic; replaces only a page codesign wrote
    except OSError as exc:
        raise DataError(f"{out_path}: cannot be written ({exc.strerror or exc})",
                        hint="pass an --out in a writable directory") from None
    return out_path
