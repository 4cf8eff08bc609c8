"""The ``printed`` backend: bespoke combinational MLP circuits on a printed cell library."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from codesign.artifact import Artifact, atomic_directory
from codesign.backends.base import check_options
from codesign.cards import Card
from codesign.errors import ParameterError
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph

ESTIMATE_OPTIONS = ("data", "samples", "seed", "synthesis_timeout", "abc_script")
LOWER_OPTIONS = (*ESTIMATE_OPTIONS, "accuracy_loss", "trials", "storage", "pareto_points")


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

    seed = int(options.get("seed", 0))
    if options.get("data"):
        from codesign.data import load_dataset

        data = load_dataset(str(options["data"]), seed=seed)
        return _Inputs(input_codes(graph, data.x_train), data.y_train, input_codes(graph, data.x_test), data.y_test,
                       execute(graph, data.x_test).predictions, f"test samples of {data.name}")
    samples = int(options.get("samples", 1024))
    if samples < 2:
        raise ParameterError(f"samples = {samples} must be >= 2", hint="e.g. -O samples=1024")
    x = random_inputs(graph, samples, seed=seed)
    return _Inputs(None, None, input_codes(graph, x), None, execute(graph, x).predictions,
                   f"uniformly random inputs (seed {seed})")


def _synthesis_options(options: dict[str, Any]) -> dict[str, Any]:
    return {"timeout_s": float(options.get("synthesis_timeout", 600.0)),
            "abc_script": str(options.get("abc_script", "fast"))}


class PrintedBackend:
    name = "printed"
    family = "printed"

    def estimate(self, graph: LayerGraph, card: Card, **options: Any) -> Estimate:
        """Synthesises the exact design (seconds): printed estimates come from the mapped netlist."""
        from codesign.backends.printed.design import build
        from codesign.backends.printed.implement import implement

        check_options(self.name, options, ESTIMATE_OPTIONS)
        design = build(graph)
        inputs = _inputs(graph, options)
        return implement(design, card, inputs.x_test, activity_source=inputs.source,
                         reference_predictions=inputs.reference, **_synthesis_options(options)).estimate

    def lower(self, graph: LayerGraph, card: Card, out_dir: str | os.PathLike, *, overwrite: bool = False,
              **options: Any) -> Artifact:
        from codesign.backends.printed.approximate import apply
        from codesign.backends.printed.design import build, evaluate
        from codesign.backends.printed.implement import implement

        check_options(self.name, options, LOWER_OPTIONS)
        losses = _losses(options.get("accuracy_loss"))
        if losses and not options.get("data"):
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

                search_part, held_out = _holdout(len(inputs.x_train), int(options.get("seed", 0)))
                result = search(exact, inputs.x_train[search_part], inputs.y_train[search_part],
                                trials=int(options.get("trials", 2000)), seed=int(options.get("seed", 0)),
                                storage=options.get("storage"),
                                study_name=f"printed-{graph.name}" if options.get("storage") else None,
                                validation=(inputs.x_train[held_out], inputs.y_train[held_out]))
                report = pareto_report(result, exact, card, inputs.x_test, inputs.y_test, losses, staging, source=inputs.source,
                                       points=int(options.get("pareto_points", 6)), **synth)
                chosen = apply(exact, result.within(losses[0]).approximation)
                header = {"design": f"approximate, accuracy loss <= {losses[0]:g} on search and held-out training data "
                          f"({report['budgets'][0]['search_accuracy']:.4f} vs exact {result.exact_accuracy:.4f})"}
            implementation = implement(chosen, card, inputs.x_test, activity_source=inputs.source,
                                       reference_predictions=inputs.reference if chosen is exact else None,
                                       header=header, **synth)
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
        if "test_accuracy" in verification:
            summary["test_accuracy"] = verification["test_accuracy"]
        return Artifact.from_directory(self.name, Path(out_dir), summary)


def _holdout(count: int, seed: int, fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Search on 75 % of the training split; budget picks must also hold on the other 25 %."""
    order = np.random.default_rng(seed).permutation(count)
    cut = int(round(count * (1 - fraction)))
    return np.sort(order[:cut]), np.sort(order[cut:])


def _losses(value) -> list[float]:
    if value is None:
        return []
    values = value if isinstance(value, list | tuple) else [value]
    try:
        losses = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ParameterError(f"accuracy_loss {value!r} is not a number", hint="e.g. 0.01 for one point") from None
    if any(not 0 <= v < 1 for v in losses):
        raise ParameterError(f"accuracy_loss {value!r} must be in [0, 1)", hint="e.g. 0.01 for one point")
    return losses
