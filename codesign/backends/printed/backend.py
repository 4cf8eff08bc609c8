"""The ``printed`` backend: bespoke combinational MLP circuits on a printed cell library."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from codesign.artifact import Artifact, atomic_directory
from codesign.backends.base import BackendBase, Evaluation
from codesign.cards import Card
from codesign.errors import CodesignError, ParameterError
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph
from codesign.options import Option, OptionSchema

from .synthesis import ABC_SCRIPTS

if TYPE_CHECKING:  # pragma: no cover
    from codesign.data import Dataset

_ALL = frozenset({"estimate", "export", "sweep"})
_DATA = frozenset({"estimate", "export"})
_SEARCH = frozenset({"export", "sweep"})
OPTIONS = OptionSchema((
    Option("data", "str", None, "labelled data (CSV, uci:NAME or a scikit-learn set) for activity, verification "
           "and the approximation search", commands=_DATA),
    Option("samples", "int", 1024, "random inputs for verification and activity when no data is given",
           low=2, high=10_000_000, commands=_DATA),
    Option("seed", "int", 0, "seed of the data split, random inputs and the approximation search",
           low=0, high=2**32 - 1, commands=_DATA),
    Option("synthesis_timeout", "float", 600.0, "time limit of one yosys run, in seconds",
           low=0.0, low_open=True, commands=_ALL),
    Option("abc_script", "choice", "area", "ABC mapping script: area (choice network + area-recovering mapper), "
           "fast (abc -fast, about 1.5x the area), default (ABC's delay script, slow)", choices=ABC_SCRIPTS,
           commands=_ALL, sweep_default="fast"),
    Option("proof_timeout", "float", 10.0, "time limit of the proof that the mapped netlist equals design.v, in "
           "seconds (0: simulation only); small designs are proven in seconds, large ones rarely within minutes",
           low=0.0, commands=frozenset({"export"})),
    Option("accuracy_loss", "floats", None, "approximate the design within this accuracy loss (0.01 = one point); "
           "on export the first value picks the written design", low=0.0, high=1.0, high_open=True, commands=_SEARCH),
    Option("trials", "int", 2000, "trials of the per-neuron approximation search", low=1, high=10_000_000,
           commands=_SEARCH, sweep_default=200),
    Option("storage", "str", None, "Optuna storage URL that makes the approximation search resumable",
           commands=frozenset({"export"})),
    Option("pareto_points", "int", 6, "approximate designs synthesised for pareto.json", low=1, high=1000,
           commands=frozenset({"export"})),
))


@dataclass(frozen=True)
class _Inputs:
    """The data one export or estimate works on, read or drawn once."""

    x_train: np.ndarray | None  # input codes (None without labelled data)
    y_train: np.ndarray | None
    x_test: np.ndarray  # input codes: verification and switching activity
    y_test: np.ndarray | None
    reference: np.ndarray  # the integer reference's predictions on the test inputs
    source: str


def _inputs(graph: LayerGraph, options: dict[str, Any]) -> _Inputs:
    from codesign.ir.crosscheck import random_inputs
    from codesign.ir.reference import execute, input_codes

    seed = options["seed"]
    if options["data"]:
        from codesign.data import load_dataset, require_fits

        data = load_dataset(options["data"], seed=seed)
        require_fits(data, graph)
        return _Inputs(input_codes(graph, data.x_train), data.y_train, input_codes(graph, data.x_test), data.y_test,
                       execute(graph, data.x_test).predictions, f"test samples of {data.name}")
    samples = options["samples"]
    x = random_inputs(graph, samples, seed=seed)
    return _Inputs(None, None, input_codes(graph, x), None, execute(graph, x).predictions,
                   f"uniformly random inputs (seed {seed})")


def _synthesis_options(options: dict[str, Any]) -> dict[str, Any]:
    return {"timeout_s": options["synthesis_timeout"], "abc_script": options["abc_script"]}


class PrintedBackend(BackendBase):
    """Bespoke combinational circuits: synthesised, verified at gate level, costed from the netlist."""

    name = "printed"
    family = "printed"
    default_card = "egfet-1v"
    options = OPTIONS
    sweep_knobs = ("accuracy_loss",)

    def accepts(self, graph: LayerGraph) -> str | None:
        from codesign.backends.printed.design import build

        try:
            build(graph)
        except CodesignError as exc:
            return exc.message
        return None

    def estimate(self, graph: LayerGraph, card: Card, **options: Any) -> Estimate:
        """Synthesises the exact design (seconds): printed estimates come from the mapped netlist."""
        from codesign.backends.printed.design import build
        from codesign.backends.printed.implement import implement

        options = self.resolve(options, "estimate")
        design = build(graph)
        inputs = _inputs(graph, options)
        return implement(design, card, inputs.x_test, activity_source=inputs.source,
                         reference_predictions=inputs.reference, **_synthesis_options(options)).estimate

    def lower(self, graph: LayerGraph, card: Card, out_dir: str | os.PathLike, *, overwrite: bool = False,
              **options: Any) -> Artifact:
        from codesign.backends.printed.approximate import apply
        from codesign.backends.printed.design import build, evaluate
        from codesign.backends.printed.implement import implement

        options = self.resolve(options, "export")
        losses = list(options["accuracy_loss"] or ())
        if losses and not options["data"]:
            raise ParameterError("approximation needs labelled data to measure the accuracy loss",
                                 hint="pass --data (a CSV path, uci:NAME or a scikit-learn set name)")
        inputs = _inputs(graph, options)
        exact = build(graph)
        synth = _synthesis_options(options)
        with atomic_directory(out_dir, overwrite=overwrite) as staging:
            chosen, header, report = exact, {"design": "exact"}, {}
            if losses:
                from codesign.backends.printed.pareto import pareto_report
                from codesign.backends.printed.search import search

                search_part, held_out = _holdout(len(inputs.x_train), options["seed"])
                result = search(exact, inputs.x_train[search_part], inputs.y_train[search_part],
                                trials=options["trials"], seed=options["seed"], storage=options["storage"],
                                study_name=f"printed-{graph.name}" if options["storage"] else None,
                                validation=(inputs.x_train[held_out], inputs.y_train[held_out]))
                report = pareto_report(result, exact, card, inputs.x_test, inputs.y_test, losses, staging, source=inputs.source,
                                       points=options["pareto_points"], **synth)
                chosen = apply(exact, result.within(losses[0]).approximation)
                header = {"design": f"approximate, accuracy loss <= {losses[0]:g} on search and held-out training data "
                          f"({report['budgets'][0]['search_accuracy']:.4f} vs exact {result.exact_accuracy:.4f})"}
            implementation = implement(chosen, card, inputs.x_test, activity_source=inputs.source,
                                       reference_predictions=inputs.reference if chosen is exact else None,
                                       header=header, independent=True, proof_timeout_s=options["proof_timeout"],
                                       **synth)
            (staging / "design.v").write_text(implementation.verilog, encoding="utf-8")
            (staging / "cells.lib").write_text(implementation.liberty, encoding="utf-8")
            (staging / "netlist.json").write_text(json.dumps(implementation.synthesis.netlist) + "\n", encoding="utf-8")
            (staging / "synthesis.log").write_text(implementation.synthesis.log, encoding="utf-8")
            verification = dict(implementation.verification)
            if inputs.y_test is not None:
                verification["test_accuracy"] = float(np.mean(evaluate(chosen, inputs.x_test).predictions == inputs.y_test))
                verification["exact_test_accuracy"] = float(np.mean(evaluate(exact, inputs.x_test).predictions == inputs.y_test))
            verification["synthesis_seconds"] = implementation.synthesis.seconds
            (staging / "verification.json").write_text(json.dumps(verification, indent=2, sort_keys=True) + "\n")
            implementation.estimate.save(staging / "estimate.json")
        summary = {"area_cm2": implementation.estimate.resources["area_cm2"],
                   "power_mw": implementation.estimate.resources["power_mw"],
                   "latency_s": implementation.estimate.latency_s,
                   "gate_level_mismatches": verification["gate_vs_design_mismatches"]}
        against = "the integer reference" if "gate_vs_reference_mismatches" in verification else "its bit-true model"
        mismatches = sum(v for k, v in verification.items() if k.endswith("mismatches"))
        summary["verification"] = (f"mapped gate-level netlist equals {against} on {len(inputs.x_test)} "
                                   f"{inputs.source} ({mismatches} mismatches){_independent(verification)}")
        if "test_accuracy" in verification:
            summary["test_accuracy"] = verification["test_accuracy"]
        return Artifact.from_directory(self.name, Path(out_dir), summary)

    # -- sweeps --------------------------------------------------------------------------------------
    def varies_accuracy(self, knobs: dict[str, tuple]) -> bool:
        return any(loss > 0 for losses in knobs.get("accuracy_loss", ()) for loss in _as_losses(losses))

    def evaluate(self, graph: LayerGraph, card: Card, data: Dataset, *, seed: int,
                 reference_accuracy: float, **options: Any) -> Evaluation:
        """The exact bespoke circuit, or the cheapest approximation within the trial's accuracy-loss budget."""
        from codesign.backends.printed.approximate import apply
        from codesign.backends.printed.design import build, evaluate
        from codesign.backends.printed.implement import implement
        from codesign.ir import execute
        from codesign.ir.reference import input_codes

        settings = self.resolve(options, "sweep")
        loss = max(_as_losses(settings["accuracy_loss"]) or (0.0,))
        exact = build(graph)
        x_test = input_codes(graph, data.x_test)
        chosen, reference, search_info = exact, execute(graph, data.x_test).predictions, None
        if loss > 0:
            from codesign.backends.printed.search import search

            result = search(exact, input_codes(graph, data.x_train), data.y_train, trials=settings["trials"], seed=seed)
            candidate = result.within(loss)
            chosen, reference = apply(exact, candidate.approximation), None
            search_info = {"trials": settings["trials"], "budget": loss, "exact_train_accuracy": result.exact_accuracy,
                           "chosen_train_accuracy": candidate.accuracy, "exact_proxy": result.exact_proxy,
                           "chosen_proxy": candidate.proxy}
        implementation = implement(chosen, card, x_test, activity_source=f"test samples of {data.name}",
                                   reference_predictions=reference, **_synthesis_options(settings))
        accuracy = float(np.mean(evaluate(chosen, x_test).predictions == data.y_test))
        source = "gate-level design on the test split"
        if loss:
            source += f" (approximated within {loss:g} loss on the training split)"
        return Evaluation(accuracy, source, implementation.estimate,
                          {"options": {**settings, "accuracy_loss": loss}, "approximation": search_info,
                           "verification": implementation.verification})



def _independent(verification: dict) -> str:
    """The RTL-simulation and equivalence verdicts, for the one-sentence summary."""
    rtl = verification.get("rtl_simulation", {})
    text = ""
    if rtl.get("status") == "simulated":
        text += f"; design.v simulated by {rtl['simulator'].split(' (')[0]}: same classes"
    elif rtl.get("status") == "skipped":
        text += f"; design.v not simulated ({rtl['reason']})"
    if verification.get("netlist_check") == "proven":
        text += "; netlist proven equivalent to design.v"
    elif verification.get("equivalence", {}).get("status") == "not attempted":
        text += "; netlist-vs-RTL proof not attempted (simulated only)"
    elif "equivalence" in verification:
        text += "; netlist-vs-RTL proof did not finish (simulated only)"
    return text


def _holdout(count: int, seed: int, fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Search on 75 % of the training split; budget picks must also hold on the other 25 %."""
    order = np.random.default_rng(seed).permutation(count)
    cut = int(round(count * (1 - fraction)))
    return np.sort(order[:cut]), np.sort(order[cut:])


def _as_losses(value) -> tuple[float, ...]:
    """An accuracy_loss option or sweep choice (a number or a sequence of numbers) as a tuple."""
    if value is None:
        return ()
    return tuple(float(v) for v in value) if isinstance(value, list | tuple) else (float(value),)
