"""The ``codesign`` command line: a thin layer over the public API.

Every user error becomes one line on stderr and exit status 2 (1 where a check ran and
failed); tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import import_module

from codesign import __version__
from codesign.errors import CodesignError
from codesign.outputs import check_file_output, check_files_directory, claim_directory


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codesign",
        description="Co-design quantised MLPs for FPGAs, resistive crossbars and printed electronics.",
    )
    parser.add_argument("--version", action="version", version=f"codesign {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    inspect = commands.add_parser("inspect", help="validate a QONNX model and print its layer table")
    inspect.add_argument("model", help="QONNX .onnx file")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")

    verify = commands.add_parser("verify", help="check the integer reference against qonnx execution")
    verify.add_argument("model", help="QONNX .onnx file")
    verify.add_argument("--samples", type=int, default=256, help="random inputs to try (default 256)")
    verify.add_argument("--seed", type=int, default=0)
    verify.add_argument("--json", action="store_true")

    cards = commands.add_parser("cards", help="list shipped target cards, or show one")
    cards.add_argument("name", nargs="?", help="card name or .toml path to show in full")
    cards.add_argument("--family", choices=("fpga", "crossbar", "printed"))
    cards.add_argument("--json", action="store_true")

    commands.add_parser("backends", help="list installed target backends")

    for name, text in (("export", "lower a model for a target and write the artifact"),
                       ("estimate", "estimate latency, energy and area on a target")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("model", help="QONNX .onnx file")
        if name == "export":
            sub.add_argument("--target", help="backend name (default: the card's family)")
            sub.add_argument("--card", required=True, help="card name (see `codesign cards`) or .toml path")
        else:
            sub.add_argument("--target", help="backend name (default: the card's family), or 'all' for the "
                             "cross-target table (default cards: one per family)")
            sub.add_argument("--card", action="append", metavar="CARD",
                             help="card name or .toml path; repeat with --target all (default there: "
                             "pynq-z2, rram-40nm, egfet-1v)")
        sub.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                         help="backend option, repeatable (values parsed as JSON when possible)")
        sub.add_argument("--data", help="labelled data for verification, activity and approximation: a CSV "
                         "(label last), uci:NAME or a scikit-learn set name (same as -O data=...)")
        if name == "export":
            sub.add_argument("--accuracy-loss", type=float, nargs="+", metavar="LOSS",
                             help="printed: approximate the design within this accuracy loss (e.g. 0.01); "
                             "the first value picks the written design, all of them go to pareto.json")
            sub.add_argument("--out", required=True, help="output directory (created atomically)")
            sub.add_argument("--force", action="store_true",
                             help="replace an earlier codesign output in --out (never a directory codesign did not write)")
        else:
            sub.add_argument("--json", action="store_true")
            sub.add_argument("--out", help="also write the estimate JSON to this new file (with --target all: a "
                             "directory for comparison.json, .csv and .png)")
    for name, (module, text) in EXTENSIONS.items():
        import_module(module).add_arguments(commands.add_parser(name, help=text, description=text))
    return parser


# commands implemented in their own modules: each has add_arguments(parser) and run(args) -> int
EXTENSIONS = {
    "check": ("codesign.check", "recompute estimates and compare them with stored baselines (CI regression check)"),
    "sweep": ("codesign.dse.cli", "design-space sweep with Optuna (NSGA-II), in processes or on Ray"),
    "report": ("codesign.report", "write a self-contained HTML report of a run directory"),
}


def _options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CodesignError(f"option {pair!r} is not KEY=VALUE", hint="write e.g. -O reuse_factor=4")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = value
    return options


def _console():
    from rich.console import Console

    # piped output gets a fixed width so tables stay readable in logs
    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def cmd_inspect(args) -> int:
    from codesign.ir import load
    from codesign.ir.describe import summary

    graph = load(args.model)
    info = summary(graph)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    from codesign.report_tables import layer_table

    console = _console()
    console.print(layer_table(info))
    totals = info["totals"]
    console.print(f"{info['inputs']} inputs -> {info['outputs']} outputs, head: {info['head']}; "
                  f"{totals['parameters']} parameters, {totals['macs']} MACs "
                  f"({totals['nonzero_macs']} non-zero), {totals['weight_bits']} weight bits")
    if info["input_preprocessing"]:
        console.print(f"input pre-processing: {', '.join(info['input_preprocessing'])}")
    if info["fixed_random_layers"]:
        console.print(f"fixed-random layers (realised by device switching, never trained): "
                      f"{', '.join(info['fixed_random_layers'])}")
    for key in ("codesign.training", "codesign.seed", "codesign.noise_model", "codesign.dataset"):
        if key in info["metadata"]:
            console.print(f"{key.split('.', 1)[1]}: {info['metadata'][key]}")
    if not graph.integer:
        console.print("note: some layer inputs are floating point; integer backends will ask for quantisers")
    return 0


def cmd_verify(args) -> int:
    from codesign.ir import load
    from codesign.ir.crosscheck import crosscheck, random_inputs

    if args.samples < 1:
        raise CodesignError(f"--samples {args.samples} must be >= 1", hint="pass a positive count")
    graph = load(args.model)
    result = crosscheck(graph, random_inputs(graph, args.samples, args.seed))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print(("OK: " if result.agrees else "MISMATCH: ") + result.describe())
    return 0 if result.agrees else 1


def cmd_cards(args) -> int:
    from codesign.cards import list_cards, load_card

    if args.name:
        card = load_card(args.name)
        if args.json:
            data = {key: {"value": c.value, "unit": c.unit, "source": c.source}
                    for key, c in card.constants().items()}
            print(json.dumps({"name": card.name, "family": card.family, "constants": data}, indent=2))
            return 0
        from codesign.report_tables import card_table

        _console().print(card_table(card))
        return 0
    cards = [c for c in list_cards() if not args.family or c.family == args.family]
    if args.json:
        print(json.dumps([{"name": c.name, "family": c.family, "description": c.description,
                           "path": c.path} for c in cards], indent=2))
        return 0
    from codesign.report_tables import cards_table

    _console().print(cards_table(cards))
    return 0


def cmd_backends(_args) -> int:
    from codesign.backends import installed_backends

    found = installed_backends()
    if not found:
        print("no backends installed")
    for name, entry in found.items():
        print(f"{name:10s} {entry.value}")
    return 0


def _graph_card_backend(args):
    from codesign.backends import backend_for
    from codesign.cards import load_card
    from codesign.ir import load

    names = args.card if isinstance(args.card, list) else [args.card]
    if not names or names[0] is None:
        raise CodesignError("no --card given", hint="pass --card NAME (see `codesign cards`), or --target all")
    if len(names) > 1:
        raise CodesignError("several --card options need --target all", hint="pass one --card, or --target all")
    card = load_card(names[0])
    backend = backend_for(args.target, card)
    return load(args.model), card, backend


def cmd_export(args) -> int:
    claim_directory(args.out, overwrite=args.force)  # refuse an unsafe --out before any work
    graph, card, backend = _graph_card_backend(args)
    options = _options(args.option)
    if args.data:
        options["data"] = args.data
    if args.accuracy_loss:
        options["accuracy_loss"] = args.accuracy_loss
    artifact = backend.lower(graph, card, args.out, overwrite=args.force, **options)
    print(f"wrote {artifact.directory} ({len(artifact.files)} files, sha256 {artifact.digest[:16]})")
    return 0


def _per_target(options: dict) -> dict[str, dict]:
    """-O fpga.reuse_factor=2 -> {"fpga": {"reuse_factor": 2}}; an undotted key goes to every target."""
    shared = {key: value for key, value in options.items() if "." not in key}
    nested: dict[str, dict] = {}
    for key, value in options.items():
        if "." in key:
            target, _, name = key.partition(".")
            nested.setdefault(target, {})[name] = value
    return {target: {**shared, **nested.get(target, {})} for target in ("fpga", "crossbar", "printed")} | \
        {target: values for target, values in nested.items() if target not in ("fpga", "crossbar", "printed")}


def cmd_compare(args) -> int:
    from codesign.cards import load_card
    from codesign.comparison import DEFAULT_CARDS, compare
    from codesign.ir import load

    if args.out:
        check_files_directory(args.out)
    cards = [load_card(name) for name in (args.card or DEFAULT_CARDS)]
    options = _options(args.option)
    if args.data:
        options["printed.data"] = args.data
    per_target = {target: values for target, values in _per_target(options).items()
                  if values and target in {card.family for card in cards}}
    comparison = compare(load(args.model), cards, per_target)
    if args.out:
        files = comparison.save(args.out)
    if args.json:
        print(comparison.to_json(), end="")
        return 0
    _console().print(comparison.table())
    if args.out:
        print(f"wrote {', '.join(str(path) for path in files.values())}")
    return 0


def cmd_estimate(args) -> int:
    if args.target == "all":
        return cmd_compare(args)
    if args.out:
        check_file_output(args.out)
    graph, card, backend = _graph_card_backend(args)
    options = _options(args.option)
    if args.data:
        options["data"] = args.data
    estimate = backend.estimate(graph, card, **options)
    if args.out:
        estimate.save(args.out)
    if args.json:
        print(estimate.to_json(), end="")
    else:
        from codesign.report_tables import estimate_table, vendor_table

        _console().print(estimate_table(estimate))
        if "vendor_relative_error" in estimate.breakdown:
            _console().print(vendor_table(estimate))
    return 0


COMMANDS = {"inspect": cmd_inspect, "verify": cmd_verify, "cards": cmd_cards, "backends": cmd_backends,
            "export": cmd_export, "estimate": cmd_estimate}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command in EXTENSIONS:
            return import_module(EXTENSIONS[args.command][0]).run(args)
        return COMMANDS[args.command](args)
    except CodesignError as exc:
        print(f"codesign {args.command}: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("codesign: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["main"]
