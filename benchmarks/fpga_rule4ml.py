"""rule4ml's predictions next to codesign's estimate and the recorded hls4ml synthesis results.

rule4ml (pip package, pulls TensorFlow and PyTorch) predicts LUT/FF/DSP/latency of hls4ml designs
for hls4ml 1.1.0 on pynq-z2 / zcu102 / alveo-u200 / alveo-u250.  It is not a codesign dependency;
run this script in its own environment:

    python3.11 -m venv /tmp/rule4ml-venv && /tmp/rule4ml-venv/bin/pip install rule4ml numpy rich
    KERAS_BACKEND=torch PYTHONPATH=. /tmp/rule4ml-venv/bin/python benchmarks/fpga_rule4ml.py

KERAS_BACKEND=torch avoids loading TensorFlow and PyTorch in one process (their bundled LLVMs
abort with "inconsistency in registered CommandLine options").  Only the in-scope calibration
points that rule4ml can express are compared: dense MLPs with one uniform ap_fixed precision,
on a board it knows (the recorded part mapped to the board with the same device).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("KERAS_BACKEND", "torch")

PART_TO_BOARD = {"xcu250": "alveo-u250", "xcu200": "alveo-u200", "xczu9eg": "zcu102", "xc7z020": "pynq-z2"}


def main() -> int:
    try:
        import keras
        from rule4ml.models.wrappers import MultiModelWrapper
    except Exception as exc:  # noqa: BLE001 - any import failure means: not available here
        print(f"rule4ml is not importable here ({type(exc).__name__}: {exc}); skipped")
        return 0
    import fpga_calibration as calibration

    raw = json.loads(calibration.DATA.read_text())["points"]
    head = calibration.softmax_head(raw)
    estimator = MultiModelWrapper()
    estimator.load_default_models()
    rows = []
    for point in raw:
        if calibration.scope(point) is not None:
            continue
        model, config = point["model"], point["config"]
        board = next((b for prefix, b in PART_TO_BOARD.items() if str(config.get("part", "")).startswith(prefix)), None)
        bits = model.get("weight_bits")
        if board is None or isinstance(bits, list) or bits != model.get("act_bits") or len(model["layers"]) < 2:
            continue  # rule4ml takes one precision per model and a known board
        int_bits = int(model.get("weight_int_bits") or 1)
        inputs = keras.layers.Input(shape=(model["layers"][0][0],))
        x = inputs
        for _fan_in, fan_out in model["layers"][:-1]:
            x = keras.layers.Dense(fan_out, activation="relu")(x)
        x = keras.layers.Dense(model["layers"][-1][1])(x)
        net = keras.Model(inputs, x, name=point["name"].split("/")[-1][:40])
        net.build((None, model["layers"][0][0]))
        rf = int(config.get("reuse_factor") or point["results"].get("ii") or 1)
        hls_config = {"model": {"precision": f"ap_fixed<{bits}, {int_bits}>", "reuse_factor": rf,
                                "strategy": config.get("strategy") or "Latency"}, "board": board}
        try:
            frame = estimator.predict(net, hls_configs=[hls_config], hls4ml_versions=["1.1.0"])
        except Exception as exc:  # noqa: BLE001
            print(f"{point['name']}: rule4ml refused ({exc})")
            continue
        prepared = calibration.Prepared(point, head)
        ours = prepared.estimate(calibration.constants_for(prepared.tool))
        predicted = {"lut": float(frame["LUT"].mean()), "ff": float(frame["FF"].mean()),
                     "dsp": float(frame["DSP"].mean()), "latency_cycles": float(frame["CYCLES"].mean())}
        rows.append((point["name"], board, prepared.truth, ours, predicted))
    from rich.console import Console
    from rich.table import Table

    table = Table(title="measured | codesign (error) | rule4ml 1.1.0 (error)")
    table.add_column("point")
    for metric in calibration.METRICS:
        table.add_column(metric, justify="right")

    def cell(truth, value):
        if truth is None:
            return f"- | {value:.0f}"
        return f"{value:.0f} ({(value - truth) / truth:+.0%})" if truth else f"{value:.0f}"

    errors = {"codesign": {m: [] for m in calibration.METRICS}, "rule4ml": {m: [] for m in calibration.METRICS}}
    for name, board, truth, ours, theirs in rows:
        cells = []
        for m in calibration.METRICS:
            t = truth[m]
            cells.append(f"{t if t is not None else '-'} | {cell(t, ours[m])} | {cell(t, theirs[m])}")
            if t:
                errors["codesign"][m].append(abs(ours[m] - t) / t)
                errors["rule4ml"][m].append(abs(theirs[m] - t) / t)
        table.add_row(f"{name[:44]} ({board})", *cells)
    for who, values in errors.items():
        table.add_row(f"median |error| {who}", *(f"{sorted(v)[len(v) // 2]:.0%}" if v else "-"
                                                 for v in values.values()))
    Console().print(table)
    if not rows:
        print("no calibration point can be expressed for rule4ml")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
