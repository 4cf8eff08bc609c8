"""Hourglass co-design: a random input lift realised on a resistive crossbar by stochastic
switching, and a trained narrow bottleneck on an FPGA (or printed logic), against a
conventional MLP with the same number of parameters.

    python flows/hourglass_rram.py                              # digits (scikit-learn, offline)
    python flows/hourglass_rram.py --digital printed --lift 128 --bottleneck 8
    python flows/hourglass_rram.py --dataset uci:pendigits --instances 50

The lift (first layer) is never trained: each weight is what one un-verified SET pulse leaves
in a differential cell pair (codesign.quant.fixed_random), so the crossbar needs no
program-and-verify.  The bottleneck layers are trained for the chip's lift (cheap: they are
small), exported with it, and run exactly on the digital target.  Accuracy is Monte-Carlo over
chips' read noise on the lift; the conventional MLP runs either fully digital or fully on the
crossbar (programmed with verify, with the card's programming noise).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from codesign.backends.base import get_backend
from codesign.backends.crossbar.simulator import simulate
from codesign.cards import load_card
from codesign.data import load_dataset
from codesign.errors import CodesignError
from codesign.ir import execute, load
from codesign.ir.partition import split
from codesign.noise import NoiseModel, ReadNoise
from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
from codesign.quant.export import export_qonnx

DIGITAL_CARDS = {"fpga": "pynq-z2", "printed": "egfet-1v"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="scikit-learn set, uci:NAME or a CSV path")
    parser.add_argument("--lift", type=int, default=256, help="width of the random lift (crossbar)")
    parser.add_argument("--bottleneck", type=int, default=16, help="width of the trained bottleneck")
    parser.add_argument("--expand", type=int, default=32, help="width after the bottleneck (0: none)")
    parser.add_argument("--bits", type=int, default=4, help="weight and activation bits")
    parser.add_argument("--digital", choices=tuple(DIGITAL_CARDS), default="fpga")
    parser.add_argument("--crossbar-card", default="rram-40nm")
    parser.add_argument("--instances", type=int, default=20, help="Monte-Carlo chips")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/hourglass"))
    return parser.parse_args(argv)


def parameters(sizes: tuple[int, ...]) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def train_export(data, config: MLPConfig, args, path: Path):
    topology = Topology(data.features, data.num_classes, config)
    result = train(build_mlp(topology, seed=args.seed), data, TrainConfig(epochs=args.epochs, seed=args.seed),
                   progress=False)
    export_qonnx(result.model, path, in_features=data.features, metadata={"seed": args.seed, "dataset": data.name,
                                                                          "mlp_config": config.to_json()})
    return load(path), topology


def combined(parts: dict[str, dict]) -> dict:
    """Crossbar lift then digital bottleneck, one after the other: latencies, energies, areas add."""
    keys = ("latency_s", "energy_j", "area_mm2")
    total = {key: sum(part[key] for part in parts.values()) for key in keys}
    total["power_w"] = total["energy_j"] / total["latency_s"] if total["latency_s"] else 0.0
    return total


def run(args: argparse.Namespace, console: Console) -> dict:
    started = time.perf_counter()
    data = load_dataset(args.dataset, seed=args.seed)
    crossbar_card = load_card(args.crossbar_card)
    digital_card = load_card(DIGITAL_CARDS[args.digital])
    hidden = (args.lift, args.bottleneck) + ((args.expand,) if args.expand else ())
    hourglass_config = MLPConfig(hidden=hidden, weight_bits=args.bits, act_bits=args.bits, input_bits=4,
                                 fixed_random=(0,))
    sizes = (data.features, *hidden, data.num_classes)
    total = parameters(sizes)
    width = max(1, round((total - data.num_classes) / (data.features + data.num_classes + 1)))
    conventional_config = MLPConfig(hidden=(width,), weight_bits=args.bits, act_bits=args.bits, input_bits=4)
    args.out.mkdir(parents=True, exist_ok=True)

    console.print(f"[bold]hourglass[/] {'-'.join(map(str, sizes))} ({total} parameters, "
                  f"{parameters(sizes[:2])} in the random lift) vs [bold]conventional[/] "
                  f"{data.features}-{width}-{data.num_classes} "
                  f"({parameters((data.features, width, data.num_classes))} parameters) on {data.name}")
    hourglass, _ = train_export(data, hourglass_config, args, args.out / "hourglass.onnx")
    conventional, _ = train_export(data, conventional_config, args, args.out / "conventional.onnx")

    # accuracy: digital reference, then Monte-Carlo chips (read noise etc. on the crossbar part)
    lift, bottleneck = split(hourglass, 1)
    # the lift's static non-idealities (stuck cells, device variability) are part of the chip's random
    # draw the bottleneck is trained for; what varies from one inference to the next is read noise
    read_only = NoiseModel(read=ReadNoise(sigma=crossbar_card.noise.read.value))
    chips = simulate(lift, crossbar_card, data.x_test, instances=args.instances, seed=args.seed,
                     fixed_random="stored", noise=read_only)
    hourglass_chip_acc = [float(np.mean(execute(bottleneck, chips.logits[k]).predictions == data.y_test))
                          for k in range(chips.instances)]
    conventional_chips = simulate(conventional, crossbar_card, data.x_test, data.y_test,
                                  instances=args.instances, seed=args.seed)
    accuracy = {
        "hourglass_reference": float(np.mean(execute(hourglass, data.x_test).predictions == data.y_test)),
        "hourglass_chips_mean": float(np.mean(hourglass_chip_acc)),
        "hourglass_chips_worst": float(np.min(hourglass_chip_acc)),
        "conventional_reference": float(np.mean(execute(conventional, data.x_test).predictions == data.y_test)),
        "conventional_crossbar_mean": float(conventional_chips.mean),
        "conventional_crossbar_worst": float(conventional_chips.worst),
    }

    crossbar, digital = get_backend("crossbar"), get_backend(args.digital)
    digital_options = {"samples": 256} if args.digital == "printed" else {}
    hourglass_parts = {"crossbar lift": crossbar.estimate(lift, crossbar_card).to_dict(),
                       f"{args.digital} bottleneck": digital.estimate(bottleneck, digital_card,
                                                                       **digital_options).to_dict()}
    designs = {
        "hourglass (crossbar + " + args.digital + ")": {**combined(hourglass_parts),
                                                        "accuracy": accuracy["hourglass_chips_mean"],
                                                        "parts": hourglass_parts},
        f"conventional on {args.digital}": {**{k: v for k, v in digital.estimate(
            conventional, digital_card, **digital_options).to_dict().items()
            if k in ("latency_s", "energy_j", "area_mm2", "power_w")},
            "accuracy": accuracy["conventional_reference"]},
        "conventional on crossbar": {**{k: v for k, v in crossbar.estimate(conventional, crossbar_card).to_dict().items()
                                        if k in ("latency_s", "energy_j", "area_mm2", "power_w")},
                                     "accuracy": accuracy["conventional_crossbar_mean"]},
    }
    table = Table(title=f"Hourglass vs conventional MLP on {data.name} (per inference; accuracy over "
                        f"{args.instances} chips where a crossbar is involved)")
    for column in ("design", "accuracy", "latency (s)", "energy (J)", "area (mm²)"):
        table.add_column(column, justify="right" if column != "design" else "left")
    for name, row in designs.items():
        table.add_row(name, f"{row['accuracy']:.3f}", f"{row['latency_s']:.3g}", f"{row['energy_j']:.3g}",
                      f"{row['area_mm2']:.3g}")
    console.print(table)
    report = {"dataset": data.name, "hourglass_sizes": list(sizes), "conventional_sizes":
              [data.features, width, data.num_classes], "parameters": total, "accuracy": accuracy,
              "hourglass_chip_accuracies": hourglass_chip_acc, "designs": designs,
              "assumptions": ["the lift's weights are the switching outcome of one SET pulse per cell (no verify); "
                              "the bottleneck is trained for that chip's lift, so its static non-idealities are part "
                              "of the draw; Monte-Carlo chips vary in read noise (the card's sigma) on the lift",
                              "crossbar and digital parts run one after the other; their latencies, energies and "
                              "areas add; the interface between them is not costed",
                              "the conventional crossbar MLP is programmed with verify and sees all of the card's "
                              "noise (programming, variability, stuck cells, read), without per-chip retraining"],
              "seconds": round(time.perf_counter() - started, 1)}
    (args.out / "hourglass.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    plot(designs, args.out / "hourglass.png")
    console.print(f"results: {args.out / 'hourglass.json'}, plot: {args.out / 'hourglass.png'} "
                  f"({report['seconds']} s)")
    return report


def plot(designs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(designs)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), constrained_layout=True)
    for ax, (key, label, log) in zip(axes, (("accuracy", "test accuracy", False), ("energy_j", "energy (J)", True),
                                            ("area_mm2", "area (mm²)", True)), strict=True):
        ax.bar(range(len(names)), [designs[n][key] for n in names], color=["tab:purple", "tab:blue", "tab:orange"])
        ax.set_xticks(range(len(names)), [n.replace(" (", "\n(").replace(" on ", "\non ") for n in names], fontsize=7)
        ax.set_title(label)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 130)
    try:
        run(parse_args(argv), console)
    except CodesignError as exc:
        console.print(f"hourglass: error: {exc.one_line()}", style="red")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
