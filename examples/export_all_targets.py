"""Train one small quantised MLP and take it to every target: FPGA, crossbar and printed.

    python examples/export_all_targets.py                 # breast_cancer, writes runs/all_targets/
    python examples/export_all_targets.py --out DIR --dataset wine --hidden 8

Each target gets a verified artifact directory with its estimate.json; the per-inference
numbers are printed side by side, and DIR/report.html (``codesign report DIR``) summarises
everything. Takes about 30 s on a laptop CPU (most of it the g++ build of the
hls4ml emulation and the yosys synthesis).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import codesign
from codesign.cards import load_card
from codesign.data import load_dataset
from codesign.estimate import Estimate
from codesign.report import format_area, format_si, write_report

TARGETS = (("fpga", "pynq-z2"), ("crossbar", "rram-40nm"), ("printed", "egfet-1v"))


def train_model(dataset: str, hidden: list[int], out: Path) -> Path:
    from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
    from codesign.quant.export import export_qonnx

    data = load_dataset(dataset, seed=0)
    config = MLPConfig(hidden=tuple(hidden), weight_bits=4, act_bits=4, input_bits=4)
    result = train(build_mlp(Topology(data.features, data.num_classes, config), seed=0), data,
                   TrainConfig(epochs=20, seed=0), progress=False)
    print(f"trained {data.features}-{'-'.join(map(str, hidden))}-{data.num_classes} w4a4 on {data.name}: "
          f"test accuracy {result.test_accuracy:.2%}")
    return export_qonnx(result.model, out / "model.onnx", in_features=data.features,
                        metadata={"dataset": data.name, "seed": 0})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="breast_cancer", help="scikit-learn set, uci:NAME or a CSV path")
    parser.add_argument("--hidden", type=int, nargs="+", default=[8])
    parser.add_argument("--out", type=Path, default=Path("runs/all_targets"))
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    graph = codesign.load(train_model(args.dataset, args.hidden, args.out))
    rows = []
    for target, card_name in TARGETS:
        # the printed backend verifies the netlist and measures switching activity on real data
        options = {"data": args.dataset} if target == "printed" else {}
        artifact = codesign.lower(graph, load_card(card_name), args.out / target, target=target,
                                  overwrite=True, **options)
        estimate = Estimate.load(artifact.directory / "estimate.json")  # every backend writes one
        rows.append((target, card_name, estimate, artifact))
        print(f"{target:9s} -> {artifact.directory} ({len(artifact.files)} files)")

    print(f"\n{'target':9s} {'card':10s} {'method':10s} {'latency':>10s} {'energy':>10s} {'area':>11s} {'power':>10s}")
    for target, card_name, e, _ in rows:
        print(f"{target:9s} {card_name:10s} {e.method:10s} {format_si(e.latency_s, 's'):>10s} "
              f"{format_si(e.energy_j, 'J'):>10s} {format_area(e.area_mm2):>11s} {format_si(e.power_w, 'W'):>10s}")
    report = write_report(args.out)
    print(f"\nreport: {report}  ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
