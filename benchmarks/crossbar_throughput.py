"""Crossbar simulator throughput, side by side with IBM aihwkit and plain float torch.

Same work for all three: an MLP (16-64-32-32-5 and 784-64-64-64-10; 4-bit weights, 7-bit
inputs and activations), 10 000 inputs x 100 chip instances, programming noise (sigma 5.8 %
of the conductance range) and read noise (1 %), a 7-bit DAC and an 8-bit ADC on 256x256
tiles.  Throughput counts instance-inferences per second with the programming of every
instance included.  Float torch runs the same weights 100 times without any noise.

    make bench-crossbar            # installs aihwkit (source build, ~6 min once) and runs this
    python benchmarks/crossbar_throughput.py --instances 20   # quicker
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

from codesign.backends.crossbar import simulate  # noqa: E402
from codesign.cards import load_card  # noqa: E402
from codesign.ir.loader import load  # noqa: E402
from codesign.ir.reference import execute  # noqa: E402

CARD = ROOT / "benchmarks" / "cards" / "rram-40nm-multilevel.toml"
SHAPES = ("16-64-32-32-5", "784-64-64-64-10")
PROGRAMMING_SIGMA, READ_SIGMA = 0.058, 0.01
DAC_BITS, ADC_BITS, TILE = 7, 8, 256


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
        layers.append({"weight": weight, "bias": bias,
                       "activation": "relu" if index < len(graph.layers) - 1 else None})
    return layers


def float_torch(layers: list[dict], x: np.ndarray, instances: int) -> float:
    """Seconds for ``instances`` passes of a plain float MLP over x (no noise, no quantisation)."""
    modules = []
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
    with torch.no_grad():
        model(inputs)  # warm-up
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(instances):
            model(inputs)
    return time.perf_counter() - start


def ours(graph, x: np.ndarray, instances: int, source: str) -> tuple[float, np.ndarray]:
    noise = {"programming": {"sigma": PROGRAMMING_SIGMA}, "read": {"sigma": READ_SIGMA}}
    start = time.perf_counter()
    result = simulate(graph, CARD, x, instances=instances, seed=0, noise=noise, ir_drop=False,
                      read_noise_source=source, keep_logits=False)
    return time.perf_counter() - start, result.predictions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "crossbar_throughput.json")
    parser.add_argument("--skip-aihwkit", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    card = load_card(CARD)
    assert int(card.array.rows.value) == TILE and int(card.dac.bits.value) == DAC_BITS
    assert int(card.adc.bits.value) == ADC_BITS
    aihwkit = None
    if not args.skip_aihwkit:
        try:
            import importlib

            importlib.import_module("aihwkit")
            from benchmarks.aihwkit_side import run_aihwkit as aihwkit
        except ImportError as exc:
            print(f"aihwkit not available ({exc}); run `make bench-crossbar` to install it", file=sys.stderr)
    from rich.console import Console
    from rich.table import Table

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for shape in args.shapes:
            graph = build_graph(shape, Path(folder))
            rng = np.random.default_rng(0)
            x = rng.uniform(0.0, 1.0, (args.samples, graph.in_features))
            ideal = execute(graph, x).predictions
            work = args.instances * args.samples
            ours(graph, x[:2048], 2, "table")  # warm-up: thread pools, allocator, noise table
            row = {"shape": shape, "instances": args.instances, "samples": args.samples}
            seconds, predictions = ours(graph, x, args.instances, "table")
            row.update(codesign_s=seconds, codesign_inf_per_s=work / seconds,
                       codesign_agreement=float((predictions == ideal[None]).mean()))
            seconds, predictions = ours(graph, x, args.instances, "exact")
            row.update(codesign_exact_noise_s=seconds, codesign_exact_noise_inf_per_s=work / seconds,
                       codesign_exact_noise_agreement=float((predictions == ideal[None]).mean()))
            layers = float_layers(graph)
            quantised_x = graph.input_quant.dequantize(graph.input_quant.quantize(x)).astype(np.float32)
            seconds = float_torch(layers, quantised_x, args.instances)
            row.update(float_torch_s=seconds, float_torch_inf_per_s=work / seconds)
            if aihwkit is not None:
                aihwkit(layers, quantised_x[:2048], instances=1, prog_sigma=PROGRAMMING_SIGMA, read_sigma=READ_SIGMA,
                        dac_bits=DAC_BITS, adc_bits=ADC_BITS, tile_rows=TILE, tile_cols=TILE, seed=0,
                        threads=args.threads)  # warm-up
                measured = aihwkit(layers, quantised_x, instances=args.instances, prog_sigma=PROGRAMMING_SIGMA,
                                   read_sigma=READ_SIGMA, dac_bits=DAC_BITS, adc_bits=ADC_BITS, tile_rows=TILE,
                                   tile_cols=TILE, seed=0, threads=args.threads)
                logits = measured["logits"]
                row.update(aihwkit_s=measured["seconds"], aihwkit_inf_per_s=measured["inferences_per_s"],
                           aihwkit_version=measured["aihwkit_version"],
                           aihwkit_first_instance_agreement=float((logits.argmax(-1) == ideal).mean()))
                row["speedup_vs_aihwkit"] = row["codesign_inf_per_s"] / row["aihwkit_inf_per_s"]
                row["speedup_vs_aihwkit_exact_noise"] = row["codesign_exact_noise_inf_per_s"] / row["aihwkit_inf_per_s"]
            row["slowdown_vs_float_torch"] = row["float_torch_inf_per_s"] / row["codesign_inf_per_s"]
            rows.append(row)
    table = Table(title=f"crossbar simulation throughput ({args.instances} instances x {args.samples} inputs, "
                        f"{args.threads} threads; instance-inferences / s)")
    for column in ("shape", "codesign", "codesign (exact noise)", "aihwkit", "float torch", "vs aihwkit",
                   "float / codesign", "agreement with ideal"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row["shape"], f"{row['codesign_inf_per_s']:,.0f}", f"{row['codesign_exact_noise_inf_per_s']:,.0f}",
                      f"{row.get('aihwkit_inf_per_s', float('nan')):,.0f}", f"{row['float_torch_inf_per_s']:,.0f}",
                      f"{row.get('speedup_vs_aihwkit', float('nan')):.1f}x", f"{row['slowdown_vs_float_torch']:.2f}x",
                      f"{row['codesign_agreement']:.3f}")
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"card": card.name, "programming_sigma": PROGRAMMING_SIGMA,
                                    "read_sigma": READ_SIGMA, "threads": args.threads, "rows": rows},
                                   indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
