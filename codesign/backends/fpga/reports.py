"""Vendor reports next to the estimate: when a project was synthesised elsewhere, read its
reports with hls4ml's reader and show estimate vs report per metric."""

from __future__ import annotations

from pathlib import Path

from codesign.errors import DataError
from codesign.estimate import Estimate

from .hls_project import quiet_stdout

HLS_KEYS = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram_18k": "BRAM_18K"}
SYNTH_KEYS = {"lut": "LUT", "ff": "FF", "dsp": "DSP48E", "bram_18k": "BRAM_18K"}


def read_vendor_report(project_dir: str | Path) -> dict[str, dict[str, float]]:
    """{"hls": {...}, "synthesis": {...}} with lut, ff, dsp, bram_18k (and latency_cycles, ii_cycles
    from HLS) for whatever reports the project holds."""
    from hls4ml.report import parse_vivado_report

    project_dir = Path(project_dir)
    if not (project_dir / "project.tcl").is_file():
        raise DataError(f"{project_dir} is not an hls4ml project (no project.tcl)",
                        hint="pass the directory hls4ml wrote (the export's hls4ml_prj/)")
    parsed = quiet_stdout(lambda: parse_vivado_report(str(project_dir))) or {}
    found: dict[str, dict[str, float]] = {}
    hls = parsed.get("CSynthesisReport") or {}
    if hls:
        found["hls"] = {key: float(hls[name]) for key, name in HLS_KEYS.items() if hls.get(name) not in (None, "")}
        for key, name in (("latency_cycles", "WorstLatency"), ("ii_cycles", "IntervalMax")):
            if hls.get(name) not in (None, ""):
                found["hls"][key] = float(hls[name])
    synth = parsed.get("VivadoSynthReport") or {}
    if synth:
        found["synthesis"] = {key: float(synth[name]) for key, name in SYNTH_KEYS.items()
                              if synth.get(name) not in (None, "")}
    if not found:
        raise DataError(f"no synthesis report found under {project_dir}",
                        hint="run the vendor build (vitis_hls -f build_prj.tcl) first")
    return found


def side_by_side(estimate: Estimate, report: dict[str, dict[str, float]]) -> list[dict[str, float | str | None]]:
    """Rows of (source, metric, estimate, report, relative error of the estimate)."""
    rows = []
    for source, values in report.items():
        for metric, measured in sorted(values.items()):
            guess = estimate.resources.get(metric)
            error = (guess - measured) / measured if guess is not None and measured else None
            rows.append({"source": source, "metric": metric, "estimate": guess, "report": measured,
                         "relative_error": error})
    return rows
