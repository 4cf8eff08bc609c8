"""FPGA flow: a jet-tagger-shaped 16-64-32-32-5 MLP at several bit widths -> verified hls4ml
projects -> resources and latency against bit width and reuse factor (plots).

    python flows/fpga_jet_tagger.py                          # offline: a 16-feature, 5-class synthetic set
    python flows/fpga_jet_tagger.py --data jets.csv          # the hls4ml LHC jet set as CSV (label last)
    python flows/fpga_jet_tagger.py --bits 4 6 8 --reuse 1 2 4 8 --card alveo-u250

The default data are scikit-learn's make_classification with the jet tagger's shape (16
high-level features, 5 classes), so the flow runs without a download; pass the real jet
features with --data for physics accuracy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codesign.backends import backend_for
from codesign.cards import load_card
from codesign.data import Dataset, load_csv, prepare
from codesign.errors import CodesignError
from codesign.ir import execute, load
from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
from codesign.quant.export import export_qonnx

HIDDEN = (64, 32, 32)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="CSV with 16 feature columns and the class last (default: synthetic)")
    parser.add_argument("--bits", type=int, nargs="+", default=[4, 6, 8])
    parser.add_argument("--reuse", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--card", default="alveo-u250")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-export", action="store_true", help="estimates only (skip hls4ml projects)")
    parser.add_argument("--out", type=Path, default=Path("runs/fpga_jet_tagger"))
    return parser.parse_args(argv)


def jet_like(seed: int) -> Dataset:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=6000, n_features=16, n_informative=10, n_redundant=4, n_classes=5,
                               n_clusters_per_class=2, class_sep=1.2, random_state=seed)
    return prepare("jet-like (synthetic)", x, y, seed=seed)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for bits in sorted({r["bits"] for r in rows}):
        mine = sorted((r for r in rows if r["bits"] == bits), key=lambda r: r["reuse_factor"])
        reuse = [r["reuse_factor"] for r in mine]
        axes[0].plot(reuse, [r["lut"] for r in mine], marker="o", label=f"w{bits}a{bits}")
        axes[1].plot(reuse, [r["dsp"] for r in mine], marker="o", label=f"w{bits}a{bits}")
        axes[2].plot(reuse, [r["latency_s"] * 1e9 for r in mine], marker="o", label=f"w{bits}a{bits}")
    for axis, label in zip(axes, ("LUT", "DSP", "latency (ns)"), strict=True):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("reuse factor")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("16-64-32-32-5 MLP on FPGA: analytical estimate vs bit width and reuse factor")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console()
    try:
        data = load_csv(args.data, seed=args.seed) if args.data else jet_like(args.seed)
        card = load_card(args.card)
        backend = backend_for("fpga", card)
        args.out.mkdir(parents=True, exist_ok=True)
        rows, exports = [], []
        for bits in args.bits:
            config = MLPConfig(hidden=HIDDEN, weight_bits=bits, act_bits=bits, input_bits=bits)
            model = build_mlp(Topology(data.features, data.num_classes, config), seed=args.seed)
            trained = train(model, data, TrainConfig(epochs=args.epochs, seed=args.seed), progress=False)
            path = export_qonnx(trained.model, args.out / f"jet_w{bits}.onnx", in_features=data.features)
            graph = load(path)
            accuracy = float((execute(graph, data.x_test).predictions == data.y_test).mean())
            console.print(f"w{bits}a{bits}: test accuracy {accuracy:.2%} (integer reference), {path}")
            for reuse in args.reuse:
                estimate = backend.estimate(graph, card, reuse_factor=reuse)
                rows.append({"bits": bits, "reuse_factor": reuse, "accuracy": accuracy,
                             "lut": estimate.resources["lut"], "ff": estimate.resources["ff"],
                             "dsp": estimate.resources["dsp"], "latency_s": estimate.latency_s,
                             "ii_cycles": estimate.resources["ii_cycles"], "power_w": estimate.power_w,
                             "fits": bool(estimate.resources["fits"])})
            if not args.no_export:
                started = time.perf_counter()
                artifact = backend.lower(graph, card, args.out / f"hls_w{bits}", overwrite=True, max_mismatch=0.005)
                exports.append({"bits": bits, "directory": str(artifact.directory),
                                "exact_match_rate": artifact.summary["exact_match_rate"],
                                "seconds": round(time.perf_counter() - started, 1)})
                console.print(f"  hls4ml project {artifact.directory}: "
                              f"{artifact.summary['exact_match_rate']:.2%} of outputs bit-exact")
    except CodesignError as error:
        console.print(f"[red]error:[/red] {error.one_line()}")
        return 2
    table = Table(title=f"estimates on {card.name} ({card.part.name})")
    for column in ("bits", "reuse", "accuracy", "LUT", "FF", "DSP", "latency", "II", "fits"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(str(r["bits"]), str(r["reuse_factor"]), f"{r['accuracy']:.2%}", f"{r['lut']:,.0f}",
                      f"{r['ff']:,.0f}", f"{r['dsp']:,.0f}", f"{r['latency_s'] * 1e9:.0f} ns", f"{r['ii_cycles']:.0f}",
                      "yes" if r["fits"] else "NO")
    console.print(table)
    plot(rows, args.out / "resources_vs_bits_and_reuse.png")
    (args.out / "results.json").write_text(json.dumps({"card": card.name, "rows": rows, "exports": exports},
                                                      indent=2, sort_keys=True) + "\n")
    console.print(f"plot: {args.out / 'resources_vs_bits_and_reuse.png'}; results: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())



