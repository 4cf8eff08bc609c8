"""A sweep's results: one record per slot, the Pareto front, and the files that hold them.

Records are read from the study by slot (``codesign.dse.generations``), so two runs of the same
sweep give the same records whatever ran them: which Optuna trial (copy) ran a slot, on which
worker, is kept only as information.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.dse.config import SweepConfig
from codesign.dse.generations import read_slots
from codesign.dse.storage import redact
from codesign.outputs import atomic_directory, write_file


@dataclass
class TrialRecord:
    number: int  # the slot index: the trial's place in the sweep's deterministic order
    params: dict[str, Any]
    objectives: dict[str, float]
    metrics: dict[str, float]
    trial_dir: str  # relative to the output directory
    duplicate_of: int | None = None
    seconds: float = 0.0
    optuna_trial: int | None = None  # the Optuna trial that ran it (differs between runs)

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.number, "params": self.params, "objectives": self.objectives, "metrics": self.metrics,
                "trial_dir": self.trial_dir, "duplicate_of": self.duplicate_of}


@dataclass
class SweepResult:
    out_dir: Path
    storage: str
    study_name: str
    objectives: list[str]
    directions: list[str]
    trials: list[TrialRecord]  # every complete trial, by slot
    pareto: list[TrialRecord]  # Pareto-optimal trials (duplicates folded into their first occurrence)
    new_trials: int  # trials completed during this call
    seconds: float
    plots: list[Path] = field(default_factory=list)

    @property
    def pareto_json(self) -> Path:
        return self.out_dir / "pareto.json"


def records(study, config: SweepConfig) -> list[TrialRecord]:
    """Complete slots in order; a slot repeating an earlier slot's parameters is its duplicate."""
    names = config.objective_names()
    result, first_of = [], {}
    for index, slot in sorted(read_slots(study).items()):
        trial = slot.complete
        if trial is None:
            continue
        key = json.dumps(trial.params, sort_keys=True)
        original = first_of.setdefault(key, index) if config.reuse_duplicates else index
        attrs = trial.user_attrs
        result.append(TrialRecord(index, dict(trial.params), dict(zip(names, trial.values)),
                                  dict(attrs.get("metrics", {})), f"trials/{original}",
                                  original if original != index else None, float(attrs.get("seconds", 0.0)),
                                  trial.number))
    return result


def pareto_front(trials: list[TrialRecord], names: list[str], directions: list[str]) -> list[TrialRecord]:
    """Non-dominated trials; a duplicate of an earlier trial is left out (its original is there)."""
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]

    def score(t: TrialRecord) -> list[float]:
        return [s * t.objectives[n] for s, n in zip(signs, names)]

    unique = [t for t in trials if t.duplicate_of is None]
    front = []
    for t in unique:
        a = score(t)
        dominated = any(all(x >= y for x, y in zip(score(o), a)) and any(x > y for x, y in zip(score(o), a))
                        for o in unique if o is not t)
        if not dominated:
            front.append(t)
    return front


def finish(config: SweepConfig, study, url: str, out_dir: Path, data, before: int, started: float) -> SweepResult:
    """Write pareto.json, trials.json, the Pareto QONNX files and the plots."""
    from codesign.dse.evaluate import reproduce

    names, directions = config.objective_names(), config.directions()
    trials = records(study, config)
    front = pareto_front(trials, names, directions)
    folder = out_dir / "pareto"
    entries = []
    with atomic_directory(folder, overwrite=True) as staging:  # replaces only the folder an earlier run wrote
        for record in front:
            source = out_dir / record.trial_dir / "model.onnx"
            if not source.is_file():  # trained on another machine without a shared out_dir: re-run it here
                reproduce(config, record.params, out_dir / record.trial_dir, data)
            target = folder / f"{record.number}.onnx"
            shutil.copyfile(source, staging / target.name)
            entries.append({**record.to_dict(), "model": str(target.relative_to(out_dir)),
                            "trial_model": f"{record.trial_dir}/model.onnx",
                            "estimates": f"{record.trial_dir}/estimates.json"})
    report = {"study": config.study_name, "storage": redact(url), "dataset": config.dataset, "seed": config.seed,
              "epochs": config.epochs, "objectives": [{"name": n, "direction": d} for n, d in zip(names, directions)],
              "complete_trials": len(trials), "requested_trials": config.trials,
              "duplicates": sum(1 for t in trials if t.duplicate_of is not None), "pareto": entries}
    write_file(out_dir / "pareto.json", json.dumps(report, indent=2, sort_keys=True) + "\n", replace="own")
    write_file(out_dir / "trials.json", json.dumps([t.to_dict() for t in trials], indent=2, sort_keys=True) + "\n",
               replace="own")
    for scratch in (out_dir / "trials").glob(".tmp-*"):  # folders of copies that were interrupted
        shutil.rmtree(scratch, ignore_errors=True)
    plots = []
    if trials:
        from codesign.dse.plots import pareto_plots

        plots = pareto_plots(config, trials, front, out_dir)
    return SweepResult(out_dir, redact(url), config.study_name, names, directions, trials, front,
                       max(len(trials) - before, 0), round(time.perf_counter() - started, 2), plots)
