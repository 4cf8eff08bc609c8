"""Benchmark: bespoke printed MLPs on the UCI sets, side by side with the published table.

    python benchmarks/printed_uci.py                       # runs flows/printed_uci.py, then compares
    python benchmarks/printed_uci.py --reference-verilog DIR

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


def _flow():
    spec = importlib.util.spec_from_file_location("printed_uci_flow", ROOT / "flows" / "printed_uci.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-verilog", type=Path, help="directory of published RTL to synthesise alike")
    parser.add_argument("--reference-top", default="top")
    parser.add_argument("--datasets", nargs="+")
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    flow = _flow()
    flow_args = ["--out", str(args.out / "printed_uci"), "--trials", str(args.trials)]
    if args.datasets:
        flow_args += ["--datasets", *args.datasets]
    started = time.perf_counter()
    code = flow.main(flow_args)
    if code:
        return code
    results = json.loads((args.out / "printed_uci" / "results.json").read_text())
    console = Console()
    summary = Table(title="Ratios codesign / published (1.00 = equal)")
    for column in ("data set", "exact area", "exact power", "≤1% area vs best published", "≤1% power vs best published",
                   "≤5% area reduction", "≤5% power reduction"):
        summary.add_column(column, justify="right")
    for r in results:
        p, e, (b1, b5) = r["published"], r["exact"], r["budgets"]
        if "area_cm2" not in p:
            continue
        summary.add_row(r["dataset"], f"{e['area_cm2'] / p['area_cm2']:.2f}", f"{e['power_mw'] / p['power_mw']:.2f}",
                        f"{b1['area_cm2'] / p['approx_area_cm2']:.2f}", f"{b1['power_mw'] / p['approx_power_mw']:.2f}",
                        f"{b5['area_reduction']:.1f}x", f"{b5['power_reduction']:.1f}x")
    console.print(summary)
    report = {"results": results, "seconds": time.perf_counter() - started}
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
