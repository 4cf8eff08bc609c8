"""Crossbar simulator throughput, side by side with IBM aihwkit (C++ and torch tiles) and float torch.

The same work on every side: an MLP (16-64-32-32-5 and 784-64-64-64-10; 4-bit weights, 7-bit
inputs and activations), the same 10 000 inputs, programming noise (sigma 5.8 % of the
conductance range per cell) and fresh read noise (1 % per cell, for every read of every column
of every inference of every instance), a 7-bit DAC and an 8-bit ADC whose ranges and steps are
set per layer to the same values on both sides (aihwkit_side.py), 196-row tiles (784 inputs on
four full tiles, as aihwkit's balanced split places them).  Programming of every instance is
timed on both sides.  Each row is a warm-up, then the median of ``--repeats`` runs with min
and max, for 1 and 2 threads.  Float torch runs the same weights without noise or converters
(the speed of light).  Sanity rows: with noise off every simulator gives the integer
reference's predictions; with the same programming noise the mean agreement over instances
agrees within a stated tolerance.  Writes benchmarks/results/crossbar_throughput.json.

    make bench-crossbar                               # installs aihwkit (source build) and runs this
    python benchmarks/crossbar_throughput.py --repeats 3 --aihwkit-instances 5   # quicker
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.backends.crossbar import simulate  # noqa: E402
from codesign.backends.crossbar.converters import digit_bound  # noqa: E402
from codesign.backends.crossbar.mapping import map_graph  # noqa: E402
from codesign.cards import load_card  # noqa: E402
from codesign.ir.loader import load  # noqa: E402
from codesign.ir.reference import execute  # noqa: E402
from codesign.noise import kernels  # noqa: E402

CARD = ROOT / "benchmarks" / "cards" / "rram-40nm-multilevel.toml"
SHAPES = ("16-64-32-32-5", "784-64-64-64-10")
PROGRAMMING_SIGMA, READ_SIGMA = 0.058, 0.01
NOISE = {"programming": {"sigma": PROGRAMMING_SIGMA}, "read": {"sigma": READ_SIGMA}}


def build_graph(shape: str, folder: Path):
    """A Brevitas MLP (4-bit weights, 7-bit activations) exported to QONNX and loaded."""
    from codesign.quant.export import export_qonnx
    from codesign.quant.mlp import MLPConfig, Topology, build_mlp

    sizes = [int(s) for s in shape.split("-")]
    config = MLPConfig(hidden=tuple(sizes[1:-1]), weight_bits=4, act_bits=7, input_bits=7, per_channel=False,
                       batchnorm=False)
    model = build_mlp(Topology(sizes[0], sizes[-1], config), seed=0)
    return load(export_qonnx(model, folder / f"mlp_{shape}.onnx", in_features=sizes[0]))


def float_layers(graph) -> list[dict]:
    """The graph's weights in real units, for aihwkit and float torch."""
    layers = []
    for index, layer in enumerate(graph.layers):
        weight = (layer.weight * layer.weight_scale[:, None]).astype(np.float32)
        bias = None if layer.bias is None else np.asarray(layer.bias, dtype=np.float32)
        layers.append({"weight": weight, "bias": bias, "activation": "relu" if index < len(graph.layers) - 1 else None})
    return layers


def _splits(size: int, most: int) -> list[tuple[int, int]]:
    """aihwkit's balanced split of ``size`` rows or columns into tiles of at most ``most``."""
    count = -(-size // most)
    base, extra = divmod(size, count)
    bounds, start = [], 0
    for i in range(count):
        stop = start + base + (i < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def layer_ios(graph, card, x: np.ndarray, *, noisy: bool, converters: bool) -> tuple[list, list[str]]:
    """aihwkit's per-layer settings equal to codesign's mapping (see aihwkit_side.py); notes on any mismatch."""
    from benchmarks.aihwkit_side import LayerIO

    mapping = map_graph(graph, card)
    codes = execute(graph, x).codes
    ios, notes = [], []
    for index, (layer, lmap) in enumerate(zip(graph.layers, mapping.layers, strict=True)):
        spec = layer.input_quant
        s_in = float(np.asarray(spec.scale).reshape(-1)[0])
        inp_bound = spec.code_max * s_in
        tiles = [(r, c) for r in _splits(lmap.in_features, lmap.rows)
                 for c in _splits(lmap.out_features, lmap.cols // lmap.columns_per_weight)]
        peaks = {int(np.abs(layer.weight[c0:c1, r0:r1]).max()) for (r0, r1), (c0, c1) in tiles}
        peak = max(peaks)
        if peaks != {lmap.cell_code_max}:
            notes.append(f"layer {index}: largest |weight code| per aihwkit tile {sorted(peaks)} != "
                         f"codesign's full scale {lmap.cell_code_max}; ranges scaled with {peak}")
        rows = [r1 - r0 for r0, r1 in lmap.row_ranges()]
        if rows != [r1 - r0 for r0, r1 in _splits(lmap.in_features, lmap.rows)]:
            notes.append(f"layer {index}: codesign row tiles {rows} differ from aihwkit's balanced split")
        full_scale = digit_bound(lmap) * lmap.cell_code_max * rows[0]  # codesign's ADC range, code units
        per_weight = READ_SIGMA * lmap.level_max / lmap.level_gain * math.sqrt(2) / peak  # normalised units
        x_in = codes[index] * s_in
        norms = [np.linalg.norm(x_in[:, r0:r1], axis=1) for r0, r1 in lmap.row_ranges()]
        rms_norm = float(np.sqrt(np.mean(np.concatenate(norms) ** 2)))
        ios.append(LayerIO(
            inp_bound=inp_bound, inp_res=1.0 / (2 * spec.code_max),
            out_bound=full_scale * s_in / peak if converters else -1.0,
            out_res=1.0 / (2 ** int(card.adc.bits.value) - 1) if converters else -1.0,  # step 2 FS / (2**b - 1)
            w_noise=per_weight if noisy else 0.0, out_noise=per_weight * rms_norm if noisy else 0.0,
            prog_sigma=PROGRAMMING_SIGMA * lmap.level_max / (lmap.level_gain * peak) if noisy else 0.0))
    return ios, notes


def float_torch(layers: list[dict], x: np.ndarray, instances: int) -> float:
    """Seconds for ``instances`` passes of a plain float MLP over x (no noise, no quantisation)."""
    modules: list[torch.nn.Module] = []
    for spec in layers:
        linear = torch.nn.Linear(spec["weight"].shape[1], spec["weight"].shape[0], bias=spec["bias"] is not None)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(spec["weight"]))
            if spec["bias"] is not None:
                linear.bias.copy_(torch.as_tensor(spec["bias"]))
        modules.append(linear)
        if spec["activation"] == "relu":
            modules.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*modules).eval()
    inputs = torch.as_tensor(x, dtype=torch.float32)
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(instances):
            model(inputs)
    return time.perf_counter() - start


def ours(graph, x: np.ndarray, instances: int, **options):
    options = {"noise": NOISE, "ir_drop": False, "keep_logits": False, **options}
    start = time.perf_counter()
    result = simulate(graph, CARD, x, instances=instances, seed=0, **options)
    return time.perf_counter() - start, result


def timed(run, repeats: int) -> dict:
    """Warm-up run, then ``repeats`` runs: seconds of each, median, min, max."""
    run(warm_up=True)
    runs = [run(warm_up=False) for _ in range(repeats)]
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs}


def row(shape, threads, side, config, source, fresh, instances, samples, seconds, **extra) -> dict:
    work = instances * samples
    return {"shape": shape, "threads": threads, "side": side, "config": config, "read_noise_source": source,
            "fresh_read_noise": fresh, "instances": instances, "samples": samples, "seconds": seconds,
            "inferences_per_s": {"median": work / seconds["median"], "min": work / seconds["max"],
                                 "max": work / seconds["min"]}, **extra}


def throughput_rows(shape, graph, card, x, quantised_x, threads, args, aihwkit) -> list[dict]:
    rows = []
    work_x = x[: args.samples]
    instances = args.instances

    def run_ours(warm_up: bool) -> float:
        return ours(graph, work_x[:2048] if warm_up else work_x, 2 if warm_up else instances)[0]

    rows.append(row(shape, threads, "codesign", "simulate(), compiled read kernel" if kernels.load() else
                    "simulate(), torch read path", "philox", True, instances, len(work_x), timed(run_ours, args.repeats)))
    layers = float_layers(graph)

    def run_float(warm_up: bool) -> float:
        return float_torch(layers, quantised_x[: len(work_x)], 1 if warm_up else instances)

    rows.append(row(shape, threads, "float torch", "nn.Sequential of Linear+ReLU, float32, no noise", "none", False,
                    instances, len(work_x), timed(run_float, args.repeats)))
    if aihwkit is not None:
        ios, notes = layer_ios(graph, card, work_x, noisy=True, converters=True)
        for tile, count in (("cpp", args.aihwkit_instances), ("torch", args.aihwkit_torch_instances)):
            def run_aihwkit(warm_up: bool, tile=tile, count=count) -> float:
                data = quantised_x[:2048] if warm_up else quantised_x[: len(work_x)]
                return aihwkit(float_layers(graph), data, ios=ios, tile=tile, instances=1 if warm_up else count,
                               tile_rows=int(card.array.rows.value), tile_cols=int(card.array.cols.value) // 2,
                               seed=0, threads=threads)["seconds"]

            source = "aihwkit C++ RNG, w_noise * ||x|| per read" if tile == "cpp" else \
                "torch.randn, out_noise (fixed std) per read"
            config = "InferenceRPUConfig (C++ tile)" if tile == "cpp" else "TorchInferenceRPUConfig (torch tile)"
            rows.append(row(shape, threads, f"aihwkit {tile}", config, source, True, count, len(work_x),
                            timed(run_aihwkit, args.repeats), notes=notes, layer_io=[vars(io) for io in ios]))
    return rows


def sanity_rows(shape, graph, card, x, quantised_x, aihwkit, args) -> list[dict]:
    """Noise off: agreement with the integer reference; programming noise: mean agreement over instances."""
    samples = args.sanity_samples
    x, quantised_x = x[:samples], quantised_x[:samples]
    reference = execute(graph, x).predictions
    result = []
    ideal = simulate(graph, CARD, x, instances=1, noise="ideal", ideal_converters=True, ir_drop=False)
    agreements = {"codesign": float((ideal.predictions[0] == reference).mean())}
    count = args.sanity_instances
    prog = {"programming": {"sigma": PROGRAMMING_SIGMA}}
    noisy = simulate(graph, CARD, x, reference, instances=count, seed=0, noise=prog, ir_drop=False, keep_logits=False)
    means = {"codesign": (noisy.mean, noisy.std, count)}
    if aihwkit is not None:
        ideal_ios, _ = layer_ios(graph, card, x, noisy=False, converters=False)
        prog_ios, _ = layer_ios(graph, card, x, noisy=True, converters=True)
        prog_ios = [type(io)(**{**vars(io), "w_noise": 0.0, "out_noise": 0.0}) for io in prog_ios]
        for tile in ("cpp", "torch"):
            common = {"tile": tile, "tile_rows": int(card.array.rows.value),
                      "tile_cols": int(card.array.cols.value) // 2, "seed": 0}
            out = aihwkit(float_layers(graph), quantised_x, ios=ideal_ios, instances=1, **common)
            agreements[f"aihwkit {tile}"] = float((out["logits"].argmax(-1) == reference).mean())
            out = aihwkit(float_layers(graph), quantised_x, ios=prog_ios, instances=count, keep="predictions", **common)
            accuracies = (out["predictions"] == reference[None]).mean(axis=1)
            means[f"aihwkit {tile}"] = (float(accuracies.mean()), float(accuracies.std()), count)
    result.append({"shape": shape, "check": "noise off, converters ideal: agreement with the integer reference",
                   "samples": samples, "agreement": agreements})
    ours_mean, ours_std, n = means["codesign"]
    for side, (mean, std, m) in means.items():
        if side == "codesign":
            continue
        tolerance = max(0.01, 3 * math.sqrt(ours_std**2 / n + std**2 / m))
        result.append({"shape": shape, "check": f"programming noise {PROGRAMMING_SIGMA}, ADC on, no read noise: mean "
                       "agreement with the integer reference over instances, codesign vs " + side,
                       "samples": samples, "instances": n, "codesign": {"mean": ours_mean, "std": ours_std},
                       side: {"mean": mean, "std": std}, "difference": mean - ours_mean, "tolerance": tolerance,
                       "within_tolerance": abs(mean - ours_mean) <= tolerance})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--aihwkit-instances", type=int, default=20,
                        help="chip instances per run of aihwkit's C++ tile (its throughput is per instance)")
    parser.add_argument("--aihwkit-torch-instances", type=int, default=20)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES))
    parser.add_argument("--sanity-samples", type=int, default=2000)
    parser.add_argument("--sanity-instances", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "crossbar_throughput.json")
    parser.add_argument("--skip-aihwkit", action="store_true")
    args = parser.parse_args(argv)
    card = load_card(CARD)
    aihwkit = None
    if not args.skip_aihwkit:
        try:
            import aihwkit as _aihwkit  # noqa: F401

            from benchmarks.aihwkit_side import run_aihwkit as aihwkit
        except ImportError as exc:
            print(f"aihwkit not available ({exc}); run `make bench-crossbar` to install it", file=sys.stderr)
    from rich.console import Console
    from rich.table import Table

    started = {"load_average": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    rows, sanity, summary = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for shape in args.shapes:
            graph = build_graph(shape, Path(folder))
            x = np.random.default_rng(0).uniform(0.0, 1.0, (args.samples, graph.in_features))
            quantised_x = graph.input_quant.dequantize(graph.input_quant.quantize(x)).astype(np.float32)
            for threads in args.threads:
                torch.set_num_threads(threads)
                shape_rows = throughput_rows(shape, graph, card, x, quantised_x, threads, args, aihwkit)
                rows.extend(shape_rows)
                summary.append(_summary(shape, threads, shape_rows))
            torch.set_num_threads(max(args.threads))
            sanity.extend(sanity_rows(shape, graph, card, x, quantised_x, aihwkit, args))
    table = Table(title="crossbar Monte-Carlo throughput (instance-inferences / s, median of runs; fresh read noise)")
    for column in ("shape", "threads", "codesign", "aihwkit C++", "aihwkit torch", "float torch", "vs faster aihwkit",
                   "float / codesign"):
        table.add_column(column, justify="right")
    for item in summary:
        table.add_row(item["shape"], str(item["threads"]), *(f"{item.get(k, float('nan')):,.0f}" for k in (
            "codesign", "aihwkit cpp", "aihwkit torch", "float torch")),
            f"{item.get('speedup_vs_faster_aihwkit', float('nan')):.1f}x", f"{item['float_torch_over_codesign']:.2f}x")
    Console().print(table)
    for item in sanity:
        print(json.dumps(item, sort_keys=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"card": card.name, "programming_sigma": PROGRAMMING_SIGMA, "read_sigma": READ_SIGMA,
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "torch": torch.__version__, "compiled_read_kernel": kernels.load() is not None,
                          "load_average_start": started["load_average"], "load_average_end": os.getloadavg()},
              "started": started["time"], "repeats": args.repeats, "rows": rows, "summary": summary, "sanity": sanity}
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


def _summary(shape: str, threads: int, rows: list[dict]) -> dict:
    speeds = {r["side"]: r["inferences_per_s"]["median"] for r in rows}
    item = {"shape": shape, "threads": threads, **speeds,
            "float_torch_over_codesign": speeds["float torch"] / speeds["codesign"]}
    peers = {side: v for side, v in speeds.items() if side.startswith("aihwkit")}
    if peers:
        faster = max(peers, key=peers.get)
        item.update(reference=faster, speedup_vs_faster_aihwkit=speeds["codesign"] / peers[faster],
                    target_speedup=10 if threads >= 2 else 5)
        item["speedup_target_met"] = item["speedup_vs_faster_aihwkit"] >= item["target_speedup"]
    if shape.startswith("784"):
        item["float_target_met"] = item["float_torch_over_codesign"] <= 3
    return item


if __name__ == "__main__":
    raise SystemExit(main())
