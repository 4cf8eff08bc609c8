"""Printed co-design on the UCI sets: ternary / binary / low-bit networks with learned converter
ranges and hardware-aware retraining, searched together; the front against published points.

    python flows/printed_codesign.py                                # Cardio, RedWine, WhiteWine, Pendigits
    python flows/printed_codesign.py --datasets cardio --trials 24 --workers 2
    python flows/printed_codesign.py --uci-dir /path/to/uci --out runs/printed_codesign

Per data set: the search (``codesign.dse.printed_search``: trials in ``OUT/NAME/study.db``, resumable),
then the report (``codesign.dse.printed_report``): the front chosen on training-split accuracy, every
point synthesised and verified at gate level (``OUT/NAME/points/*``), test accuracy, the sensor
interface cost of every point, ``front.json`` and ``front.png`` with the published points.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codesign.backends.printed.retrain import RetrainConfig
from codesign.data import uci_path
from codesign.dse.printed import PrintedSearchConfig, PrintedSpace, make_splits
from codesign.dse.printed_report import Anchor, report
from codesign.dse.printed_search import search
from codesign.errors import CodesignError
from codesign.outputs import write_file

# Published printed ternary networks (Mrazek, Balaskas, Duarte, Vasicek, Tahoori, Zervakis, "Arbitrary
# Precision Printed Ternary Neural Networks with Holistic Evolutionary Approximation", IEEE TCASAI
# 2025; Pareto points of the review version's README, GitHub ehw-fit/arbitrary-input-tnn):
# classifier only (no converters), EGFET cells, Synopsys Design Compiler; accuracy on their test split.
# Per set: the most accurate point, the cheapest within 1 point of it, the cheapest within 5 points.
ANCHORS = {
    "cardio": [Anchor("best (3-bit inputs)", 0.9013, 1.89, 2.08, 3), Anchor("within 1 point", 0.8997, 1.84, 1.99, 3),
               Anchor("within 5 points", 0.8542, 0.135, 0.141, 1)],
    "wine-red": [Anchor("best (3-bit inputs)", 0.5896, 0.203, 0.215, 3), Anchor("within 1 point", 0.5854, 0.142, 0.156, 3),
                 Anchor("within 5 points", 0.5729, 0.0074, 0.0067, 1)],
    "wine-white": [Anchor("best (3-bit inputs)", 0.5401, 3.53, 3.84, 3), Anchor("within 1 point", 0.5333, 0.821, 0.923, 3)],
    "pendigits": [Anchor("best (4-bit inputs)", 0.9404, 48.2, 47.8, 4), Anchor("within 1 point", 0.9355, 45.2, 44.9, 3),
                  Anchor("within 5 points", 0.8928, 27.6, 28.8, 2)],
}
SEARCH_SAMPLES = 1116  # Cardio's search part: --epochs is the epoch count at this size
DEFAULT_TRIALS = 40
# per-set overrides of DEFAULT_TRIALS (none: Pendigits' 40 trials take about 12 min on 2 cores, its trials cost
# about 4x the others': ten classes, 5.8k search samples, larger networks)
TRIALS: dict[str, int] = {}
MIN_EPOCHS = 30  # ten-class Pendigits trained 12 epochs reached 0.85 validation accuracy at best, 30 epochs 0.96
ANCHOR_CARD = "egfet-0.6v"  # the published points are priced with the 0.6 V EGFET library: power like for like

# the search space per set: small hidden layers suffice for the 3-class and wine sets; ten pen
# digits need more threshold gates
SPACES = {
    "pendigits": PrintedSpace(hidden=(8, 12, 16, 24, 32), input_bits=(2, 3, 4), weights=("ternary", "int3"),
                              activation=("sign", "relu2")),
}
DEFAULT_SPACE = PrintedSpace(hidden=(1, 2, 3, 4, 6, 8), input_bits=(1, 2, 3, 4), weights=("ternary", "binary", "int3"),
                             activation=("sign", "relu2"))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(ANCHORS), help="UCI file stems")
    parser.add_argument("--uci-dir", help="directory of the UCI CSV files")
    parser.add_argument("--card", default="egfet-1v")
    parser.add_argument("--trials", type=int, default=None,
                        help=f"architectures trained per data set (default {DEFAULT_TRIALS})")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--generations", type=int, default=60, help="hardware-aware retraining generations per trial")
    parser.add_argument("--points", type=int, default=24, help="front points synthesised per data set")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--abc-script", default="area", choices=("area", "fast"),
                        help="ABC mapping of the reported points (area: as the exact baselines and exports)")
    parser.add_argument("--time-budget", type=float, default=None, help="seconds after which no new trial starts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/printed_codesign"))
    return parser.parse_args(argv)


def run_dataset(name: str, args: argparse.Namespace, console: Console) -> dict:
    path = uci_path(name, args.uci_dir)
    splits = make_splits(str(path), seed=args.seed)
    # the same number of training steps per trial on every set: larger sets train fewer epochs
    epochs = max(MIN_EPOCHS, min(args.epochs, round(args.epochs * SEARCH_SAMPLES / len(splits.y_search))))
    trials = args.trials or TRIALS.get(name, DEFAULT_TRIALS)
    config = PrintedSearchConfig(dataset=str(path), space=SPACES.get(name, DEFAULT_SPACE), trials=trials,
                                 epochs=epochs, seed=args.seed, card=args.card, time_budget_s=args.time_budget,
                                 retrain=RetrainConfig(generations=args.generations))
    folder = args.out / name
    earlier = folder / "front.json"  # a resumed search: its time so far counts too
    previous = json.loads(earlier.read_text()) if earlier.is_file() else {}
    before = previous.get("search_runs_seconds", [previous["search_seconds"]] if "search_seconds" in previous else [])
    console.print(f"[bold]{name}[/]: {trials} trials on {args.workers} workers ...")
    started = time.perf_counter()
    pool = search(config, folder, workers=args.workers)
    searched = time.perf_counter() - started
    result = report(pool, splits, folder, card_name=args.card, points=args.points, anchors=ANCHORS.get(name),
                    power_cards=(ANCHOR_CARD,) if args.card != ANCHOR_CARD else (), abc_script=args.abc_script)
    result.update(search_seconds=sum(before) + searched, search_runs_seconds=[*before, searched],
                  report_seconds=time.perf_counter() - started - searched,
                  trials=trials, workers=args.workers, epochs=epochs,
                  trial_cpu_seconds=_trial_cpu(folder))
    write_file(folder / "front.json", json.dumps(result, indent=2, sort_keys=True) + "\n", replace="own")
    return result


def _trial_cpu(folder: Path) -> dict[str, float]:
    """CPU seconds of all trials by stage (training, retraining, converter levels)."""
    total: dict[str, float] = {}
    for path in (folder / "trials").glob("*/candidates.json"):
        for stage, seconds in json.loads(path.read_text()).get("cpu_seconds", {}).items():
            total[stage] = total.get(stage, 0.0) + seconds
    return total


def table(results: dict[str, dict]) -> Table:
    out = Table(title="Printed co-design front vs published ternary networks (classifier area; same accuracy = "
                      "test accuracy at most 0.5 point below)")
    for column in ("data set", "published point", "pub. acc", "pub. cm²", "codesign acc", "codesign cm²", "area ratio",
                   "+ converters cm²"):
        out.add_column(column, justify="right")
    for name, result in results.items():
        for row in result.get("anchors", []):
            point = next((p for p in result["points"] if p["name"] == row.get("point")), {})
            out.add_row(name, row["anchor"], f"{row['anchor_accuracy']:.4f}", f"{row['anchor_area_cm2']:g}",
                        f"{row['test_accuracy']:.4f}" if row["reached"] else f"max {row['best_test_accuracy'] or 0:.4f}",
                        f"{row['area_cm2']:.3f}" if row["reached"] else "-",
                        f"{row['area_ratio']:.2f}x" if row["reached"] else "not reached",
                        f"{point['system_area_cm2']:.3f}" if "system_area_cm2" in point else "-")
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    console = Console()
    results = {}
    try:
        for name in args.datasets:
            results[name] = run_dataset(name, args, console)
    except CodesignError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    summary = args.out / "results.json"  # other data sets' results from earlier runs are kept
    results = {**(json.loads(summary.read_text()) if summary.is_file() else {}), **results}
    write_file(summary, json.dumps(results, indent=2, sort_keys=True) + "\n", replace="own")
    console.print(table(results))
    console.print(f"results: {args.out / 'results.json'}; fronts: {args.out}/*/front.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
