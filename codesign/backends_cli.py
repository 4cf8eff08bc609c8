"""`codesign backends`: the installed target backends, or every option of one."""

from __future__ import annotations

import json

from codesign.console import console as terminal
from codesign.errors import CodesignError


def add_arguments(parser) -> None:
    parser.add_argument("--options", metavar="TARGET", help="list every option of TARGET (type, allowed values, "
                        "default, commands, help)")
    parser.add_argument("--json", action="store_true")


def run(args) -> int:
    from codesign.backends import get_backend, installed_backends

    if args.options:
        backend = get_backend(args.options)
        rows = backend.options.describe()
        if args.json:
            print(json.dumps({"target": backend.name, "family": backend.family, "default_card": backend.default_card,
                              "sweep_knobs": list(backend.sweep_knobs), "options": rows}, indent=2, default=str))
            return 0
        from codesign.report_tables import options_table

        terminal().print(options_table(backend, rows))
        return 0
    found = installed_backends()
    rows = []
    for name, entry in found.items():
        try:
            backend = get_backend(name)
            rows.append({"target": name, "family": backend.family, "default_card": backend.default_card,
                         "options": list(backend.options.names()), "entry_point": entry.value})
        except CodesignError as exc:
            rows.append({"target": name, "entry_point": entry.value, "error": exc.one_line()})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no backends installed")
    for row in rows:
        if "error" in row:
            print(f"{row['target']:10s} unavailable: {row['error']}")
        else:
            print(f"{row['target']:10s} family {row['family']:9s} default card {row['default_card']:12s} "
                  f"{len(row['options'])} options ({row['entry_point']})")
    return 0
