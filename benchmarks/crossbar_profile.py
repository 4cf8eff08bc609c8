"""Where the crossbar Monte-Carlo time goes: torch profiler ranges of one benchmark run.

Ranges (codesign/backends/crossbar): ``crossbar.program`` (programming every instance: stuck
cells, programming noise, fixed-point grid, layout), ``crossbar.matmul`` (column sums),
``crossbar.read_noise_adc`` (the fused read: Philox normals, scaling, ADC rounding and
clipping, shift-and-add), ``crossbar.noise_std`` (per-read noise std from the drive energy),
``crossbar.requantize``; the rest is the engine (blocks, predictions).  A second run without
read noise separates noise generation from the ADC pass.

    python benchmarks/crossbar_profile.py --shape 784-64-64-64-10 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.crossbar_throughput import CARD, NOISE, build_graph  # noqa: E402
from codesign.backends.crossbar import simulate  # noqa: E402

RANGES = ("crossbar.program", "crossbar.matmul", "crossbar.read_noise_adc", "crossbar.noise_std",
          "crossbar.requantize")


def profile(graph, x, instances: int, noise: dict) -> dict:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    simulate(graph, CARD, x[:1024], instances=2, noise=noise, ir_drop=False, keep_logits=False)  # warm-up
    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        simulate(graph, CARD, x, instances=instances, noise=noise, ir_drop=False, keep_logits=False)
    total = time.perf_counter() - start
    seconds = {name: 0.0 for name in RANGES}
    for event in prof.key_averages():
        if event.key in seconds:
            seconds[event.key] = event.cpu_time_total / 1e6
    seconds["other (engine, predictions, profiler)"] = total - sum(seconds.values())
    return {"total_s": total, "seconds": seconds, "share": {k: v / total for k, v in seconds.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="784-64-64-64-10")
    parser.add_argument("--instances", type=int, default=32)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "crossbar_profile.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        graph = build_graph(args.shape, Path(folder))
    x = np.random.default_rng(0).uniform(0.0, 1.0, (args.samples, graph.in_features))
    report = {"shape": args.shape, "instances": args.instances, "samples": args.samples, "threads": args.threads,
              "fresh_read_noise": profile(graph, x, args.instances, NOISE),
              "no_read_noise": profile(graph, x, args.instances, {"programming": NOISE["programming"]})}
    for name in ("fresh_read_noise", "no_read_noise"):
        part = report[name]
        print(f"{name}: {part['total_s']:.2f} s")
        for key, value in part["seconds"].items():
            print(f"  {key:40s} {value:7.2f} s  {100 * part['share'][key]:5.1f} %")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
