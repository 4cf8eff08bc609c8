"""Quick start: train a quantised MLP, export QONNX, load it with codesign, verify, describe.

    python flows/quickstart.py                       # breast_cancer from scikit-learn (offline)
    python flows/quickstart.py --dataset digits --hidden 32 16 --weight-bits 3
    python flows/quickstart.py --dataset ../shared/data/uci/cardio.csv

Copy and edit this file: every step is one call of the public API.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console

from codesign.comparison import compare
from codesign.data import load_dataset
from codesign.errors import CodesignError
from codesign.ir import execute, load
from codesign.ir.crosscheck import crosscheck
from codesign.ir.describe import summary
from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
from codesign.quant.export import export_qonnx
from codesign.report import write_report
from codesign.report_tables import layer_table


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="breast_cancer",
                        help="scikit-learn set (breast_cancer, wine, digits, iris), uci:NAME, or a CSV path")
    parser.add_argument("--hidden", type=int, nargs="+", default=[16])
    parser.add_argument("--weight-bits", type=int, default=4)
    parser.add_argument("--act-bits", type=int, default=4)
    parser.add_argument("--input-bits", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"))
    return parser.parse_args(argv)


def run(args: argparse.Namespace, console: Console) -> dict:
    started = time.perf_counter()
    data = load_dataset(args.dataset, seed=args.seed)
    console.print(f"[bold]1. data[/bold]  {data.name}: {len(data.x_train)} train / {len(data.x_test)} test, "
                  f"{data.features} features, {data.num_classes} classes")

    config = MLPConfig(hidden=tuple(args.hidden), weight_bits=args.weight_bits, act_bits=args.act_bits,
                       input_bits=args.input_bits)
    topology = Topology(data.features, data.num_classes, config)
    result = train(build_mlp(topology, seed=args.seed), data, TrainConfig(epochs=args.epochs, seed=args.seed))
    console.print(f"[bold]2. train[/bold] Brevitas QAT {'-'.join(map(str, topology.sizes))}, "
                  f"w{config.weight_bits}a{config.act_bits}: test accuracy {result.test_accuracy:.2%}")

    model_path = export_qonnx(result.model, args.out / "model.onnx", in_features=data.features,
                              metadata={"seed": args.seed, "dataset": data.name, "mlp_config": config.to_json()})
    console.print(f"[bold]3. export[/bold] {model_path}")

    graph = load(model_path)
    reference = execute(graph, data.x_test)
    reference_accuracy = float((reference.predictions == data.y_test).mean())
    check = crosscheck(graph, data.x_test)
    console.print(f"[bold]4. verify[/bold] integer reference vs qonnx: {check.describe()}")
    if not check.agrees:
        raise CodesignError("the integer reference disagrees with qonnx execution",
                            hint="please report this model; it is a codesign bug")
    console.print(f"[bold]5. accuracy[/bold] integer reference {reference_accuracy:.2%} "
                  f"(Brevitas fake-quant {result.test_accuracy:.2%})")
    info = summary(graph)
    console.print(layer_table(info))
    comparison = compare(graph, options={"printed": {"data": args.dataset, "seed": args.seed}})
    files = comparison.save(args.out)
    console.print("[bold]6. targets[/bold] the same model on an FPGA, a resistive crossbar and printed EGFET logic:")
    console.print(comparison.table())
    console.print(f"table: {files['csv']}, plot: {files['png']}")
    report = {"dataset": data.name, "topology": list(topology.sizes), "config": json.loads(config.to_json()),
              "train_accuracy": result.train_accuracy, "test_accuracy": result.test_accuracy,
              "reference_accuracy": reference_accuracy, "crosscheck": check.to_dict(),
              "model": str(model_path), "layers": info["layers"], "totals": info["totals"],
              "targets": comparison.to_dict()["rows"],
              "seconds": round(time.perf_counter() - started, 2)}
    (args.out / "quickstart.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    page = write_report(args.out)
    console.print(f"done in {report['seconds']:.1f} s; results: {args.out / 'quickstart.json'}, report: {page}")
    return report


def main(argv=None) -> int:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    try:
        run(parse_args(argv), console)
    except CodesignError as exc:
        console.print(f"quickstart: error: {exc.one_line()}", style="red")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
