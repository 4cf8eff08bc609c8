"""Benchmark: the printed synthesis flow's area and run time, per ABC script, on published RTL and
on codesign's own designs.

    python benchmarks/printed_synthesis.py --reference-verilog DIR      # published exact RTL + own designs
    python benchmarks/printed_synthesis.py --models DIR                 # own designs from QONNX files NAME.onnx

Published RTL: the exact bespoke MLP baselines (8-bit weights, 4-bit inputs; files such as
``Cardio_MLP_C_exact.v``, top module ``top``) whose Synopsys Design Compiler areas on the EGFET
library are the published baselines (Cardio 33.4, RedWine 17.6, WhiteWine 31.2, Pendigits 67.0 cm²).
Each file is synthesised by codesign's flow onto the Liberty generated from the ``egfet-1v`` card
with every script, ``--repeats`` times (median, min, max run time); ``--prove`` also proves the
area-script netlist equivalent to the RTL (yosys miter + SAT, under the time limit), for the
published RTL and for the own designs.

Own designs: the literature's setting (4-bit inputs, 8-bit weights, one hidden ReLU layer with
8-bit power-of-two activations, the published topologies) trained on the UCI sets
(``../shared/data/uci``) unless ``--models`` gives QONNX files; the exact bespoke design is
synthesised with every script and checked at gate level against its bit-true model.

Writes benchmarks/results/printed_synthesis.json and printed_synthesis.png.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
# published Design Compiler area (cm²) of the exact baselines, by data set (../shared/data/uci/README.md)
PUBLISHED_DC_CM2 = {"cardio": 33.4, "wine-red": 17.6, "wine-white": 31.2, "pendigits": 67.0}
HIDDEN = {"cardio": 3, "wine-red": 2, "wine-white": 4, "pendigits": 5}
FILE_KEYS = {"cardio": ("cardio", "ca_"), "wine-red": ("redwine", "rw_"), "wine-white": ("whitewine", "ww_"),
             "pendigits": ("pendigits", "pd_")}


def dataset_of(filename: str) -> str | None:
    low = filename.lower()
    return next((name for name, keys in FILE_KEYS.items() if any(low.startswith(k) or k in low for k in keys)), None)


def _area(result, card) -> tuple[int, float]:
    counts = Counter(c["type"] for c in result.module["cells"].values())
    return sum(counts.values()), sum(card.cells[k].area.value * n for k, n in counts.items()) * 1e4


def measure(verilog: str, top: str, card, script: str, repeats: int, timeout: float) -> tuple[dict, object]:
    from codesign.backends.printed.liberty import liberty
    from codesign.backends.printed.synthesis import synthesize

    times, result = [], None
    for _ in range(repeats):
        result = synthesize(verilog, liberty(card), top, abc_script=script, timeout_s=timeout)
        times.append(result.seconds)
    cells, area = _area(result, card)
    return {"script": script, "cells": cells, "area_cm2": area, "seconds_median": statistics.median(times),
            "seconds_min": min(times), "seconds_max": max(times), "repeats": repeats}, result


def published_rtl(folder: Path, card, args, console: Console) -> list[dict]:
    from codesign.backends.printed.equivalence import prove_equivalent
    from codesign.backends.printed.liberty import liberty

    rows = []
    files = sorted(folder.glob("*.v"))
    if not files:
        raise SystemExit(f"error: no *.v files in {folder}")
    for path in files:
        name = dataset_of(path.name)
        verilog = path.read_text(encoding="utf-8")
        for script in args.scripts:
            console.print(f"published RTL {path.name}: abc script {script} x{args.repeats} ...")
            row, result = measure(verilog, args.reference_top, card, script, args.repeats, args.timeout)
            row.update({"file": path.name, "dataset": name})
            if name in PUBLISHED_DC_CM2:
                row["published_dc_cm2"] = PUBLISHED_DC_CM2[name]
                row["ratio_vs_dc"] = row["area_cm2"] / PUBLISHED_DC_CM2[name]
            if args.prove and script == "area":
                proof = prove_equivalent(verilog, result.netlist_verilog, liberty(card), args.reference_top,
                                         timeout_s=args.timeout)
                row["equivalence"] = proof.as_dict()
            rows.append(row)
    return rows


def _model(name: str, args, console: Console) -> Path:
    if args.models and (args.models / f"{name}.onnx").exists():
        return args.models / f"{name}.onnx"
    from codesign.data import load_csv, uci_path
    from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
    from codesign.quant.export import export_qonnx

    cache = args.out / "printed_synthesis_models"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{name}.onnx"
    if target.exists():
        return target
    console.print(f"training {name} (one run, {args.epochs} epochs, seed 0) ...")
    data = load_csv(uci_path(name, args.uci_dir), seed=0)
    config = MLPConfig(hidden=(HIDDEN[name],), weight_bits=8, act_bits=8, input_bits=4, power_of_two=True)
    model = build_mlp(Topology(data.x_train.shape[1], int(data.y_train.max()) + 1, config), seed=0)
    train(model, data, TrainConfig(epochs=args.epochs, learning_rate=0.02, seed=0), progress=False)
    return export_qonnx(model, target, in_features=data.x_train.shape[1])


def own_designs(card, args, console: Console) -> list[dict]:
    import numpy as np

    from codesign.backends.printed.design import build, evaluate
    from codesign.backends.printed.gatesim import Netlist, simulate
    from codesign.backends.printed.liberty import combinational_cells
    from codesign.backends.printed.verilog import emit, module_name
    from codesign.ir import load
    from codesign.ir.crosscheck import random_inputs
    from codesign.ir.reference import input_codes

    functions = {name: cell.function for name, cell in combinational_cells(card).items()}
    rows = []
    for name in args.datasets:
        graph = load(_model(name, args, console))
        design = build(graph)
        verilog, top = emit(design, {"model": design.name}), module_name(design.name)
        x = input_codes(graph, random_inputs(graph, 512, seed=0))
        for script in args.scripts:
            console.print(f"codesign design {name}: abc script {script} x{args.repeats} ...")
            row, result = measure(verilog, top, card, script, args.repeats, args.timeout)
            gates = simulate(Netlist.from_yosys(result.module, functions), functions,
                             {f"x{i}": x[:, i] for i in range(design.in_features)})
            row.update({"dataset": name, "model": design.name,
                        "gate_vs_design_mismatches": int(np.count_nonzero(
                            gates.outputs["class_id"] != evaluate(design, x).predictions))})
            if args.prove and script == "area":
                from codesign.backends.printed.equivalence import prove_equivalent
                from codesign.backends.printed.liberty import liberty

                row["equivalence"] = prove_equivalent(verilog, result.netlist_verilog, liberty(card), top,
                                                      timeout_s=args.timeout).as_dict()
            rows.append(row)
    return rows


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, key, title in ((axes[0], "published_rtl", "published RTL: area / published DC area"),
                           (axes[1], "own_designs", "codesign designs: synthesis time (s, median)")):
        rows = report.get(key, [])
        labels = sorted({r["dataset"] or r.get("file", "?") for r in rows})
        for k, script in enumerate(report["scripts"]):
            values = []
            for label in labels:
                match = [r for r in rows if (r["dataset"] or r.get("file")) == label and r["script"] == script]
                value = match[0].get("ratio_vs_dc" if key == "published_rtl" else "seconds_median", 0) if match else 0
                values.append(value)
            ax.bar([i + (k - 0.5) * 0.35 for i in range(len(labels))], values, 0.35, label=script)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(title="ABC script")
        if key == "published_rtl":
            ax.axhline(1.2, color="r", ls="--", lw=1)
            ax.axhline(1.0, color="k", lw=0.8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    from codesign.backends.printed.synthesis import ABC_SCRIPTS, AREA_SCRIPT, yosys_version
    from codesign.cards import load_card

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-verilog", type=Path, help="directory of published RTL (*.v)")
    parser.add_argument("--reference-top", default="top")
    parser.add_argument("--models", type=Path, help="directory of QONNX models NAME.onnx for the own designs")
    parser.add_argument("--uci-dir", help="directory of the UCI CSV files (default ../shared/data/uci)")
    parser.add_argument("--datasets", nargs="+", default=list(HIDDEN), choices=list(HIDDEN))
    parser.add_argument("--scripts", nargs="+", default=["fast", "area"], choices=ABC_SCRIPTS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=600.0, help="synthesis (and proof) time limit, s")
    parser.add_argument("--prove", action="store_true", help="prove the area-script netlists equivalent to their RTL")
    parser.add_argument("--skip-own", action="store_true", help="only the published RTL")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if args.reference_verilog and not args.reference_verilog.is_dir():
        print(f"error: --reference-verilog {args.reference_verilog} is not a directory", file=sys.stderr)
        return 2
    console = Console()
    card = load_card("egfet-1v")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = {"card": card.name, "yosys": yosys_version(), "scripts": args.scripts, "area_script": AREA_SCRIPT,
              "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
              "time_limit_s": args.timeout}
    if args.reference_verilog:
        report["published_rtl"] = published_rtl(args.reference_verilog, card, args, console)
    if not args.skip_own:
        report["own_designs"] = own_designs(card, args, console)
    report["seconds"] = time.perf_counter() - started
    table = Table(title="Printed synthesis: area and run time per ABC script (egfet-1v)")
    for column in ("design", "script", "cells", "cm²", "vs DC", "s (median [min, max])", "check"):
        table.add_column(column, justify="right")
    for row in report.get("published_rtl", []) + report.get("own_designs", []):
        check = row.get("equivalence", {}).get("status", "")
        if "gate_vs_design_mismatches" in row:
            check = f"{row['gate_vs_design_mismatches']} mismatches" + (f", {check}" if check else "")
        table.add_row(row.get("file") or row["dataset"], row["script"], str(row["cells"]), f"{row['area_cm2']:.1f}",
                      f"{row['ratio_vs_dc']:.2f}x" if "ratio_vs_dc" in row else "-",
                      f"{row['seconds_median']:.1f} [{row['seconds_min']:.1f}, {row['seconds_max']:.1f}]", check)
    console.print(table)
    (args.out / "printed_synthesis.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    plot(report, args.out / "printed_synthesis.png")
    console.print(f"results: {args.out / 'printed_synthesis.json'}, plot: {args.out / 'printed_synthesis.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
