"""``codesign simulate MODEL.onnx --data D --instances N``: the accuracy of N simulated chip
instances of a crossbar design, in this process or split over a Ray cluster (``--ray-address``).

Both give the same numbers bit for bit (``codesign.dse.distributed_montecarlo``), and the same
as the ``montecarlo.json`` that ``codesign export --target crossbar --data D`` writes for the same
card, data, instances and seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from codesign.errors import CodesignError
from codesign.outputs import check_file_output, write_file

MAX_INSTANCES = 1_000_000  # the crossbar backend's limit for its Monte-Carlo option


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= MAX_INSTANCES:
        raise argparse.ArgumentTypeError(f"{value} is not in 1..{MAX_INSTANCES}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} is not in 0..{2**32 - 1}")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("model", help="QONNX .onnx file")
    parser.add_argument("--card", help="crossbar card name (`codesign cards --family crossbar`) or .toml path "
                        "(default: the crossbar target's default card)")
    parser.add_argument("--data", required=True, help="labelled data: a CSV (label last), uci:NAME or a "
                        "scikit-learn set name; its test split is simulated")
    parser.add_argument("--instances", type=_count, required=True, metavar="N", help="chip instances to simulate")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the data split and of the chip instances "
                        "(default 0)")
    parser.add_argument("--ray-address", metavar="ADDR", help="split the instances over a Ray cluster: 'auto', "
                        "HEAD_IP:6379, ray://HEAD_IP:10001 or 'local' (same result as without)")
    parser.add_argument("--parts", type=_count, metavar="K", help="with --ray-address: contiguous instance ranges, "
                        "one Ray task each (default: about 4 per worker, at least 16 instances each)")
    parser.add_argument("--workers", type=_count, metavar="W", help="with --ray-address: Ray tasks running at "
                        "once (default: as many as the cluster's CPUs)")
    parser.add_argument("--out", type=Path, metavar="FILE.json", help="also write the result as JSON here (a new "
                        "file, written whole or not at all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from codesign.backends import get_backend
    from codesign.cards import load_card
    from codesign.data import load_dataset, require_fits
    from codesign.ir import load

    if args.ray_address is None and (args.parts or args.workers):
        raise CodesignError("--parts and --workers split the run over Ray", hint="add --ray-address, or drop them")
    if args.parts and args.parts > args.instances:
        raise CodesignError(f"--parts {args.parts} is more than --instances {args.instances}",
                            hint="use at most one range per instance")
    if args.out is not None:
        check_file_output(args.out)  # refused before any work: nothing a user owns is replaced
    if args.ray_address is not None:
        from codesign.dse.raycluster import import_ray

        import_ray()
    card = load_card(args.card or get_backend("crossbar").default_card)
    if card.family != "crossbar":
        raise CodesignError(f"card {card.name!r} is a {card.family} card; simulate needs a crossbar card",
                            hint="see `codesign cards --family crossbar`")
    graph = load(args.model)
    data = load_dataset(args.data, seed=args.seed)
    require_fits(data, graph)
    progress = not args.no_progress and sys.stderr.isatty()
    started = time.perf_counter()
    if args.ray_address is None:
        from codesign.backends.crossbar.simulator import simulate

        result = simulate(graph, card, data.x_test, data.y_test, instances=args.instances, seed=args.seed,
                          keep_logits=False, progress=progress)
    else:
        from codesign.dse.distributed_montecarlo import simulate

        result = simulate(graph, card, data.x_test, data.y_test, instances=args.instances, seed=args.seed,
                          ray_address=args.ray_address, parts=args.parts, workers=args.workers,
                          keep_logits=False, progress=progress)
    wall = time.perf_counter() - started
    record = _record(args, graph, card, data, result, wall)
    print(f"{result.instances} chip instances of {graph.name} on {card.name}, {data.name} test split "
          f"({result.samples} inputs), seed {args.seed}: mean accuracy {result.mean:.4f}, std {result.std:.4f}, "
          f"worst {result.worst:.4f}")
    where = "in this process" if args.ray_address is None else f"on Ray at {args.ray_address}"
    print(f"  {wall:.1f} s {where} ({result.seconds:.1f} s of simulation, "
          f"{result.instances / wall:.3g} instances/s)")
    if args.out is not None:
        write_file(args.out, json.dumps(record, indent=2, sort_keys=True) + "\n")  # whole, never over a file
        print(f"wrote {args.out}")
    return 0


def _record(args, graph, card, data, result, wall: float) -> dict:
    summary = result.to_dict()
    compute = {key: summary.pop(key) for key in ("seconds", "inferences_per_s")}
    return {"model": graph.name, "model_file": str(args.model), "card": card.name, "card_hash": card.content_hash,
            "data": data.name, "split": "test", **summary,
            "run": {"ray_address": args.ray_address, "parts": args.parts, "workers": args.workers,
                    "wall_s": wall, "instances_per_s": result.instances / wall, "simulation_s": compute["seconds"],
                    "simulation_inferences_per_s": compute["inferences_per_s"]}}
