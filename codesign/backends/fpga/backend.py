"""The FPGA target: ``lower`` writes a verified hls4ml project, ``estimate`` is analytical (no hls4ml)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from codesign.artifact import Artifact, atomic_directory
from codesign.backends.base import check_options, tool_versions
from codesign.cards import Card
from codesign.errors import BackendError
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph

from .cost import does_not_fit, estimate_fpga

ESTIMATE_OPTIONS = ("reuse_factor", "strategy", "io_type", "backend", "vendor_report")
LOWER_OPTIONS = ("reuse_factor", "strategy", "io_type", "samples", "max_mismatch", "seed", "layers", "allow_oversize")


def _versions(with_hls4ml: bool = False) -> dict[str, str]:
    return tool_versions("codesign", *(("hls4ml",) if with_hls4ml else ()))


class FpgaBackend:
    """hls4ml projects for FPGA cards, checked against the integer reference before they are written."""

    name = "fpga"
    family = "fpga"

    def estimate(self, graph: LayerGraph, card: Card, **options: Any) -> Estimate:
        """Analytical estimate; ``vendor_report=DIR`` (an hls4ml project synthesised elsewhere)
        adds the reported numbers and the estimate's error to the breakdown."""
        check_options(self.name, options, ESTIMATE_OPTIONS)
        estimate = estimate_fpga(graph, card, reuse_factor=int(options.get("reuse_factor", 1)),
                                 strategy=str(options.get("strategy", "Latency")),
                                 io_type=str(options.get("io_type", "io_parallel")),
                                 backend=str(options.get("backend", "Vitis")), versions=_versions())
        if "vendor_report" not in options:
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

        from .hls_project import HlsSettings, build_project, layer_types
        from .verify import compile_and_verify

        check_options(self.name, options, LOWER_OPTIONS)
        estimate = self.estimate(graph, card, **{k: options[k] for k in ("reuse_factor", "strategy", "io_type")
                                                  if k in options})
        reason = does_not_fit(estimate)
        if reason and not options.get("allow_oversize", False):
            raise BackendError(f"{graph.name} on {card.part.name}: {reason}",
                               hint="raise reuse_factor, use fewer bits, or pick a larger part (-O allow_oversize=true to write it anyway)")
        uncertainty = card.clock.uncertainty.value / card.clock.period.value if card.clock.uncertainty else 0.125
        settings = HlsSettings(part=card.part.name, clock_period_ns=card.clock.period.value * 1e9,
                               clock_uncertainty=f"{uncertainty * 100:g}%",
                               reuse_factor=int(options.get("reuse_factor", 1)),
                               strategy=str(options.get("strategy", "Latency")),
                               io_type=str(options.get("io_type", "io_parallel")),
                               layer_overrides=dict(options.get("layers", {})))
        x = random_inputs(graph, int(options.get("samples", 2000)), seed=int(options.get("seed", 0)))
        with atomic_directory(out_dir, overwrite=overwrite) as staging:
            hls_model, config = build_project(graph, settings, staging / "hls4ml_prj")
            verification = compile_and_verify(hls_model, graph, x, max_mismatch=float(options.get("max_mismatch", 0.0)))
            if not verification.passed:
                raise BackendError(
                    f"the hls4ml firmware disagrees with the integer reference on "
                    f"{1 - verification.exact_match_rate:.2%} of {verification.samples} inputs "
                    f"(max error {verification.max_abs_error:.3g}); nothing was written",
                    hint="report the model; or accept it with -O max_mismatch=FRACTION")
            report = {"model": graph.name, "card": card.name, "verification": verification.to_dict(),
                      "layer_types": layer_types(hls_model), "settings": settings.__dict__}
            (staging / "verification.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
            estimate = Estimate(**{**estimate.to_dict(), "tool_versions": _versions(with_hls4ml=True)})
            estimate.save(staging / "estimate.json")
        summary = {"exact_match_rate": verification.exact_match_rate, "latency_s": estimate.latency_s,
                   "lut": estimate.resources["lut"], "dsp": estimate.resources["dsp"]}
        return Artifact.from_directory(self.name, Path(out_dir), summary)
