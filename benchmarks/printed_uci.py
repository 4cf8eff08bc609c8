"""Benchmark: printed classifiers on the UCI sets against the exact 8-bit baselines and the
published printed ternary networks.

    python benchmarks/printed_uci.py                       # flows/printed_uci.py, flows/printed_codesign.py
    python benchmarks/printed_uci.py --datasets cardio --trials 24
    python benchmarks/printed_uci.py --reference-verilog DIR

First the exact 8-bit baselines of the printed-MLP literature (4-bit inputs, one hidden layer,
published topologies) with their approximation budgets, then the co-design search per data set
(ternary / binary / low-bit, converter ranges, hardware-aware retraining), its front against the
published ternary points (same accuracy = at most 0.5 point below on the test split; area of the
classifier alone on both sides) and the cheapest front design within 5 points of the baseline.

With --reference-verilog, every ``*.v`` in DIR (e.g. the published exact baseline designs, whose
top module is ``top``) is synthesised with the same yosys flow (area script) and cell library, so
published RTL and codesign's RTL are compared like with like, independent of the synthesis tool
(benchmarks/printed_synthesis.py compares every script with the published Design Compiler areas).
Writes benchmarks/results/printed_uci.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def synthesise_reference(folder: Path, card_name: str, top: str, abc_script: str = "area") -> list[dict]:
    from codesign.backends.printed.liberty import liberty
    from codesign.backends.printed.synthesis import synthesize
    from codesign.cards import load_card

    card = load_card(card_name)
    rows = []
    for path in sorted(folder.glob("*.v")):
        started = time.perf_counter()
        result = synthesize(path.read_text(), liberty(card), top, abc_script=abc_script)
        counts = Counter(c["type"] for c in result.module["cells"].values())
        rows.append({"file": path.name, "cells": sum(counts.values()),
                     "area_cm2": sum(card.cells[k].area.value * n for k, n in counts.items()) * 1e4,
                     "static_power_mw": sum(card.cells[k].leakage.value * n for k, n in counts.items()) * 1e3,
                     "abc_script": abc_script, "seconds": time.perf_counter() - started})
    return rows


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_flow", ROOT / "flows" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reductions(baseline: dict, front: list[dict], loss: float = 0.05) -> dict:
    """The cheapest front design within ``loss`` (absolute) of the exact baseline's test accuracy,
    and its area and power reductions against that baseline (classifier against classifier)."""
    allowed = [p for p in front if p["pareto"] and p["test_accuracy"] >= baseline["test_accuracy"] - loss - 1e-12]
    if not allowed:
        return {"reached": False, "loss": loss}
    best = min(allowed, key=lambda p: p["area_cm2"])
    return {"reached": True, "loss": loss, "point": best["name"], "test_accuracy": best["test_accuracy"],
            "area_cm2": best["area_cm2"], "power_mw": best["power_mw"],
            "area_reduction": baseline["area_cm2"] / max(best["area_cm2"], 1e-12),
            "power_reduction": baseline["power_mw"] / max(best["power_mw"], 1e-12)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-verilog", type=Path, help="directory of published RTL to synthesise alike")
    parser.add_argument("--reference-top", default="top")
    parser.add_argument("--datasets", nargs="+")
    parser.add_argument("--baseline-trials", type=int, default=500,
                        help="approximation-search trials of the exact 8-bit baselines (flows/printed_uci.py)")
    parser.add_argument("--trials", type=int, help="co-design trials per data set (default: flows/printed_codesign.py's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a part whose results.json already exists (the co-design searches resume anyway)")
    args = parser.parse_args(argv)
    datasets = ["--datasets", *args.datasets] if args.datasets else []
    started = time.perf_counter()
    if not (args.reuse and (args.out / "printed_uci" / "results.json").is_file()):
        code = _load("printed_uci").main(["--out", str(args.out / "printed_uci"), "--trials", str(args.baseline_trials),
                                          *datasets])
        if code:
            return code
    baseline_seconds = time.perf_counter() - started
    trials = ["--trials", str(args.trials)] if args.trials else []
    if not (args.reuse and (args.out / "printed_codesign" / "results.json").is_file()):
        code = _load("printed_codesign").main(["--out", str(args.out / "printed_codesign"), *trials,
                                               "--workers", str(args.workers), *datasets])
        if code:
            return code
    baselines = {r["dataset"]: r for r in json.loads((args.out / "printed_uci" / "results.json").read_text())}
    fronts = json.loads((args.out / "printed_codesign" / "results.json").read_text())
    console = Console()
    summary = Table(title="Co-design front vs the published ternary points and the exact 8-bit baseline")
    for column in ("data set", "anchor", "pub. acc / cm²", "codesign acc / cm²", "area ratio", "target ≤1x", "floor ≤2x"):
        summary.add_column(column, justify="right")
    results = {}
    for name, front in fronts.items():
        rows = front.get("anchors", [])
        for row in rows:
            reached = row["reached"]
            summary.add_row(name, row["anchor"], f"{row['anchor_accuracy']:.4f} / {row['anchor_area_cm2']:g}",
                            f"{row['test_accuracy']:.4f} / {row['area_cm2']:.3f}" if reached else "not reached",
                            f"{row['area_ratio']:.2f}" if reached else "-",
                            "yes" if reached and row["area_ratio"] <= 1 else "no",
                            "yes" if reached and row["area_ratio"] <= 2 else "no")
        exact = baselines[name]["exact"] if name in baselines else None
        five = reductions(exact, front["points"]) if exact else {"reached": False}
        results[name] = {"anchors": rows, "baseline_exact": exact, "within_5_points_of_baseline": five,
                         "search_seconds": front["search_seconds"], "report_seconds": front["report_seconds"],
                         "trials": front["trials"], "workers": front["workers"], "points": front["points"],
                         "proxy_vs_synthesis": front["proxy_vs_synthesis"]}
    console.print(summary)
    baseline_table = Table(title="≥5x area and power reduction at ≤5 points loss against the exact 8-bit baseline")
    for column in ("data set", "baseline acc / cm² / mW", "codesign acc / cm² / mW", "area", "power", "≥5x"):
        baseline_table.add_column(column, justify="right")
    for name, result in results.items():
        exact, five = result["baseline_exact"], result["within_5_points_of_baseline"]
        if not exact:
            continue
        ok = five["reached"] and five["area_reduction"] >= 5 and five["power_reduction"] >= 5
        baseline_table.add_row(name, f"{exact['test_accuracy']:.3f} / {exact['area_cm2']:.1f} / {exact['power_mw']:.1f}",
                               f"{five['test_accuracy']:.3f} / {five['area_cm2']:.3f} / {five['power_mw']:.2f}"
                               if five["reached"] else "not reached",
                               f"{five['area_reduction']:.1f}x" if five["reached"] else "-",
                               f"{five['power_reduction']:.1f}x" if five["reached"] else "-", "yes" if ok else "no")
    console.print(baseline_table)
    report = {"results": results, "baseline_seconds": baseline_seconds, "seconds": time.perf_counter() - started,
              "command": "make bench-printed", "baselines": list(baselines.values())}
    if args.reference_verilog:
        report["reference_rtl"] = synthesise_reference(args.reference_verilog, "egfet-1v", args.reference_top)
        ref = Table(title="Published RTL through the same yosys flow and cell library")
        for column in ("file", "cells", "area cm²", "static mW", "s"):
            ref.add_column(column, justify="right")
        for row in report["reference_rtl"]:
            ref.add_row(row["file"], str(row["cells"]), f"{row['area_cm2']:.1f}", f"{row['static_power_mw']:.1f}",
                        f"{row['seconds']:.1f}")
        console.print(ref)
    (args.out / "printed_uci.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
