"""Generate docs/cli.md from the argparse parser of the ``codesign`` command.

    python docs/gen_cli.py            # rewrite docs/cli.md
    python docs/gen_cli.py --check    # exit 1 if docs/cli.md is out of date

The reference is rendered from ``codesign.cli._parser()``, so it lists exactly the commands,
arguments, defaults and choices the installed CLI accepts; tests/test_docs.py fails when the
file and the parser drift apart.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent / "cli.md"
WIDTH = 96  # usage lines are wrapped at a fixed width, whatever the terminal


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """[(name, one-line help, parser)] in the order the CLI lists them."""
    for action in parser._actions:  # argparse keeps sub-commands on a private action
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _argument(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    metavar = ""
    if action.nargs != 0:
        name = action.metavar or action.dest.upper()
        if isinstance(name, tuple):
            name = " ".join(name)
        metavar = {"+": f" {name} [{name} ...]", "*": f" [{name} ...]", "?": f" [{name}]"}.get(action.nargs, f" {name}")
    return ", ".join(f"`{option}{metavar}`" for option in action.option_strings)


def _details(action: argparse.Action) -> str:
    parts = [_cell(action.help or "")]
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        parts.append("choices: " + ", ".join(f"`{c}`" for c in action.choices))
    if action.required and action.option_strings:
        parts.append("required")
    if isinstance(action, argparse._AppendAction):
        parts.append("repeatable")
    default = action.default
    if action.nargs != 0 and default not in (None, [], argparse.SUPPRESS) and f"default {default}" not in parts[0]:
        parts.append(f"default: `{default}`")
    return "; ".join(p for p in parts if p)


def _arguments_table(parser: argparse.ArgumentParser) -> str:
    rows = [(_argument(a), _details(a)) for a in parser._actions
            if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction | argparse._VersionAction)]
    if not rows:
        return "No arguments.\n"
    lines = ["| argument | description |", "|---|---|"]
    lines += [f"| {name} | {text} |" for name, text in rows]
    return "\n".join(lines) + "\n"


def _usage(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=WIDTH)
    return parser.format_usage().strip()


def render() -> str:
    from codesign.cli import _parser

    parser = _parser()
    commands = _subcommands(parser)
    out = ["# Command-line reference", "",
           "<!-- Generated from codesign.cli by docs/gen_cli.py; do not edit by hand. -->", "",
           f"{parser.description}", "",
           "```text", _usage(parser), "```", "",
           "`codesign --version` prints the version. Every command reports a user error (a bad "
           "model, card, option or path) as one line on standard error and exits with status 2; "
           "a check that ran and failed exits with status 1.", "",
           "| command | what it does |", "|---|---|"]
    out += [f"| [`{name}`](#codesign-{name}) | {_cell(text)} |" for name, text, _ in commands]
    for name, text, sub in commands:
        out += ["", f"## codesign {name}", "", _cell(sub.description or text), "",
                "```text", _usage(sub), "```", "", _arguments_table(sub).rstrip()]
    out += _backend_options()
    return "\n".join(out) + "\n"


def _backend_options() -> list[str]:
    """One table per shipped backend, from its option schema (what `codesign backends --options` prints)."""
    from codesign.backends.base import get_backend, installed_backends

    out = ["", "## Backend options", "",
           "Set with `-O KEY=VALUE` (`export`, `estimate`), as keyword arguments in Python, or in a sweep "
           "target's `options` table; every value is checked against the backend's schema. Options marked "
           "*sweep* can also be varied per trial in a sweep's `[space]`."]
    shipped = [name for name, entry in installed_backends().items() if entry.value.startswith("codesign.")]
    for name in shipped:
        backend = get_backend(name)
        knobs = ", ".join(f"`{k}`" for k in backend.sweep_knobs) or "none"
        out += ["", f"### {name}", "",
                f"{backend.family} cards; default card `{backend.default_card}`; sweep knobs: {knobs}.", "",
                "| option | allowed | default | used by | description |", "|---|---|---|---|---|"]
        for row in backend.options.describe():
            default = "–" if row["default"] is None else f"`{row['default']}`"
            if row["sweep_default"] is not None:
                default += f" (sweeps: `{row['sweep_default']}`)"
            out.append(f"| `{row['name']}` | {_cell(row['allowed'])} | {default} | {', '.join(row['commands'])} | "
                       f"{_cell(row['help'])} |")
    return out


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description="Generate docs/cli.md from the codesign parser.")
    args.add_argument("--check", action="store_true", help="only check that docs/cli.md is up to date")
    args = args.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python docs/gen_cli.py", file=sys.stderr)
            return 1
        print(f"{TARGET} is up to date")
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
