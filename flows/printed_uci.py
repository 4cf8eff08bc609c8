"""Printed MLP classifiers in the literature's setting: 4-bit inputs, 8-bit weights, one hidden
layer, synthesised as bespoke EGFET circuits, exact and approximated within 1 % / 5 % loss.

    python flows/printed_uci.py                                  # Cardio, RedWine, WhiteWine, Pendigits
    python flows/printed_uci.py --datasets cardio --trials 3000
    python flows/printed_uci.py --uci-dir /path/to/uci --out runs/printed

Data: the UCI CSV files (label in the last column), found in --uci-dir, $CODESIGN_UCI_DIR or
../shared/data/uci.  Writes, per data set, the QONNX model and the printed artifact (Verilog,
mapped netlist, verification, estimate, Pareto front), then results.json and a summary plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codesign.backends.base import get_backend
from codesign.cards import load_card
from codesign.data import load_csv, uci_path
from codesign.errors import CodesignError
from codesign.ir import load
from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
from codesign.quant.export import export_qonnx

# topology and published exact / best approximate (<= 1 % loss) figures of bespoke EGFET MLPs
# (../shared/data/uci/README.md: Mubarik et al. MICRO 2020 as tabulated by Armeniakos et al.;
# approximate: Armeniakos et al. TC 2023, Pendigits DATE 2022)
PUBLISHED = {
    "cardio": {"hidden": 3, "accuracy": 0.88, "area_cm2": 33.4, "power_mw": 124.2, "approx_area_cm2": 6.1, "approx_power_mw": 20.8},
    "wine-red": {"hidden": 2, "accuracy": 0.56, "area_cm2": 17.6, "power_mw": 73.5, "approx_area_cm2": 1.1, "approx_power_mw": 3.9},
    "wine-white": {"hidden": 4, "accuracy": 0.54, "area_cm2": 31.2, "power_mw": 126.4, "approx_area_cm2": 6.5, "approx_power_mw": 21.3},
    "pendigits": {"hidden": 5, "accuracy": 0.94, "area_cm2": 67.0, "power_mw": 213.0, "approx_area_cm2": 46.0, "approx_power_mw": 153.0},
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(PUBLISHED),
                        help="UCI file stems (default: the four with published numbers); others need --hidden")
    parser.add_argument("--hidden", nargs="+", default=[], metavar="NAME=H",
                        help="hidden-layer size per data set, e.g. mammographic_masses=3")
    parser.add_argument("--uci-dir", help="directory of the UCI CSV files")
    parser.add_argument("--card", default="egfet-1v")
    parser.add_argument("--act-bits", type=int, default=8, help="hidden activation bits (default 8)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--learning-rate", type=float, nargs="+", default=[0.005, 0.02])
    parser.add_argument("--restarts", type=int, default=2,
                        help="seeds per learning rate; the run with the best training accuracy is kept "
                        "(tiny hidden layers often train into dead ReLUs)")
    parser.add_argument("--float-scales", action="store_true",
                        help="train with float scales (default: power-of-two scales, so requantisation is a shift)")
    parser.add_argument("--trials", type=int, default=2000, help="approximation search trials per data set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/printed_uci"))
    return parser.parse_args(argv)


def hidden_sizes(args: argparse.Namespace) -> dict[str, int]:
    sizes = {name: entry["hidden"] for name, entry in PUBLISHED.items()}
    for item in args.hidden:
        name, _, value = item.partition("=")
        if not value.isdigit() or int(value) < 1:
            raise CodesignError(f"--hidden {item!r} is not NAME=H", hint="e.g. --hidden mammographic_masses=3")
        sizes[name] = int(value)
    missing = [name for name in args.datasets if name not in sizes]
    if missing:
        raise CodesignError(f"no hidden-layer size for {', '.join(missing)}", hint=f"pass --hidden {missing[0]}=H")
    return sizes


def run_dataset(name: str, args: argparse.Namespace, console: Console) -> dict:
    published = {**PUBLISHED.get(name, {}), "hidden": hidden_sizes(args)[name]}
    path = uci_path(name, args.uci_dir)
    data = load_csv(path, seed=args.seed)
    classes = int(data.y_train.max()) + 1
    config = MLPConfig(hidden=(published["hidden"],), weight_bits=8, act_bits=args.act_bits, input_bits=4,
                       power_of_two=not args.float_scales)
    console.print(f"[bold]{name}[/]: {data.x_train.shape[1]}-{published['hidden']}-{classes}, training "
                  f"{args.restarts * len(args.learning_rate)} runs ...")
    runs = []
    for lr in args.learning_rate:
        for seed in range(args.seed, args.seed + args.restarts):
            candidate = build_mlp(Topology(data.x_train.shape[1], classes, config), seed=seed)
            result = train(candidate, data, TrainConfig(epochs=args.epochs, learning_rate=lr, seed=seed), progress=False)
            runs.append((result.train_accuracy, -seed, candidate))
    model = max(runs, key=lambda run: run[:2])[2]
    folder = args.out / name
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = export_qonnx(model, folder / f"{name}.onnx", in_features=data.x_train.shape[1])
    graph = load(onnx_path)
    console.print(f"  exporting: exact + approximation search ({args.trials} trials) + synthesis ...")
    artifact = get_backend("printed").lower(graph, load_card(args.card), folder / "printed", overwrite=True,
                                            data=str(path), accuracy_loss=[0.01, 0.05], trials=args.trials,
                                            seed=args.seed)
    pareto = json.loads((artifact.directory / "pareto.json").read_text())
    verification = json.loads((artifact.directory / "verification.json").read_text())
    return {"dataset": name, "topology": f"{data.x_train.shape[1]}-{published['hidden']}-{classes}",
            "published": published, "exact": pareto["exact"], "budgets": pareto["budgets"],
            "gate_level_mismatches": verification["gate_vs_design_mismatches"], "artifact": str(artifact.directory)}


def table(results: list[dict]) -> Table:
    out = Table(title="Bespoke printed MLPs: codesign (yosys + ABC, EGFET card) vs published (Synopsys DC)")
    for column in ("data set", "exact acc", "exact cm² (pub.)", "exact mW (pub.)", "≤1%: cm² / mW (pub.)",
                   "≤1% reduction", "≤5%: cm² / mW", "≤5% reduction"):
        out.add_column(column, justify="right")
    for r in results:
        e, (b1, b5) = r["exact"], r["budgets"]
        p = {key: "-" for key in ("accuracy", "area_cm2", "power_mw", "approx_area_cm2", "approx_power_mw")}
        p.update(r["published"])
        out.add_row(r["dataset"], f"{e['test_accuracy']:.3f} ({p['accuracy']})",
                    f"{e['area_cm2']:.1f} ({p['area_cm2']})", f"{e['power_mw']:.1f} ({p['power_mw']})",
                    f"{b1['area_cm2']:.1f} / {b1['power_mw']:.1f} ({p['approx_area_cm2']} / {p['approx_power_mw']})",
                    f"{b1['area_reduction']:.1f}x / {b1['power_reduction']:.1f}x",
                    f"{b5['area_cm2']:.1f} / {b5['power_mw']:.1f}",
                    f"{b5['area_reduction']:.1f}x / {b5['power_reduction']:.1f}x")
    return out


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    results = [r for r in results if "area_cm2" in r["published"]]
    if not results:
        return
    names = [r["dataset"] for r in results]
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, key, pub_key, approx_key, label in ((axes[0], "area_cm2", "area_cm2", "approx_area_cm2", "area (cm²)"),
                                                 (axes[1], "power_mw", "power_mw", "approx_power_mw", "power (mW)")):
        bars = [("published exact", [r["published"][pub_key] for r in results]),
                ("codesign exact", [r["exact"][key] for r in results]),
                ("published ≤1%", [r["published"][approx_key] for r in results]),
                ("codesign ≤1%", [r["budgets"][0][key] for r in results]),
                ("codesign ≤5%", [r["budgets"][1][key] for r in results])]
        for k, (name, values) in enumerate(bars):
            ax.bar(x + (k - 2) * 0.16, values, 0.16, label=name)
        ax.set_xticks(x, names)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[1].axhline(30, color="r", ls="--", lw=1, label="30 mW battery")
    axes[1].legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console()
    try:
        hidden_sizes(args)
        results = [run_dataset(name, args, console) for name in args.datasets]
    except CodesignError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    plot(results, args.out / "printed_uci.png")
    console.print(table(results))
    console.print(f"results: {args.out / 'results.json'}, plot: {args.out / 'printed_uci.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
