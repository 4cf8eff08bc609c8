"""Time of ``codesign estimate --target fpga`` per model, ONNX loading excluded.

The estimate runs through the public API (``codesign.load`` once, then the backend's
``estimate``) on the reference models of tests/baselines and on a FINN-TFC-sized
784-64-64-64-10 MLP made here; each is timed 30 times: median, min and max.

    python benchmarks/fpga_estimate_timing.py      # writes benchmarks/results/fpga_estimate_timing.json
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.backends import backend_for  # noqa: E402
from codesign.cards import load_card  # noqa: E402
from codesign.ir.loader import load  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "fpga_estimate_timing.json"
REPEATS = 30
BUDGET_S = 0.050


def tfc_sized(path: Path) -> Path:
    """A 784-64-64-64-10 w2a2 MLP in QONNX (Quant nodes on weights and activations)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    sizes = (784, 64, 64, 64, 10)
    nodes, inits = [], []

    def quant(name: str, source: str, bits: int, signed: int) -> str:
        for suffix, value in (("s", 0.25), ("z", 0.0), ("b", float(bits))):
            inits.append(numpy_helper.from_array(np.array(value, dtype=np.float32), f"{name}_{suffix}"))
        nodes.append(helper.make_node("Quant", [source, f"{name}_s", f"{name}_z", f"{name}_b"], [name],
                                      domain="qonnx.custom_op.general", signed=signed, narrow=0,
                                      rounding_mode="ROUND"))
        return name

    x = quant("q_in", "x", 2, 1)
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.normal(0, 1, (fan_in, fan_out)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        wq = quant(f"wq{i}", f"w{i}", 2, 1)
        nodes.append(helper.make_node("MatMul", [x, wq], [f"mm{i}"]))
        x = f"mm{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"relu{i}"]))
            x = quant(f"aq{i}", f"relu{i}", 2, 0)
    graph = helper.make_graph(nodes, "tfc_sized", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 784])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("qonnx.custom_op.general", 1)])
    onnx.save(model, path)
    return path


def main() -> int:
    card = load_card("alveo-u250")
    backend = backend_for("fpga", card)
    with tempfile.TemporaryDirectory() as tmp:
        models = sorted((ROOT / "tests" / "baselines" / "models").glob("*.onnx")) + [tfc_sized(Path(tmp) / "tfc.onnx")]
        rows = []
        for path in models:
            graph = load(path)
            backend.estimate(graph, card)  # first call: imports and caches outside the timing
            times = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                backend.estimate(graph, card)
                times.append(time.perf_counter() - start)
            rows.append({"model": path.stem, "parameters": sum(layer.parameters for layer in graph.layers),
                         "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)})
            print(f"{path.stem:12s} {rows[-1]['parameters']:7d} parameters: median {rows[-1]['median_s'] * 1e3:.1f} ms "
                  f"(min {rows[-1]['min_s'] * 1e3:.1f}, max {rows[-1]['max_s'] * 1e3:.1f}) over {REPEATS} runs")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"budget_s": BUDGET_S, "repeats": REPEATS, "rows": rows,
                               "within_budget": all(r["median_s"] < BUDGET_S for r in rows)}, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
