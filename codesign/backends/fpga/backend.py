"""The FPGA target: ``lower`` writes a verified hls4ml project, ``estimate`` is analytical (no hls4ml)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from codesign.artifact import Artifact, atomic_directory
from codesign.backends.base import BackendBase, tool_versions
from codesign.cards import Card
from codesign.errors import BackendError
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph
from codesign.options import Option, OptionSchema

from .cost import does_not_fit, estimate_fpga
from .hls_project import DEFAULT_PROJECT_NAME
from .resources import MULTIPLIER_IMPLS

_DESIGN = frozenset({"estimate", "export", "sweep"})
_EXPORT = frozenset({"export"})
OPTIONS = OptionSchema((
    Option("reuse_factor", "int", 1, "hls4ml ReuseFactor: multiplications per multiplier (the initiation interval)",
           low=1, high=4096, commands=_DESIGN),
    Option("strategy", "choice", "Latency", "hls4ml Strategy: Latency (fully unrolled) or Resource (shared multipliers)",
           choices=("Latency", "Resource"), commands=_DESIGN),
    Option("io_type", "choice", "io_parallel", "hls4ml IOType: all values at once, or streamed through FIFOs",
           choices=("io_parallel", "io_stream"), commands=_DESIGN),
    Option("backend", "choice", "Vitis", "hls4ml backend / HLS tool the estimate is calibrated for",
           choices=("Vitis", "Vivado"), commands=frozenset({"estimate", "sweep"})),
    Option("multiplier_impl", "choice", "auto", "how HLS binds multipliers, as Vitis' config_op mul -impl: the "
           "tool decides, all to DSPs, or all to fabric (estimate only)",
           choices=MULTIPLIER_IMPLS, commands=frozenset({"estimate", "sweep"})),
    Option("clock_period", "float", None, "target clock period in ns (default: the card's clock)",
           low=0.1, high=1000.0, commands=_DESIGN),
    Option("part", "str", None, "FPGA part written into the hls4ml project (default: the card's part)",
           commands=_EXPORT),
    Option("project_name", "str", DEFAULT_PROJECT_NAME, "hls4ml ProjectName: the top function and file names "
           "(a C identifier)", commands=_EXPORT),
    Option("vendor_report", "path", None, "an hls4ml project synthesised elsewhere: its reports are shown next to the estimate",
           commands=frozenset({"estimate"})),
    Option("data", "str", None, "labelled data (CSV, uci:NAME or a scikit-learn set): check the firmware on its "
           "test split instead of random inputs", commands=_EXPORT),
    Option("samples", "int", 2000, "random inputs on which the compiled firmware is checked against the integer reference",
           low=1, high=10_000_000, commands=_EXPORT),
    Option("max_mismatch", "float", 0.0, "largest fraction of inputs on which the firmware may differ (0: bit-exact)",
           low=0.0, high=1.0, commands=_EXPORT),
    Option("seed", "int", 0, "seed of the random verification inputs or of the data split", low=0, high=2**32 - 1,
           commands=_EXPORT),
    Option("layers", "mapping", None, "per-layer hls4ml overrides, e.g. {\"fc1\": {\"ReuseFactor\": 4}}",
           commands=_EXPORT),
    Option("allow_oversize", "bool", False, "write the project even if the estimate says it does not fit the part",
           commands=_EXPORT),
))


def _versions(with_hls4ml: bool = False) -> dict[str, str]:
    return tool_versions("codesign", *(("hls4ml",) if with_hls4ml else ()))


class FpgaBackend(BackendBase):
    """hls4ml projects for FPGA cards, checked against the integer reference before they are written."""

    name = "fpga"
    family = "fpga"
    default_card = "pynq-z2"
    options = OPTIONS
    sweep_knobs = ("reuse_factor", "strategy", "io_type")

    def estimate(self, graph: LayerGraph, card: Card, **options: Any) -> Estimate:
        """Analytical estimate; ``vendor_report=DIR`` (an hls4ml project synthesised elsewhere)
        adds the reported numbers and the estimate's error to the breakdown."""
        options = self.resolve(options, "estimate")
        estimate = estimate_fpga(graph, card, reuse_factor=options["reuse_factor"], strategy=options["strategy"],
                                 io_type=options["io_type"], backend=options["backend"],
                                 multiplier_impl=options["multiplier_impl"], clock_period_ns=options["clock_period"],
                                 versions=_versions())
        if options["vendor_report"] is None:
            return estimate
        from .reports import read_vendor_report, side_by_side

        report = read_vendor_report(options["vendor_report"])
        breakdown = dict(estimate.breakdown)
        for source, values in report.items():
            breakdown[f"vendor_{source}"] = values
        breakdown["vendor_relative_error"] = {f"{row['source']}.{row['metric']}": row["relative_error"]
                                              for row in side_by_side(estimate, report)
                                              if row["relative_error"] is not None}
        return Estimate(**{**estimate.to_dict(), "breakdown": breakdown})

    def lower(self, graph: LayerGraph, card: Card, out_dir: str | os.PathLike, *, overwrite: bool = False,
              **options: Any) -> Artifact:
        from codesign.ir.crosscheck import random_inputs

        from .hls_project import HlsSettings, build_project, layer_types, point_config_at
        from .verify import compile_and_verify

        options = self.resolve(options, "export")
        estimate = self.estimate(graph, card, **{k: options[k] for k in ("reuse_factor", "strategy", "io_type",
                                                                          "clock_period")})
        reason = does_not_fit(estimate)
        if reason and not options["allow_oversize"]:
            raise BackendError(f"{graph.name} on {card.part.name}: {reason}",
                               hint="raise reuse_factor, use fewer bits, or pick a larger part (-O allow_oversize=true to write it anyway)")
        uncertainty = card.clock.uncertainty.value / card.clock.period.value if card.clock.uncertainty else 0.125
        period_ns = options["clock_period"] or card.clock.period.value * 1e9
        settings = HlsSettings(part=options["part"] or card.part.name, clock_period_ns=period_ns,
                               clock_uncertainty=f"{uncertainty * 100:g}%", project_name=options["project_name"],
                               reuse_factor=options["reuse_factor"], strategy=options["strategy"],
                               io_type=options["io_type"], layer_overrides=dict(options["layers"] or {}))
        inputs, labels = f"{options['samples']} uniformly random inputs (seed {options['seed']})", None
        if options["data"]:
            from codesign.data import load_dataset, require_fits

            data = load_dataset(options["data"], seed=options["seed"])
            require_fits(data, graph)
            x, labels, inputs = data.x_test, data.y_test, f"the test split of {data.name} ({len(data.x_test)} samples)"
        else:
            x = random_inputs(graph, options["samples"], seed=options["seed"])
        with atomic_directory(out_dir, overwrite=overwrite) as staging:
            hls_model, config = build_project(graph, settings, staging / "hls4ml_prj",
                                              final_dir=Path(out_dir) / "hls4ml_prj")
            verification = compile_and_verify(hls_model, graph, x, max_mismatch=options["max_mismatch"])
            if not verification.passed:
                raise BackendError(
                    f"the hls4ml firmware disagrees with the integer reference on "
                    f"{1 - verification.exact_match_rate:.2%} of {verification.samples} inputs "
                    f"(max error {verification.max_abs_error:.3g}); nothing was written",
                    hint="report the model; or accept it with -O max_mismatch=FRACTION")
            point_config_at(staging / "hls4ml_prj", Path(out_dir) / "hls4ml_prj")  # compile() rewrote it
            report = {"model": graph.name, "card": card.name, "verification": verification.to_dict(),
                      "inputs": inputs, "layer_types": layer_types(hls_model), "settings": settings.__dict__}
            if labels is not None:
                from codesign.ir.reference import execute

                report["reference_test_accuracy"] = float(np.mean(execute(graph, x).predictions == labels))
            (staging / "verification.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
            estimate = Estimate(**{**estimate.to_dict(), "tool_versions": _versions(with_hls4ml=True)})
            estimate.save(staging / "estimate.json")
        summary = {"exact_match_rate": verification.exact_match_rate, "latency_s": estimate.latency_s,
                   "lut": estimate.resources["lut"], "dsp": estimate.resources["dsp"],
                   "verification": f"hls4ml C++ emulation (g++) equals the integer reference on "
                                   f"{verification.exact_match_rate:.2%} of {inputs}"}
        return Artifact.from_directory(self.name, Path(out_dir), summary)
