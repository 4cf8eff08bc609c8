"""Fault- and variability-aware training vs plain QAT, with Monte-Carlo robustness curves.

    python flows/fault_aware_training.py                           # pendigits and cardio from ../shared/data/uci
    python flows/fault_aware_training.py --datasets path/to/cardio.csv --instances 50

For each data set: train plain QAT, fault-aware QAT (random stuck-at bit faults every step,
with the fault-sensitivity regulariser) and variability-aware QAT; export each to QONNX with
its noise metadata; evaluate accuracy over chip instances at bit-fault rates 0-30% and
variability 0-50%; fine-tune for known chips' fault maps; write JSON, PNG plots and a table.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codesign.data import load_dataset
from codesign.errors import CodesignError
from codesign.ir import load
from codesign.noise import BitStuckAt, DeviceVariability, NoiseModel
from codesign.noise.montecarlo import evaluate
from codesign.noise.plots import robustness_figure
from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
from codesign.quant.export import export_qonnx, training_metadata


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["pendigits", "cardio"],
                        help="UCI names (read from --uci-dir / $CODESIGN_UCI_DIR / ../shared/data/uci) or CSV paths")
    parser.add_argument("--hidden", type=int, nargs="+", default=[64])
    parser.add_argument("--weight-bits", type=int, default=4)
    parser.add_argument("--act-bits", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--instances", type=int, default=20, help="chip instances per point (>= 20 recommended)")
    parser.add_argument("--fault-rates", type=float, nargs="+", default=[0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    parser.add_argument("--variability", type=float, nargs="+", default=[0, 0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--train-fault-rate", type=float, default=0.2)
    parser.add_argument("--train-variability", type=float, default=0.4)
    parser.add_argument("--regularization", type=float, default=1.0)
    parser.add_argument("--chips", type=int, default=20,
                        help="known chips to fine-tune for, at 10%% and 20%% bit faults (0 to skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/fault_aware"))
    return parser.parse_args(argv)


def dataset_spec(name: str) -> str:
    return name if name.endswith(".csv") or ":" in name else f"uci:{name}"


def curve(graph, data, kind: str, levels: list[float], instances: int, seed: int, label: str) -> list[dict]:
    points = []
    for level in levels:
        model = NoiseModel(bit_faults=BitStuckAt(level)) if kind == "bit_faults" \
            else NoiseModel(variability=DeviceVariability(level))
        result = evaluate(graph, data.x_test, data.y_test, model, instances=instances, seed=seed,
                          progress=True, description=f"{label} {kind}={level:g}")
        points.append({"level": level, **{k: result.to_dict()[k] for k in ("mean", "std", "worst")}})
    return points


def chip_fine_tuning(base_model, data, rate: float, chips: int, args) -> dict:
    """Fine-tune a copy of the model for each known chip's fault map; accuracy on that chip."""
    noise = NoiseModel(bit_faults=BitStuckAt(rate))
    accuracies = []
    for chip in range(chips):
        config = TrainConfig(epochs=max(args.epochs // 4, 3), batch_size=128, learning_rate=0.005,
                             seed=args.seed, noise=noise, chip=(args.seed, chip))
        result = train(copy.deepcopy(base_model), data, config, progress=False)
        accuracies.append(result.test_accuracy)  # measured on the chip itself (faults applied)
    mean = sum(accuracies) / len(accuracies)
    std = (sum((a - mean) ** 2 for a in accuracies) / len(accuracies)) ** 0.5
    return {"level": rate, "mean": mean, "std": std, "worst": min(accuracies), "chips": len(accuracies)}


def run_dataset(spec: str, args, console: Console) -> dict:
    data = load_dataset(dataset_spec(spec), seed=args.seed)
    folder = args.out / data.name
    folder.mkdir(parents=True, exist_ok=True)
    mlp = MLPConfig(hidden=tuple(args.hidden), weight_bits=args.weight_bits, act_bits=args.act_bits)
    topology = Topology(data.features, data.num_classes, mlp)
    modes = {
        "plain": TrainConfig(epochs=args.epochs, batch_size=128, learning_rate=0.01, seed=args.seed),
        "fault_aware": TrainConfig(epochs=args.epochs, batch_size=128, learning_rate=0.005, seed=args.seed,
                                   noise=NoiseModel(bit_faults=BitStuckAt(args.train_fault_rate)),
                                   regularization=args.regularization),
        "variability_aware": TrainConfig(epochs=args.epochs, batch_size=128, learning_rate=0.005, seed=args.seed,
                                         noise=NoiseModel(variability=DeviceVariability(args.train_variability))),
    }
    graphs, models, timings = {}, {}, {}
    for mode, config in modes.items():
        started = time.perf_counter()
        # the robust variants start from the plain model and fine-tune with the hardware in the loop
        start = build_mlp(topology, seed=args.seed) if mode == "plain" else copy.deepcopy(models["plain"])
        result = train(start, data, config)
        timings[mode] = round(time.perf_counter() - started, 1)
        path = export_qonnx(result.model, folder / f"{mode}.onnx", in_features=data.features,
                            metadata=training_metadata(mlp, config, dataset=data.name))
        graphs[mode], models[mode] = load(path), result.model
        console.print(f"{data.name}: {mode} trained in {timings[mode]} s, exported {path}")
    curves = {
        "bit_faults": {mode: curve(graphs[mode], data, "bit_faults", args.fault_rates, args.instances, args.seed, mode)
                       for mode in ("plain", "fault_aware")},
        "variability": {mode: curve(graphs[mode], data, "variability", args.variability, args.instances, args.seed, mode)
                        for mode in ("plain", "variability_aware")},
    }
    fine_tuned = [chip_fine_tuning(models["fault_aware"], data, rate, args.chips, args)
                  for rate in (0.1, 0.2)] if args.chips else []
    if fine_tuned:
        curves["bit_faults"]["chip_fine_tuned"] = [
            {"level": 0.0, **{k: curves["bit_faults"]["plain"][0][k] for k in ("mean", "std", "worst")}}, *fine_tuned]
    plot = robustness_figure(curves, f"{data.name}: {'-'.join(map(str, topology.sizes))} "
                                     f"w{mlp.weight_bits}a{mlp.act_bits}, {args.instances} chips per point",
                             folder / "robustness.png")
    report = {"dataset": data.name, "topology": list(topology.sizes), "train_seconds": timings,
              "instances": args.instances, "curves": curves, "plot": str(plot)}
    (folder / "robustness.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def point(points: list[dict], level: float) -> dict | None:
    return next((p for p in points if abs(p["level"] - level) < 1e-9), None)


def summary_table(reports: list[dict]) -> tuple[Table, str]:
    table = Table(title="accuracy (%) over chip instances: mean ± std (worst)")
    columns = ["data set", "mode", "fault-free", "10% bit faults", "20% bit faults", "40% variability"]
    for column in columns:
        table.add_column(column)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for report in reports:
        bits, variability = report["curves"]["bit_faults"], report["curves"]["variability"]
        for mode in ("plain", "fault_aware", "variability_aware", "chip_fine_tuned"):
            cells = [report["dataset"], mode]
            for source, level in ((bits, 0.0), (bits, 0.1), (bits, 0.2), (variability, 0.4)):
                found = point(source.get(mode, []), level) if mode in source else None
                if mode == "variability_aware" and source is bits and level == 0.0:
                    found = point(variability[mode], 0.0)
                cells.append("-" if found is None else
                             f"{found['mean']:.1%} ± {found['std']:.1%} ({found['worst']:.1%})")
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
    return table, "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    try:
        reports = [run_dataset(spec, args, console) for spec in args.datasets]
    except CodesignError as exc:
        console.print(f"fault_aware_training: error: {exc.one_line()}", style="red")
        return exc.exit_code
    table, markdown = summary_table(reports)
    console.print(table)
    (args.out / "summary.md").write_text(markdown)
    (args.out / "summary.json").write_text(json.dumps(reports, indent=2, sort_keys=True) + "\n")
    console.print(f"plots and JSON in {args.out}/<dataset>/, table in {args.out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
