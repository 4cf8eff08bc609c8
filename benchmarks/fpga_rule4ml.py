"""rule4ml next to codesign's held-out estimates, on exactly the same published points.

rule4ml (an ML predictor of hls4ml LUT/FF/DSP/latency, trained on its own hls4ml 1.1.0
syntheses) is out of sample on every point here; so is codesign's estimate used here: the
prediction of each point by constants fitted without its architecture (the "held out by
architecture" column of benchmarks/results/fpga_calibration.json, written by
benchmarks/fpga_calibration.py). Both sides predict the same reported totals (softmax head
removed). rule4ml takes one uniform ap_fixed precision per model and a board it knows, so only
points it can express are compared; the recorded part is mapped to the board with the same die
or, for the Zynq-7000 parts, to the pynq-z2 (its Zynq-7020).

rule4ml pulls TensorFlow and torch, so it runs in its own venv (benchmarks/install_rule4ml.sh):

    bash benchmarks/install_rule4ml.sh .venv-rule4ml
    KERAS_BACKEND=torch .venv-rule4ml/bin/python benchmarks/fpga_rule4ml.py

KERAS_BACKEND=torch avoids loading TensorFlow and PyTorch in one process (their bundled LLVMs
abort with "inconsistency in registered CommandLine options").
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("KERAS_BACKEND", "torch")
RESULTS = ROOT / "benchmarks" / "results" / "fpga_calibration.json"
DATA = ROOT / "benchmarks" / "data" / "hls4ml_synthesis_points.json"
OUT = ROOT / "benchmarks" / "results" / "fpga_rule4ml.json"
METRICS = ("lut", "ff", "dsp", "latency_cycles")
RULE4ML_KEYS = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "latency_cycles": "CYCLES"}
PART_TO_BOARD = {"xcu250": "alveo-u250", "xcvu13p": "alveo-u250", "xcu200": "alveo-u200", "xczu9eg": "zcu102",
                 "xc7z020": "pynq-z2", "xc7z007s": "pynq-z2"}


def expressible(point: dict) -> tuple[str | None, str | None]:
    """(board, precision) when rule4ml can take the point, else (None, reason)."""
    model, config = point["model"], point["config"]
    board = next((b for prefix, b in PART_TO_BOARD.items() if str(config.get("part", "")).startswith(prefix)), None)
    if board is None:
        return None, f"part {config.get('part')} has no rule4ml board"
    stats = model.get("layer_stats")
    if stats:
        widths = {s["weight_bits"] for s in stats}
        bits = widths.pop() if len(widths) == 1 else None
    else:
        bits = model.get("weight_bits")
        bits = bits if not isinstance(bits, list) else None
    if bits is None or len(model["layers"]) < 2:
        return None, "mixed precision or a single layer"
    return board, f"ap_fixed<{bits}, {int(model.get('weight_int_bits') or 2)}>"


def main() -> int:
    if not RESULTS.is_file():
        print(f"{RESULTS} is missing: run `make bench-fpga` first")
        return 2
    try:
        import keras
        from rule4ml.models.wrappers import MultiModelWrapper
    except Exception as exc:  # noqa: BLE001 - any import failure means: not available here
        print(f"rule4ml is not importable here ({type(exc).__name__}: {exc}); run it in its venv (see the docstring)")
        return 2
    rows = {row["name"]: row for row in json.loads(RESULTS.read_text())["rows"]}
    points = {p["name"]: p for p in json.loads(DATA.read_text())["points"]}
    estimator = MultiModelWrapper()
    estimator.load_default_models()
    compared, skipped = [], {}
    for name, row in rows.items():
        point = points[name]
        held = row.get("held_out_architecture")
        board, precision = expressible(point)
        if board is None or held is None:
            skipped[name] = precision or "no held-out estimate"
            continue
        layers = point["model"]["layers"]
        inputs = keras.layers.Input(shape=(layers[0][0],))
        x = inputs
        for _fan_in, fan_out in layers[:-1]:
            x = keras.layers.Dense(fan_out, activation="relu")(x)
        x = keras.layers.Dense(layers[-1][1])(x)
        net = keras.Model(inputs, x, name="mlp")
        net.build((None, layers[0][0]))  # rule4ml reads the build shape
        config = point["config"]
        hls_config = {"model": {"precision": precision, "reuse_factor": int(config.get("reuse_factor") or 1),
                                "strategy": config.get("strategy") or "Latency"}, "board": board}
        try:
            frame = estimator.predict(net, hls_configs=[hls_config], hls4ml_versions=["1.1.0"])
        except Exception as exc:  # noqa: BLE001
            skipped[name] = f"rule4ml refused: {exc}"
            continue
        theirs = {m: float(frame[RULE4ML_KEYS[m]].mean()) for m in METRICS}
        compared.append({"name": name, "board": board, "measured": row["measured"],
                         "multiplier_impl": config.get("multiplier_impl") or "auto",
                         "codesign_held_out": held["estimate"], "rule4ml": theirs})

    def errors(who: str, auto_only: bool = False) -> dict:
        out = {}
        for m in METRICS:
            values = [abs(c[who][m] - c["measured"][m]) / c["measured"][m] for c in compared
                      if c["measured"].get(m) and (not auto_only or c["multiplier_impl"] == "auto")]
            out[m] = {"median": statistics.median(values) if values else None, "points": len(values)}
        return out

    # rule4ml has no notion of multipliers forced to DSPs or fabric: the auto-only rows compare
    # on designs built the way rule4ml's training data were
    summary = {"codesign_held_out_architecture": errors("codesign_held_out"), "rule4ml": errors("rule4ml"),
               "codesign_held_out_architecture (auto multipliers only)": errors("codesign_held_out", True),
               "rule4ml (auto multipliers only)": errors("rule4ml", True)}
    OUT.write_text(json.dumps({"compared": compared, "summary": summary, "skipped": skipped}, indent=1,
                              sort_keys=True) + "\n")
    for who, values in summary.items():
        print(f"{who:56s} " + "  ".join(f"{m} {v['median']:.0%} (n={v['points']})" if v["median"] is not None
                                         else f"{m} -" for m, v in values.items()))
    print(f"{len(compared)} points compared, {len(skipped)} not expressible; wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
