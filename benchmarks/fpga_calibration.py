"""The FPGA estimator against recorded hls4ml synthesis results (benchmarks/data/hls4ml_synthesis_points.json).

Trained weights of the published models are not available, so each point is rebuilt with
trained-like random weights (N(0, 1/sqrt(fan_in)) on the recorded fixed-point grid) at the
recorded sparsity; the error this leaves is part of what is measured.  Dense layers and their
activations are compared; a softmax head is removed from the measured totals (codesign's
firmware outputs logits): with its own numbers where the report breaks it out, else with the
median of the broken-out stable-softmax heads of the data set.

In scope: io_parallel dense MLPs with ReLU / quantised ReLU / identity activations.  Out of
scope (listed, not in the medians): io_stream, table-based activations (ELU, sigmoid), PReLU
(duplicates ReLU), one-input-one-output toys and accelerator wrappers.

Constants are fitted per HLS tool (Vitis HLS, Vivado HLS) by grid search minimising mean
|log(estimate / measured)|; the script prints the error of the committed constants on all
points (in-sample) and of constants refitted without each model (leave-one-model-out, held out).

    python benchmarks/fpga_calibration.py            # tables + benchmarks/results/fpga_calibration.json
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codesign.backends.fpga.resources import ModelConstants, constants_for, dense_resources  # noqa: E402
from codesign.ir.graph import DenseLayer  # noqa: E402
from codesign.ir.quantspec import QuantSpec  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "hls4ml_synthesis_points.json"
METRICS = ("lut", "ff", "dsp", "latency_cycles")
GRID = {
    "mul_min_digits": (2, 3, 4, 5, 6),
    "shares_multipliers_over_ii": (False, True),
    "lut_per_adder_bit": tuple(np.round(np.arange(0.2, 3.01, 0.05), 2)),
    "relu_lut_per_bit": tuple(np.round(np.arange(0.0, 4.01, 0.1), 1)),
    "requant_lut_per_bit": tuple(np.round(np.arange(0.0, 8.01, 0.2), 1)),
    "ff_per_register_bit": tuple(np.round(np.arange(0.1, 6.01, 0.05), 2)),
    "adder_delay_ns": tuple(np.round(np.arange(0.2, 1.21, 0.05), 2)),
    "layer_overhead_cycles": (0, 1, 2),
    "io_overhead_cycles": tuple(range(11)),
}


def _per_layer(value, count: int) -> list:
    return list(value) if isinstance(value, list) else [value] * count


def tool_of(point: dict) -> str:
    tool = str(point["config"].get("tool") or point["config"].get("backend") or "")
    return "Vitis" if tool.startswith("Vitis") else "Vivado"


def scope(point: dict) -> str | None:
    """None when the point is in scope, else why not."""
    model, config = point["model"], point["config"]
    activations = " ".join(str(a) for a in model.get("activation") or []).lower()
    if config.get("io_type") != "io_parallel":
        return "io_stream (the estimator models io_parallel)"
    if "wrapper" in str(point["results"].get("stage", "")) and "core" not in str(point["results"].get("stage", "")):
        return "accelerator wrapper around the network"
    if model["layers"][0][1] < 8:
        return "1-input, 2-output toy layer"
    if re.search(r"\b(elu|sigmoid|prelu)\b", activations):
        return "table-based or parametric activation (PReLU alpha=0 duplicates the ReLU point)"
    return None


def group_of(point: dict) -> str:
    """The model (architecture, weight widths, sparsity): the unit held out in cross-validation."""
    model = point["model"]
    sizes = "-".join(str(n) for n in [model["layers"][0][0], *(layer[1] for layer in model["layers"])])
    return f"{sizes} w{model.get('weight_bits')} sparsity {model.get('sparsity') or 0}"


def synthetic_layers(point: dict, seed: int = 0) -> list[dict]:
    """Keyword arguments of dense_resources per layer, with random weights of the point's width and sparsity."""
    model = point["model"]
    rng = np.random.default_rng(seed)
    count = len(model["layers"])
    widths = _per_layer(model.get("weight_bits") or 16, count)
    int_bits = _per_layer(model.get("weight_int_bits") if model.get("weight_int_bits") is not None else 1, count)
    act_widths = _per_layer(model.get("act_bits") or model.get("result_bits") or 16, count)
    sparsities = _per_layer(model.get("sparsity") or 0.0, count)
    activations = [str(a).lower() for a in model.get("activation") or []]
    accumulator = model.get("accum_bits") or model.get("result_bits")  # None: hls4ml infers the exact width
    input_bits = int(model.get("input_bits") or 16)
    layers = []
    for index, (fan_in, fan_out) in enumerate(model["layers"]):
        width = max(1, int(widths[index]))
        high = max(1, 2 ** (width - 1) - 1)
        fractional = max(0, width - int(int_bits[index]))  # hls4ml ap_fixed<W, I>: I counts the sign bit
        real = rng.normal(0.0, 1.0 / math.sqrt(fan_in), size=(fan_out, fan_in))
        if width > 2:
            weight = np.clip(np.round(real * 2.0**fractional), -high, high).astype(np.int64)
        else:  # binary / ternary: +-1 (ternary zeros come from the recorded sparsity)
            weight = np.sign(real).astype(np.int64)
        weight[rng.random(weight.shape) < float(sparsities[index] or 0.0)] = 0
        in_bits = input_bits if index == 0 else int(act_widths[index - 1])
        last = index == count - 1
        out_bits = int(model.get("result_bits") or 16) if last else int(act_widths[index])
        label = activations[index] if index < len(activations) else ""
        if "linear" in label and index + 1 < len(activations) and count == 1:
            label = activations[index + 1]  # Dense(linear) + a separate Activation layer
        relu = "relu" in label and "leaky" not in label  # leaky_relu(alpha=1) in the CI tests is the identity
        acc = int(accumulator) if accumulator else None
        layer = DenseLayer(name=f"dense{index}", weight=weight, weight_quant=QuantSpec(bits=width, signed=True),
                           input_quant=QuantSpec(bits=in_bits, signed=True), bias=None)
        acc_width = acc or layer.accumulator_bits
        layers.append({"layer": layer, "input_bits": in_bits, "output_bits": out_bits, "accumulator_bits": acc,
                       "relu": relu, "requantise": relu and out_bits < acc_width})
    return layers


def softmax_head(points: list[dict]) -> dict[str, float]:
    """Median cost of the stable-softmax heads the reports break out (for reports that do not)."""
    heads = [entry for p in points for entry in p["results"].get("per_layer") or []
             if "softmax_stable" in entry.get("layer", "")]
    return {key: float(np.median([h.get(src, 0) or 0 for h in heads]))
            for key, src in (("lut", "lut"), ("ff", "ff"), ("dsp", "dsp"), ("latency_cycles", "latency"))}


def measured(point: dict, head: dict[str, float]) -> dict[str, float | None]:
    """Reported totals without the softmax head."""
    results = point["results"]
    totals = {"lut": results["lut"], "ff": results["ff"], "dsp": results["dsp"],
              "latency_cycles": results.get("latency_cycles")}
    activations = " ".join(str(a) for a in point["model"].get("activation") or []).lower()
    broken_out = [e for e in results.get("per_layer") or [] if "softmax" in e.get("layer", "")]
    for entry in broken_out:
        for key, src in (("lut", "lut"), ("ff", "ff"), ("dsp", "dsp"), ("latency_cycles", "latency")):
            if totals[key] is not None:
                totals[key] -= entry.get(src, 0) or 0
    if "softmax" in activations and not broken_out:
        for key in METRICS:
            if totals[key] is not None:
                totals[key] = max(0.0, totals[key] - head[key])
    if totals["latency_cycles"] == 0:
        totals["latency_cycles"] = None  # a combinational design: relative error undefined
    return totals


class Prepared:
    """A point with its synthetic layers built once (weights do not depend on the constants)."""

    def __init__(self, point: dict, head: dict[str, float]):
        self.point = point
        self.name = point["name"]
        self.tool = tool_of(point)
        self.group = group_of(point)
        self.truth = measured(point, head)
        config = point["config"]
        self.clock = float(config.get("clock_ns") or 5.0) * 0.875  # hls4ml default clock uncertainty 12.5 %
        # the report's II where the configured reuse factor is not recorded
        self.rf = int(config.get("reuse_factor") or point["results"].get("ii") or 1)
        self.strategy = config.get("strategy") or "Latency"
        self.layers = synthetic_layers(point)

    def rows(self, constants: ModelConstants):
        return [dense_resources(**spec, reuse_factor=self.rf, strategy=self.strategy, clock_period_ns=self.clock,
                                constants=constants) for spec in self.layers]

    def estimate(self, constants: ModelConstants) -> dict[str, float]:
        rows = self.rows(constants)
        return {"lut": sum(r.lut for r in rows), "ff": sum(r.ff for r in rows), "dsp": sum(r.dsp for r in rows),
                "latency_cycles": sum(r.latency_cycles for r in rows) + constants.io_overhead_cycles}


def _log_error(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.abs(np.log((estimate + 1.0) / (truth + 1.0)))


def fit(points: list[Prepared], start: ModelConstants) -> ModelConstants:
    """Grid search, one metric at a time: DSP, then LUT, then latency with FF."""
    if not points:
        return start

    def truths(metric):
        return np.array([p.truth[metric] if p.truth[metric] is not None else np.nan for p in points], dtype=float)

    best, best_err = start, math.inf
    dsp_truth = truths("dsp")
    for digits, shares in itertools.product(GRID["mul_min_digits"], GRID["shares_multipliers_over_ii"]):
        trial = replace(start, mul_min_digits=digits, shares_multipliers_over_ii=shares)
        est = np.array([p.estimate(trial)["dsp"] for p in points], dtype=float)
        err = np.nanmean(_log_error(est, dsp_truth))
        if err < best_err - 1e-9:
            best, best_err = trial, err
    # LUT is linear in its three constants given the structure
    parts = np.array([[sum(r.adder_bits for r in p.rows(best)), sum(r.relu_bits for r in p.rows(best)),
                       sum(r.requant_bits for r in p.rows(best))] for p in points], dtype=float)
    lut_truth = truths("lut")
    a, r, q = (np.array(GRID[k], dtype=float) for k in ("lut_per_adder_bit", "relu_lut_per_bit", "requant_lut_per_bit"))
    est = (a[:, None, None, None] * parts[:, 0] + r[None, :, None, None] * parts[:, 1]
           + q[None, None, :, None] * parts[:, 2])
    err = np.nanmean(_log_error(est, lut_truth), axis=-1)
    ia, ir, iq = np.unravel_index(np.argmin(err), err.shape)
    best = replace(best, lut_per_adder_bit=float(a[ia]), relu_lut_per_bit=float(r[ir]), requant_lut_per_bit=float(q[iq]))
    # latency and FF: both follow from the adder delay (where the register cuts fall)
    lat_truth, ff_truth = truths("latency_cycles"), truths("ff")
    k = np.array(GRID["ff_per_register_bit"], dtype=float)
    chosen, chosen_err = best, math.inf
    for delay in GRID["adder_delay_ns"]:
        trial = replace(best, adder_delay_ns=float(delay), layer_overhead_cycles=0, io_overhead_cycles=0)
        rows = [p.rows(trial) for p in points]
        cuts = np.array([sum(r.latency_cycles for r in rs) for rs in rows], dtype=float)
        count = np.array([len(rs) for rs in rows], dtype=float)
        registers = np.array([sum(r.register_bits for r in rs) for rs in rows], dtype=float)
        ff_err = np.nanmean(_log_error(k[:, None] * registers, ff_truth), axis=-1)
        ik = int(np.argmin(ff_err))
        for layer_cycles, io_cycles in itertools.product(GRID["layer_overhead_cycles"], GRID["io_overhead_cycles"]):
            latency = cuts + layer_cycles * count + io_cycles
            lat_err = np.nanmean(_log_error(latency, lat_truth)) if np.any(~np.isnan(lat_truth)) else 0.0
            total = lat_err + ff_err[ik]
            if total < chosen_err - 1e-9:
                chosen_err = total
                chosen = replace(trial, ff_per_register_bit=float(k[ik]), layer_overhead_cycles=layer_cycles,
                                 io_overhead_cycles=io_cycles)
    return chosen


def relative_errors(point: Prepared, constants: ModelConstants) -> tuple[dict, dict]:
    guess = point.estimate(constants)
    errors = {m: (guess[m] - point.truth[m]) / point.truth[m] if point.truth.get(m) else None for m in METRICS}
    return guess, errors


def summarise(rows: list[dict], key: str) -> dict[str, dict[str, float | None]]:
    out = {}
    for metric in METRICS:
        values = [abs(r[key][metric]) for r in rows if r[key][metric] is not None and math.isfinite(r[key][metric])]
        out[metric] = {"median": float(np.median(values)) if values else None,
                       "max": float(np.max(values)) if values else None, "points": len(values)}
    return out


def main() -> int:
    from rich.console import Console
    from rich.table import Table

    raw = json.loads(DATA.read_text())["points"]
    head = softmax_head(raw)
    prepared = [Prepared(p, head) for p in raw if scope(p) is None]
    excluded = [(p, scope(p)) for p in raw if scope(p) is not None]
    tools = sorted({p.tool for p in prepared})
    committed = {tool: constants_for(tool) for tool in tools}
    refit = {tool: fit([p for p in prepared if p.tool == tool], committed[tool]) for tool in tools}
    held_out = {}
    for group in sorted({p.group for p in prepared}):
        for tool in tools:
            training = [p for p in prepared if p.tool == tool and p.group != group]
            constants = fit(training, committed[tool])
            for p in prepared:
                if p.tool == tool and p.group == group:
                    held_out[p.name] = relative_errors(p, constants)[1]
    rows = []
    for p in prepared:
        guess, errors = relative_errors(p, committed[p.tool])
        rows.append({"name": p.name, "tool": p.tool, "model": p.group, "measured": p.truth, "estimated": guess,
                     "relative_error": errors, "held_out_relative_error": held_out[p.name]})

    def fmt(value):
        return f"{value:+.0%}" if value is not None else "-"

    console = Console()
    table = Table(title=f"FPGA estimate vs recorded hls4ml C synthesis, {len(rows)} in-scope points "
                        "(relative error: in-sample / held out, leave-one-model-out)")
    for column in ("point", "tool", *METRICS):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row["name"][:52], row["tool"], *(f"{fmt(row['relative_error'][m])} / "
                                                       f"{fmt(row['held_out_relative_error'][m])}" for m in METRICS))
    in_sample, held = summarise(rows, "relative_error"), summarise(rows, "held_out_relative_error")
    for label, summary in (("in-sample", in_sample), ("held out", held)):
        for stat in ("median", "max"):
            table.add_row(f"{stat} |error| {label}", "", *(f"{summary[m][stat]:.0%} (n={summary[m]['points']})"
                                                         if summary[m][stat] is not None else "-" for m in METRICS))
    console.print(table)
    console.print(f"softmax head removed where not broken out: {head}")
    for tool in tools:
        same = refit[tool] == committed[tool]
        console.print(f"{tool}: committed constants {'match' if same else 'DIFFER FROM'} the fit on all "
                      f"{sum(p.tool == tool for p in prepared)} points{'' if same else f': {refit[tool]}'}")
    console.print(f"out of scope ({len(excluded)} points, not in the medians): " + "; ".join(
        sorted({reason for _, reason in excluded})))
    out = ROOT / "benchmarks" / "results" / "fpga_calibration.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "in_sample": in_sample, "held_out_leave_one_model_out": held,
                               "softmax_head": head, "fitted_constants": {t: refit[t].__dict__ for t in tools},
                               "excluded": [{"name": p["name"], "reason": r} for p, r in excluded]},
                              indent=2, sort_keys=True, default=str) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
