"""The ``codesign`` command line: a thin layer over the public API.

Every user error becomes one line on stderr and exit status 2 (1 where a check ran and failed);
an internal error (a bug, not the user's input) exits 1 with a short message, and ``--debug``
shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import import_module

from codesign.console import console as terminal
from codesign.errors import CodesignError
from codesign.outputs import check_file_output, check_files_directory, claim_directory
from codesign.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2), like every other user error of codesign."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="codesign",
        description="Co-design quantised MLPs for FPGAs, resistive crossbars and printed electronics.",
    )
    parser.add_argument("--version", action="version", version=f"codesign {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    debug = _Parser(add_help=False)  # --debug also after the command
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text, parents=[debug])

    inspect = command("inspect", "validate a QONNX model and print its layer table")
    inspect.add_argument("model", help="QONNX .onnx file")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of a table")

    verify = command("verify", "check the integer reference against qonnx execution")
    verify.add_argument("model", help="QONNX .onnx file")
    verify.add_argument("--samples", type=int, default=256, help="random inputs to try (default 256)")
    verify.add_argument("--seed", type=int, default=0)
    verify.add_argument("--json", action="store_true")

    for name, text in (("export", "lower a model for a target and write the artifact"),
                       ("estimate", "estimate latency, energy and area on a target")):
        sub = command(name, text)
        sub.add_argument("model", help="QONNX .onnx file")
        if name == "export":
            sub.add_argument("--target", help="backend name (`codesign backends`; default: the card's family)")
            sub.add_argument("--card", help="card name (`codesign cards`) or .toml path (default: the target's "
                             "default card)")
        else:
            sub.add_argument("--target", help="backend name (default: the card's family), or 'all' for the "
                             "cross-target table")
            sub.add_argument("--card", action="append", metavar="CARD",
                             help="card name or .toml path (default: the target's default card); repeat with "
                             "--target all (default there: every target with its default card)")
        sub.add_argument("--option", "-O", action="append", default=[], metavar="KEY=VALUE",
                         help="backend option, repeatable (`codesign backends --options TARGET` lists them; "
                         "with --target all, TARGET.KEY=VALUE sets it for one target)")
        sub.add_argument("--data", help="labelled data for verification, activity and approximation: a CSV "
                         "(label last), uci:NAME or a scikit-learn set name (same as -O data=...)")
        if name == "export":
            sub.add_argument("--accuracy-loss", type=float, nargs="+", metavar="LOSS",
                             help="printed: approximate the design within this accuracy loss (e.g. 0.01); "
                             "the first value picks the written design, all of them go to pareto.json")
            sub.add_argument("--out", required=True, help="output directory (new or empty; created atomically)")
            sub.add_argument("--force", action="store_true",
                             help="replace an output directory that codesign itself wrote earlier")
        else:
            sub.add_argument("--json", action="store_true")
            sub.add_argument("--out", help="also write the estimate JSON to this new file (with --target all: a "
                             "directory for comparison.json, .csv and .png)")
    for name, (module, text) in EXTENSIONS.items():
        import_module(module).add_arguments(command(name, text))
    return parser


# commands implemented in their own modules: each has add_arguments(parser) and run(args) -> int
EXTENSIONS = {
    "cards": ("codesign.cards_cli", "list shipped target cards, or show one"),
    "backends": ("codesign.backends_cli", "list installed target backends, or the options of one"),
    "check": ("codesign.check", "recompute estimates and compare them with stored baselines (CI regression check)"),
    "sweep": ("codesign.dse.cli", "design-space sweep with Optuna (NSGA-II), in processes or on Ray"),
    "report": ("codesign.report", "write a self-contained HTML report of a run directory"),
    "simulate": ("codesign.dse.simulate_cli", "Monte-Carlo accuracy of crossbar chip instances, here or on Ray"),
}


def _options(pairs: list[str]) -> dict[str, str]:
    """-O KEY=VALUE pairs as text; each backend's option schema converts and checks the values."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CodesignError(f"option {pair!r} is not KEY=VALUE", hint="write e.g. -O reuse_factor=4")
        target, dot, name = key.strip().rpartition(".")
        key = f"{target}{dot}{name.replace('-', '_')}"  # reuse-factor = reuse_factor; target names keep dashes
        if key in options:
            raise CodesignError(f"option {key!r} is given twice", hint="give each -O KEY once")
        options[key] = value
    return options


def _note(text: str) -> None:
    print(text, file=sys.stderr)


def cmd_inspect(args) -> int:
    from codesign.ir import load
    from codesign.ir.describe import summary

    graph = load(args.model)
    info = summary(graph)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    from codesign.report_tables import layer_table

    console = terminal()
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


def _graph_card_backend(args):
    """The loaded graph, the card and the backend of an export/estimate, from --target and --card."""
    from codesign.backends import backend_for, get_backend
    from codesign.cards import load_card
    from codesign.ir import load

    names = args.card if isinstance(args.card, list) else [args.card] if args.card else []
    if len(names) > 1:
        raise CodesignError("several --card options need --target all", hint="pass one --card, or --target all")
    if names:
        card = load_card(names[0])
        backend = backend_for(args.target, card)
    elif args.target:
        backend = get_backend(args.target)
        card = load_card(backend.default_card)
        _note(f"codesign {args.command}: using card {card.name} (the default of target {backend.name}; "
              f"--card to choose)")
    else:
        raise CodesignError("no --target and no --card given",
                            hint="pass --target NAME (`codesign backends`) or --card NAME (`codesign cards`)")
    return load(args.model), card, backend


def _with_data(options: dict, args, backend) -> dict:
    if getattr(args, "data", None):
        if "data" not in backend.options:
            raise CodesignError(f"--data is not used by the {backend.name} target",
                                hint="drop --data here (`codesign backends --options "
                                f"{backend.name}` lists what it takes)")
        options["data"] = args.data
    return options


def cmd_export(args) -> int:
    from pathlib import Path

    claim_directory(args.out, overwrite=args.force)  # refuse an unsafe --out before any work
    graph, card, backend = _graph_card_backend(args)
    options = _with_data(_options(args.option), args, backend)
    if args.accuracy_loss:
        if "accuracy_loss" not in backend.options:
            raise CodesignError(f"--accuracy-loss is not used by the {backend.name} target", hint="drop it here")
        options["accuracy_loss"] = args.accuracy_loss
    backend.options.resolve(backend.name, options, "export")  # all option errors before any work
    artifact = backend.lower(graph, card, args.out, overwrite=args.force, **options)
    print(f"wrote {artifact.directory} ({len(artifact.files)} files, sha256 {artifact.digest[:16]})")
    verification = artifact.summary.get("verification")
    if verification:
        print(f"  verified: {verification}")
    estimate_file = Path(artifact.directory) / "estimate.json"
    if estimate_file.is_file():
        from codesign.estimate import Estimate

        estimate = Estimate.load(estimate_file)
        print(f"  estimate ({estimate.method}, {card.name}): latency {estimate.latency_s:.4g} s, "
              f"energy {estimate.energy_j:.4g} J, area {estimate.area_mm2:.4g} mm² per inference")
    return 0


def _per_target(options: dict[str, str], backends) -> dict[str, dict]:
    """-O fpga.reuse_factor=2 -> {"fpga": {"reuse_factor": 2}}; an undotted key goes to every
    compared target whose backend has that option."""
    names = {backend.name: backend for backend in backends}
    routed: dict[str, dict] = {name: {} for name in names}
    for key, value in options.items():
        target, dot, name = key.partition(".")
        if dot:
            if target not in names:
                raise CodesignError(f"option {key!r} names target {target!r}, which is not compared",
                                    hint=f"compared targets: {', '.join(names)}")
            routed[target][name] = value
            continue
        takers = [t for t, backend in names.items() if key in backend.options.names("estimate")]
        if not takers:
            raise CodesignError(f"no compared target has an option {key!r}",
                                hint="see `codesign backends --options TARGET`; TARGET.KEY=VALUE sets one target")
        for target in takers:
            routed[target].setdefault(key, value)
    return {target: values for target, values in routed.items() if values}


def cmd_compare(args) -> int:
    from codesign.comparison import compare, targets_for
    from codesign.ir import load

    if args.out:
        check_files_directory(args.out)
    pairs = targets_for(args.card)
    options = _options(args.option)
    if args.data:
        options.setdefault("data", args.data)
    per_target = _per_target(options, [backend for backend, _ in pairs])
    comparison = compare(load(args.model), [card for _, card in pairs] if args.card else None, per_target)
    if args.out:
        files = comparison.save(args.out)
    if args.json:
        print(comparison.to_json(), end="")
        return 0
    terminal().print(comparison.table())
    if args.out:
        print(f"wrote {', '.join(str(path) for path in files.values())}")
    return 0


def cmd_estimate(args) -> int:
    if args.target == "all":
        return cmd_compare(args)
    if args.out:
        check_file_output(args.out)
    graph, card, backend = _graph_card_backend(args)
    options = _with_data(_options(args.option), args, backend)
    estimate = backend.estimate(graph, card, **options)
    if args.out:
        estimate.save(args.out)
    if args.json:
        print(estimate.to_json(), end="")
    else:
        from codesign.report_tables import estimate_table, vendor_table

        terminal().print(estimate_table(estimate))
        if "vendor_relative_error" in estimate.breakdown:
            terminal().print(vendor_table(estimate))
    return 0


COMMANDS = {"inspect": cmd_inspect, "verify": cmd_verify, "export": cmd_export, "estimate": cmd_estimate}


def main(argv: Sequence[str] | None = None) -> int:
    from codesign.warnings_filter import expected_warnings_silenced

    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        with expected_warnings_silenced():
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
    except Exception as exc:  # a bug in codesign or a dependency, not the user's input
        if args.debug:
            import traceback

            traceback.print_exc()
        text = " ".join(str(exc).split())[:200]
        print(f"codesign {args.command}: internal error: {type(exc).__name__}: {text}; this is a bug, please "
              f"report it{'' if args.debug else ' (--debug shows the traceback)'}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["main"]
