"""Sweep throughput: a 100-trial sweep on 2 worker processes, and 1 vs 2 Ray workers.

    python benchmarks/sweep_scaling.py                      # both parts
    python benchmarks/sweep_scaling.py --trials 40 --skip-ray
    python benchmarks/sweep_scaling.py --skip-sweep --ray-trials 20

Part 1 runs a 100-trial NSGA-II sweep of small MLPs on breast_cancer (FPGA + crossbar targets,
2 worker processes; goal: under 10 minutes).  Part 2, when Ray is installed, runs the same
fixed design point (identical work per trial, duplicates re-run) with 1 and then 2 Ray workers
on a local Ray instance and compares trials per minute (goal: >= 1.8x; it needs two otherwise idle
cores: the per-trial time and the load average are reported to show contention).  Trial throughput is
measured from the storage's timestamps (first trial start to last trial end), and the wall
time of each run (with worker start-up) is reported too.  Results go to
benchmarks/results/sweep_scaling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from codesign.dse.config import parse_config
from codesign.dse.sweep import run_sweep

RESULTS = Path(__file__).resolve().parent / "results" / "sweep_scaling.json"

SWEEP = {
    "dataset": "breast_cancer", "seed": 0, "epochs": 10, "study_name": "bench-sweep",
    "search": {"population_size": 20},
    "space": {"weight_bits": {"low": 2, "high": 6}, "act_bits": {"low": 2, "high": 6}, "input_bits": [4],
              "hidden": [[4], [8], [16], [32], [8, 4], [16, 8]], "fault_aware": [False, True],
              "reuse_factor": [1, 2, 4]},
    "targets": [{"target": "fpga", "card": "pynq-z2"},
                {"target": "crossbar", "card": "rram-40nm", "instances": 20}],
}

# one design point, ~2-3 s per trial: identical work in every trial, long enough that the
# per-trial storage round trips do not dominate
FIXED = {
    "dataset": "breast_cancer", "seed": 0, "epochs": 30, "study_name": "bench-ray",
    "search": {"reuse_duplicates": False},
    "space": {"weight_bits": [4], "act_bits": [4], "hidden": [[32]], "fault_aware": [False]},
    "targets": [{"target": "fpga", "card": "pynq-z2"},
                {"target": "crossbar", "card": "rram-40nm", "instances": 50}],
}


def trial_phase(out: Path, study_name: str) -> dict:
    """Throughput from the study's own timestamps: first trial start to last trial completion."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{out / 'study.db'}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    start = min(t.datetime_start for t in done)
    end = max(t.datetime_complete for t in done)
    seconds = (end - start).total_seconds()
    # steady state: from the moment every worker has finished its first trial to the last completion
    first_done: dict[str, object] = {}
    for t in sorted(done, key=lambda t: t.datetime_complete):
        first_done.setdefault(str(t.user_attrs.get("worker", {}).get("id", "?")), t.datetime_complete)
    steady_start = max(first_done.values())
    steady = [t for t in done if t.datetime_complete > steady_start]
    steady_s = (end - steady_start).total_seconds()
    return {"trials": len(done), "trial_phase_s": round(seconds, 1),
            "trials_per_min": round(len(done) / seconds * 60, 2),
            "steady_trials_per_min": round(len(steady) / steady_s * 60, 2) if steady_s > 0 else None,
            "workers_seen": len(first_done),
            "mean_trial_s": round(sum(t.user_attrs.get("seconds", 0.0) for t in done) / len(done), 2),
            "mean_trial_cpu_s": round(sum(t.user_attrs.get("cpu_seconds", 0.0) for t in done) / len(done), 2)}


def part_sweep(trials: int, workers: int, scratch: Path) -> dict:
    out = scratch / "sweep"
    config = parse_config({**SWEEP, "trials": trials}, source="benchmark")
    started = time.perf_counter()
    result = run_sweep(config, out, workers=workers, progress=sys.stderr.isatty())
    wall = time.perf_counter() - started
    report = {"trials": len(result.trials), "workers": workers, "wall_s": round(wall, 1),
              "wall_min": round(wall / 60, 2), "goal_min": 10, "met": wall / 60 < 10,
              "pareto_points": len(result.pareto),
              "duplicates_reused": sum(1 for t in result.trials if t.duplicate_of is not None),
              "objectives": result.objectives, **{f"phase_{k}": v for k, v in trial_phase(out, config.study_name).items()}}
    print(f"sweep: {report['trials']} trials on {workers} processes in {report['wall_min']:.2f} min "
          f"(goal < 10 min: {'met' if report['met'] else 'NOT met'}), {report['pareto_points']} Pareto points, "
          f"{report['duplicates_reused']} duplicate parameter sets reused")
    return report


def part_ray(trials: int, scratch: Path) -> dict:
    try:
        import ray
    except ImportError:
        print("ray: not installed (pip install 'ray[default]'), scaling not measured")
        return {"skipped": "ray not installed"}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    runs = {}
    try:
        for workers in (1, 2):
            out = scratch / f"ray{workers}"
            config = parse_config({**FIXED, "trials": trials, "study_name": f"bench-ray-{workers}"},
                                  source="benchmark")
            started = time.perf_counter()
            run_sweep(config, out, workers=workers, ray_address="auto", progress=sys.stderr.isatty())
            wall = time.perf_counter() - started
            runs[workers] = {"wall_s": round(wall, 1), "wall_trials_per_min": round(trials / wall * 60, 2),
                             **trial_phase(out, config.study_name)}
            runs[workers]["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
            print(f"ray, {workers} worker(s): {runs[workers]['trials_per_min']:.1f} trials/min in the trial phase "
                  f"({runs[workers]['wall_trials_per_min']:.1f} per min with start-up, {wall:.0f} s; "
                  f"{runs[workers]['mean_trial_s']:.2f} s per trial; load average "
                  f"{runs[workers]['load_average_after'][0]:.2f})")
    finally:
        ray.shutdown()
    speedup = runs[2]["trials_per_min"] / runs[1]["trials_per_min"]
    steady = runs[2]["steady_trials_per_min"] / runs[1]["steady_trials_per_min"]
    # wall over CPU time of a trial: 1.0 when each worker has a core of its own
    contention = {w: runs[w]["mean_trial_s"] / max(runs[w]["mean_trial_cpu_s"], 1e-9) for w in (1, 2)}
    wall_speedup = runs[2]["wall_trials_per_min"] / runs[1]["wall_trials_per_min"]
    print(f"ray scaling 1 -> 2 workers: {steady:.2f}x in the steady state (goal >= 1.8x: "
          f"{'met' if steady >= 1.8 else 'NOT met'}), {speedup:.2f}x over the trial phase, "
          f"{wall_speedup:.2f}x wall time with start-up")
    print(f"wall / CPU time per trial: {contention[1]:.2f} with 1 worker, {contention[2]:.2f} with 2 "
          f"(1.0 = a core of its own; above: waiting for a core held by other processes)")
    return {"ray_version": ray.__version__, "trials_per_run": trials, "one_worker": runs[1], "two_workers": runs[2],
            "wall_over_cpu_per_trial": {str(w): round(c, 2) for w, c in contention.items()},
            "speedup_steady": round(steady, 2), "speedup_trial_phase": round(speedup, 2),
            "speedup_with_startup": round(wall_speedup, 2), "goal": 1.8, "met": steady >= 1.8}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="trials of the sweep (default 100)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray-trials", type=int, default=40, help="trials per Ray run (default 40)")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the sweep outputs in this directory")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}}
    try:
        if not args.skip_sweep:
            report["sweep"] = part_sweep(args.trials, args.workers, scratch)
        if not args.skip_ray:
            report["ray"] = part_ray(args.ray_trials, scratch)
        report["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        RESULTS.write_text(json.dumps({**previous, **report}, indent=2, sort_keys=True) + "\n")
        print(f"results: {RESULTS}")
    finally:
        if args.keep:
            shutil.copytree(scratch, args.keep, dirs_exist_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
