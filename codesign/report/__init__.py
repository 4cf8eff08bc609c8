"""``codesign report RUN_DIR``: one self-contained HTML page summarising a run directory.

The page opens offline: styles are inline, plots are embedded as base64 ``data:`` URIs, and
nothing refers to the network. It shows, from whatever the run directory holds:

- a cross-target table of every distinct estimate (``comparison.json`` rows and estimate
  files), in SI units read from the estimate's keys, with the verification result of each
  exported artifact and the key assumptions;
- the Pareto fronts of a ``codesign sweep`` directory: objectives, Pareto-optimal trials and,
  per target, its plot and the estimates of those trials;
- every PNG, captioned from its file name;
- each estimate's ``breakdown`` and ``resources`` as tables (one area unit per column);
- every ``verification.json`` as a pass / fail badge with its numbers;
- other Pareto fronts (``*pareto.json``) and JSON results as tables;
- the target cards the estimates used, each constant with its value, unit and source;
- an inventory of the files.

The output is deterministic (sorted traversal, no timestamps), so two reports of the same run
directory are byte-identical.  Modules: ``formatting`` (units), ``collect`` (reading the
directory), ``html`` (pieces), ``estimates`` / ``sweep`` / ``cards`` / ``sections`` (the
sections) and ``page`` (the page and its one write).
"""

from __future__ import annotations

from codesign.report.collect import collect
from codesign.report.formatting import format_area, format_si, size
from codesign.report.page import DEFAULT_NAME, render, write_report


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="directory with estimates, exports, plots, verification and Pareto results")
    parser.add_argument("--out", metavar="FILE.html", help=f"where to write the page (default: RUN_DIR/{DEFAULT_NAME})")


def run(args) -> int:
    path = write_report(args.run_dir, args.out)
    print(f"wrote {path} ({size(path.stat().st_size)})")
    return 0


__all__ = ["add_arguments", "collect", "format_area", "format_si", "render", "run", "write_report"]
