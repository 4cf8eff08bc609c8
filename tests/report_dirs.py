"""Run directories for report tests: a plot, and a sweep directory as ``codesign sweep`` lays it out."""

from __future__ import annotations

import json
from pathlib import Path


def plot(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [3, 1, 2], "o-")
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


BASELINE_ESTIMATES = Path(__file__).resolve().parent / "baselines" / "estimates"


def sweep_dir(root: Path) -> Path:
    """A sweep directory laid out as ``codesign sweep`` writes it (pareto.json, trials.json,
    config.json, trial estimates, per-target plots, study.db), with real estimate records; the
    target names are the sweep's own ("xbar" runs the crossbar backend)."""
    estimates = {"fpga": json.loads((BASELINE_ESTIMATES / "mlp_w4" / "fpga-pynq-z2-1d450195.json").read_text()),
                 "xbar": json.loads((BASELINE_ESTIMATES / "mlp_w4" / "crossbar-rram-40nm.json").read_text())}
    backends = {"fpga": ("fpga", "pynq-z2"), "xbar": ("crossbar", "rram-40nm")}
    objectives = [("accuracy", "maximize"), ("xbar.accuracy", "maximize"), ("fpga.energy_j", "minimize"),
                  ("xbar.area_mm2", "minimize")]
    trials = []
    for number, accuracy in enumerate((0.91, 0.87, 0.84)):
        metrics = {"accuracy": accuracy, "train_accuracy": accuracy + 0.01}
        targets = {}
        for name, estimate in estimates.items():
            scaled = {**estimate, "energy_j": estimate["energy_j"] * (1 + number),
                      "area_mm2": estimate["area_mm2"] * (1 + number)}
            metrics.update({f"{name}.accuracy": accuracy - 0.01, f"{name}.energy_j": scaled["energy_j"],
                            f"{name}.area_mm2": scaled["area_mm2"], f"{name}.latency_s": scaled["latency_s"],
                            f"{name}.power_w": scaled["power_w"]})
            targets[name] = {"target": backends[name][0], "card": backends[name][1], "options": {},
                             "accuracy": accuracy - 0.01, "accuracy_source": "test split", "estimate": scaled}
            if name == "fpga":  # a target that checks its design per trial (as the printed one does)
                targets[name]["verification"] = {"gate_vs_design_mismatches": 0, "passed": True, "samples": 30}
        params = {"hidden": "8", "weight_bits": 4 - number, "act_bits": 4, "fpga.reuse_factor": 1}
        record = {"trial": number, "params": params, "objectives": {n: metrics[n] for n, _ in objectives},
                  "metrics": metrics, "trial_dir": f"trials/{number}", "duplicate_of": None, "seconds": 1.5}
        trials.append(record)
        folder = root / "trials" / str(number)
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"onnx")
        (folder / "estimates.json").write_text(json.dumps({"params": params, "metrics": metrics, "targets": targets,
                                                           "model": "model.onnx", "seed": 0, "dataset": "iris"}))
    pareto = [{**t, "model": f"pareto/{t['trial']}.onnx", "trial_model": f"{t['trial_dir']}/model.onnx",
               "estimates": f"{t['trial_dir']}/estimates.json"} for t in trials[:2]]
    (root / "pareto.json").write_text(json.dumps(
        {"study": "s", "storage": "sqlite:///study.db", "dataset": "iris", "seed": 0, "epochs": 2,
         "objectives": [{"name": n, "direction": d} for n, d in objectives], "complete_trials": 3,
         "requested_trials": 3, "duplicates": 0, "pareto": pareto}))
    (root / "trials.json").write_text(json.dumps(trials))
    (root / "config.json").write_text(json.dumps(
        {"source": "sweep.toml", "targets": [{"name": n, "target": t, "card": c} for n, (t, c) in backends.items()]}))
    (root / "study.db").write_bytes(b"SQLite format 3\0")
    for name in backends:
        plot(root / f"pareto_{name}.png")
    return root
