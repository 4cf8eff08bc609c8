"""Distributed crossbar Monte-Carlo throughput: chip instances per second with 1, 2 and 4 Ray
workers on a local multi-node cluster, and a scaling model fitted to the measurements.

Called by ``benchmarks/sweep_scaling.py`` (``make bench-sweep``); alone:

    python benchmarks/montecarlo_scaling.py --instances 400 --repeats 1    # quick look, prints JSON

The work: the crossbar throughput benchmark's 784-64-64-64-10 MLP (4-bit weights, 7-bit inputs
and activations) on its multi-level RRAM card, programming noise 5.8 % and fresh read noise 1 %
per cell, ``samples`` uniform inputs, ``instances`` chip instances cut into ``parts`` equal
ranges.  The cluster is two ``ray start`` node processes with 2 CPUs declared each; one driver
connection runs a warm-up (every worker process started and its compiled read kernel loaded),
then, per repeat, 1, 2 and 4 workers (Ray tasks in flight) on the same ranges, so the work is
identical and only the concurrency changes.  Every distributed result is compared with one
single-process run (bit for bit).  The model's terms are measured: per-instance cost, per-range
overhead (1-worker runs with ``parts`` and ``4 x parts`` ranges), a fixed per-run cost, and
Ray's round trip per range (empty tasks returning a range's predictions).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPE = "784-64-64-64-10"
CARD = ROOT / "benchmarks" / "cards" / "rram-40nm-multilevel.toml"
NOISE = {"programming": {"sigma": 0.058}, "read": {"sigma": 0.01}}
WORKERS = (1, 2, 4)
PREDICT = (1, 2, 4, 8, 64, 512)
LARGE_RUN = 20_000  # instances of a larger run the model is also evaluated for (its predictions: 0.6 GB)


class ClusterCpu:
    """CPU seconds used by every process the cluster's nodes ever had (raylets, agents, Ray workers).

    Sampled every ``interval`` s by a thread: the raylet ignores SIGCHLD, so a Ray worker that exits
    (a sweep's workers do when its driver disconnects) is reaped by the kernel and its CPU time is
    neither in the raylet's children times nor readable afterwards. A process is keyed by pid and
    start time; one that lives less than ``interval`` s may be missed."""

    def __init__(self, cluster, interval: float = 0.5) -> None:
        import threading

        self.cluster, self.interval = cluster, interval
        self._seen: dict[tuple[int, float], float] = {}
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ClusterCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        import psutil

        for node in self.cluster.nodes:
            for pid in [node.process.pid, *node.pids]:
                try:
                    process = psutil.Process(pid)
                    key, times = (pid, process.create_time()), process.cpu_times()
                except psutil.Error:
                    continue
                with self._lock:
                    self._seen[key] = times.user + times.system

    def seconds(self) -> float:
        """CPU seconds so far (a fresh sample first)."""
        self.sample()
        with self._lock:
            return sum(self._seen.values())


def machine_busy_s() -> float:
    """CPU seconds every process of the machine used so far (user, nice, system, interrupts):
    what a run used minus what its own processes used is what other jobs took meanwhile."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process (the driver) so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stats(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "runs": [round(v, 3) for v in values]}


def _empty_range(count: int, samples: int) -> np.ndarray:
    """What a range's task returns besides its compute: its predictions (int64)."""
    return np.zeros((count, samples), dtype=np.int64)


def ray_round_trip_s(ray, count: int, samples: int, tasks: int = 200) -> float:
    """Seconds per range of Ray alone (submit, schedule, return a range's predictions, get),
    with every CPU of the cluster busy: the driver's serial cost per range is at most this."""
    task = ray.remote(_empty_range).options(num_cpus=1)
    ray.get([task.remote(count, samples) for _ in range(8)])  # workers exist
    start = time.perf_counter()
    refs = [task.remote(count, samples) for _ in range(tasks)]
    while refs:
        ready, refs = ray.wait(refs, num_returns=1)
        ray.get(ready)
    return (time.perf_counter() - start) / tasks


def _half(job: tuple) -> float:
    """One plain process (no Ray) simulating its share of the instances; returns its seconds."""
    import torch

    from codesign.backends.crossbar import simulate_range

    torch.set_num_threads(1)
    graph, card, x, span, options = job
    started = time.perf_counter()
    simulate_range(graph, card, x, instances=span, seed=0, **options)
    return time.perf_counter() - started


def two_process_ceiling(graph, card, x, instances: int, options: dict) -> dict:
    """What two workers can give on this machine without Ray: two plain processes (no object store,
    no scheduler) each simulating half of the instances at once.  Its ratio to one process
    separates the hardware's limit (shared caches and memory bandwidth) from Ray's costs."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    half = instances // 2
    spans = [range(0, half), range(half, instances)]
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_half, [(graph, card, x, range(0, 4), options)] * 2))  # warm-up: imports, read kernel
        began = time.perf_counter()
        seconds = list(pool.map(_half, [(graph, card, x, span, options) for span in spans]))
        wall = time.perf_counter() - began
    return {"wall_s": round(wall, 3), "process_s": [round(v, 3) for v in seconds],
            "instances_per_s": round(instances / wall, 2)}


def run(instances: int, samples: int, parts: int, repeats: int) -> dict:
    try:
        import ray
    except ImportError:
        return {"skipped": "ray not installed"}
    from benchmarks.crossbar_throughput import build_graph
    from codesign.backends.crossbar import simulate
    from codesign.cards import load_card
    from codesign.dse.distributed_montecarlo import simulate as distributed
    from codesign.dse.raycluster import LocalCluster, connect

    card = load_card(CARD)
    with tempfile.TemporaryDirectory() as folder:
        graph = build_graph(SHAPE, Path(folder))
    x = np.random.default_rng(0).uniform(0.0, 1.0, (samples, graph.in_features))
    options = {"noise": NOISE, "ir_drop": False, "keep_logits": False}

    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    single = simulate(graph, card, x, instances=instances, seed=0, **options)
    single_s = time.perf_counter() - start
    print(f"montecarlo: single process, 1 thread: {instances / single_s:.1f} instances/s ({single_s:.1f} s)")
    ceiling = two_process_ceiling(graph, card, x, instances, options)
    print(f"montecarlo: two plain processes at once (no Ray): {ceiling['instances_per_s']} instances/s, "
          f"{ceiling['instances_per_s'] * single_s / instances:.2f}x one process (the hardware's limit for 2 workers)")
    runs: dict[str, list[dict]] = {str(w): [] for w in WORKERS}
    fine: list[dict] = []
    identical = True
    load_before = os.getloadavg()
    with LocalCluster() as cluster:  # stopped even when it fails to start
        cluster.start([2, 2])
        with connect(cluster.address) as ray_, ClusterCpu(cluster) as meter:
            def measured(workers: int, count: int) -> dict:
                nonlocal identical
                busy, cpu, driver, began = machine_busy_s(), meter.seconds(), own_cpu_s(), time.perf_counter()
                result = distributed(graph, card, x, instances=instances, seed=0, parts=count, workers=workers, **options)
                wall = time.perf_counter() - began
                busy, cpu, driver = machine_busy_s() - busy, meter.seconds() - cpu, own_cpu_s() - driver
                identical = identical and np.array_equal(result.predictions, single.predictions)
                return {"wall_s": round(wall, 3), "compute_s": round(result.seconds, 3),
                        "cluster_cpu_s": round(cpu, 3), "driver_cpu_s": round(driver, 3),
                        "other_jobs_cpu_s": round(busy - cpu - driver, 3), "instances_per_s": round(instances / wall, 2),
                        "load_average_after": [round(v, 2) for v in os.getloadavg()]}

            distributed(graph, card, x, instances=max(WORKERS) * 2, seed=0, parts=max(WORKERS) * 2,
                        workers=max(WORKERS), **options)  # warm-up: start every worker, load the read kernel
            for repeat in range(repeats):
                for workers in WORKERS:
                    runs[str(workers)].append(measured(workers, parts))
                    print(f"montecarlo: repeat {repeat + 1}/{repeats}, {workers} worker(s): "
                          f"{runs[str(workers)][-1]['instances_per_s']} instances/s")
                fine.append(measured(1, 4 * parts))
            round_trip = ray_round_trip_s(ray_, math.ceil(instances / parts), samples)
    per_workers = {w: _stats([r["instances_per_s"] for r in rs]) for w, rs in runs.items()}
    speedup = {w: round(per_workers[w]["median"] / per_workers["1"]["median"], 2) for w in per_workers}
    model = scaling_model(runs["1"], fine, instances, parts, round_trip)
    return {"ray_version": ray.__version__, "shape": SHAPE, "card": card.name, "noise": NOISE, "samples": samples,
            "instances": instances, "parts": parts, "repeats": repeats, "cores": os.cpu_count(),
            "cluster": "2 node processes (ray start), 2 CPUs declared each; one task = one CPU, torch on 1 thread",
            "single_process": {"wall_s": round(single_s, 3), "instances_per_s": round(instances / single_s, 2),
                               "threads": 1},
            "two_plain_processes": {**ceiling, "over_single_process": round(ceiling["instances_per_s"] * single_s / instances, 2)},
            "identical_to_single_process": identical, "load_average_before": [round(v, 2) for v in load_before],
            "runs": runs, "runs_4x_parts_1_worker": fine, "instances_per_s": per_workers, "speedup": speedup,
            "goal": 1.8, "met": speedup["2"] >= 1.8,
            "compute_over_cluster_cpu": {w: round(statistics.median(r["compute_s"] / r["cluster_cpu_s"] for r in rs), 2)
                                         for w, rs in runs.items()},
            "model": model}


def scaling_model(one: list[dict], fine: list[dict], instances: int, parts: int, round_trip: float) -> dict:
    """Wall time of N instances in P ranges on W workers (one core each):

        wall(W) = t_fixed + max(ceil(P / W) * (t_range + (N / P) * t_instance), P * t_ray)

    t_instance: compute seconds per instance (1-worker runs); t_range: per-range cost besides its
    instances (the simulator's set-up of a range plus Ray's scheduling), from the 1-worker runs
    with P and 4P ranges; t_fixed: the rest of a 1-worker run (putting the inputs, merging);
    t_ray: Ray's round trip per range, the driver's serial work, which bounds the rate however
    many workers there are.  Medians over the repeats."""
    t_instance = statistics.median(r["compute_s"] for r in one) / instances
    wall_p = statistics.median(r["wall_s"] for r in one)
    wall_4p = statistics.median(r["wall_s"] for r in fine)
    compute_4p = statistics.median(r["compute_s"] for r in fine)
    # the same instances in more ranges: the extra wall time (minus any extra compute) is 3P ranges' cost
    t_range = max((wall_4p - wall_p) - (compute_4p - t_instance * instances), 0.0) / (3 * parts)
    t_fixed = max(wall_p - parts * t_range - instances * t_instance, 0.0)

    def wall(workers: int, count: int, ranges: int) -> float:
        return t_fixed + max(math.ceil(ranges / workers) * (t_range + count / ranges * t_instance), ranges * round_trip)

    def default_ranges(count: int, workers: int) -> int:
        from codesign.dse.distributed_montecarlo import default_parts

        return default_parts(count, workers)

    predicted = {str(w): round(instances / wall(w, instances, parts), 1) for w in PREDICT}
    predicted_default = {str(w): round(instances / wall(w, instances, default_ranges(instances, w)), 1) for w in PREDICT}
    predicted_large = {str(w): round(LARGE_RUN / wall(w, LARGE_RUN, default_ranges(LARGE_RUN, w)), 1) for w in PREDICT}
    large_ranges = default_ranges(LARGE_RUN, max(PREDICT))
    return {"t_instance_s": round(t_instance, 5), "t_range_s": round(t_range, 4), "t_fixed_s": round(t_fixed, 3),
            "t_ray_round_trip_s": round(round_trip, 5),
            f"predicted_instances_per_s_{instances}_instances_{parts}_ranges": predicted,
            f"predicted_instances_per_s_{instances}_instances_default_ranges": predicted_default,
            f"predicted_instances_per_s_{LARGE_RUN}_instances_default_ranges": predicted_large,
            "driver_bound_instances_per_s_large_run": round(LARGE_RUN / large_ranges / round_trip, 1),
            "assumes": "one core per worker, ranges of equal cost, inputs and results moved by Ray's object store "
                       "(measured on loopback), the driver's serial work per range at most Ray's round trip"}


def summary(report: dict) -> list[str]:
    """The lines the benchmark prints."""
    if "skipped" in report:
        return [f"montecarlo: {report['skipped']}, not measured"]
    rates, model = report["instances_per_s"], report["model"]
    key = next(k for k in model if k.startswith(f"predicted_instances_per_s_{report['instances']}_instances_")
               and k.endswith("_ranges") and "default" not in k)
    large = next(k for k in model if k.startswith("predicted_instances_per_s_") and k.endswith("default_ranges")
                 and not k.startswith(f"predicted_instances_per_s_{report['instances']}_"))
    return [
        "montecarlo: " + ", ".join(f"{w} worker(s) {r['median']} instances/s ({r['min']}-{r['max']})"
                                   for w, r in rates.items())
        + f"; single process {report['single_process']['instances_per_s']}",
        f"montecarlo scaling: 1 -> 2 workers {report['speedup']['2']:.2f}x (goal >= 1.8x: "
        f"{'met' if report['met'] else 'NOT met'}), 1 -> 4 workers {report['speedup']['4']:.2f}x on "
        f"{report['cores']} cores; bit-identical to one process: {report['identical_to_single_process']}",
        "montecarlo compute time / cluster CPU time: " + ", ".join(
            f"{c:.2f} with {w}" for w, c in report["compute_over_cluster_cpu"].items()) + " (1.0 = a core each)",
        "montecarlo CPU s per run (median): " + ", ".join(
            f"{w} worker(s): driver {statistics.median(r['driver_cpu_s'] for r in rs):.2f}, other jobs "
            f"{statistics.median(r['other_jobs_cpu_s'] for r in rs):.2f}" for w, rs in report["runs"].items()),
        f"montecarlo model: t_instance {model['t_instance_s'] * 1e3:.2f} ms, t_range {model['t_range_s'] * 1e3:.1f} ms, "
        f"t_fixed {model['t_fixed_s']:.2f} s, Ray round trip {model['t_ray_round_trip_s'] * 1e3:.2f} ms per range",
        "montecarlo model (instances/s, this run): " + ", ".join(f"{w}: {v}" for w, v in model[key].items()),
        f"montecarlo model (instances/s, {LARGE_RUN} instances): " + ", ".join(
            f"{w}: {v}" for w, v in model[large].items()),
    ]


def main(argv=None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1600)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--parts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    report = run(args.instances, args.samples, args.parts, args.repeats)
    print("\n".join(summary(report)))
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
