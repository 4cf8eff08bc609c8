"""Crossbar Monte-Carlo on a Ray cluster: contiguous instance ranges as Ray tasks, merged.

A chip instance's result depends on (seed, instance) alone (``codesign.noise.montecarlo``), so
instances ``0 .. N-1`` are cut into contiguous ranges, each range is one Ray task running
``simulate_range``, and ``merge`` joins the partial results: the result equals one
``simulate()`` in one process bit for bit, whatever the number of ranges, the workers, the
nodes, or the order the ranges finish in.

Ray schedules the tasks (one CPU each) and re-runs a task whose worker process or node died
(``max_retries``); a task is a pure function of its arguments, so a re-run gives the same bits
and a lost worker changes nothing but the time.  The driver waits on the tasks with ``ray.wait``
and moves one progress bar over all instances as ranges finish.  ``workers`` bounds the tasks
in flight at once (Ray's pattern for limiting pending tasks); by default every range is
submitted and the cluster's CPUs set the concurrency.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections import deque
from typing import Any

import numpy as np

from codesign.cards import Card, load_card
from codesign.errors import CodesignError, ParameterError
from codesign.ir.graph import LayerGraph
from codesign.noise.montecarlo import MonteCarloResult, merge

MAX_RETRIES = 3  # Ray re-runs a task this often when its worker process or node dies
RANGES_PER_WORKER = 4  # finer progress and balance, and a lost worker re-runs less
MIN_RANGE = 16  # the simulator programs 16 instances at a time; smaller ranges waste that
WAIT_S = 1.0  # the driver wakes at least this often (Ctrl-C, progress refresh)


def split(instances: int, parts: int) -> list[range]:
    """``parts`` contiguous ranges tiling ``range(instances)``, sizes differing by at most one."""
    _positive("instances", instances)
    _positive("parts", parts)
    if parts > instances:
        raise ParameterError(f"parts = {parts} is more than the {instances} instances",
                             hint="use at most one range per instance")
    size, extra = divmod(instances, parts)
    bounds = [0]
    for index in range(parts):
        bounds.append(bounds[-1] + size + (index < extra))
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]


def default_parts(instances: int, workers: int) -> int:
    """About ``RANGES_PER_WORKER`` ranges per worker, ranges of at least ``MIN_RANGE`` instances
    where the run is large enough, and never fewer ranges than workers (up to one per instance)."""
    return min(instances, max(workers, min(RANGES_PER_WORKER * workers, math.ceil(instances / MIN_RANGE))))


# per worker process: the prepared simulation of the run it last worked for (mapping, layer
# plans, quantised inputs: everything that does not depend on the instance range), so only a
# worker's first range of a run pays for it and for fetching the model and the inputs
_prepared: dict[str, Any] = {}


def simulate_part(run: str, shared: list, start: int, stop: int, seed: int, options: dict[str, Any]) -> MonteCarloResult:
    """One Ray task: chip instances ``start .. stop-1`` on one thread (the task holds one CPU).

    ``run`` names the distributed run (unique per ``simulate`` call); ``shared`` holds the object
    references of the graph, card, inputs and labels, nested in a list so that Ray does not fetch
    and deserialise them for every task: a worker gets them only when it has not yet prepared
    this run."""
    import ray
    import torch

    from codesign.backends.crossbar.simulator import prepare

    torch.set_num_threads(1)
    prepared = _prepared.get(run)
    if prepared is None:
        graph, card, x, y = (None if ref is None else ray.get(ref) for ref in shared)
        prepared = prepare(graph, card, x, y, seed=seed, **options)
        _prepared.clear()  # one run at a time per worker: drop the previous run's state
        _prepared[run] = prepared
    return prepared.run(range(start, stop))


def simulate(graph: LayerGraph, card: Card | str, x: np.ndarray, y: np.ndarray | None = None, *,
             instances: int = 20, seed: int = 0, ray_address: str = "auto", parts: int | None = None,
             workers: int | None = None, progress: bool = False, max_retries: int = MAX_RETRIES,
             **options: Any) -> MonteCarloResult:
    """``codesign.backends.crossbar.simulate`` with the instances split over a Ray cluster.

    ``ray_address``: 'auto' (the cluster started on this machine), 'HOST:PORT', 'ray://HOST:10001'
    (Ray Client) or 'local' (start Ray in this process); an already initialised Ray is used as is.
    ``parts``: number of contiguous instance ranges (default: about 4 per worker, at least 16
    instances each).  ``workers``: tasks in flight at once (default: all; the cluster's CPUs
    bound them).  ``options`` are the simulator's (noise, keep_logits, ...).  The result equals
    ``simulate(graph, card, x, y, instances=instances, seed=seed, **options)`` bit for bit; its
    ``seconds`` is the sum of the ranges' compute times.
    """
    from codesign.dse.raycluster import cluster_cpus, connect

    _positive("instances", instances)
    if workers is not None:
        _positive("workers", workers)
    if parts is not None:
        split(instances, parts)  # checks parts before connecting
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise ParameterError(f"max_retries = {max_retries!r} must be an integer >= 0", hint="use e.g. 3")
    if "instances" in options or "progress" in options:
        raise ParameterError("pass instances as a count; the progress bar is the driver's", hint="drop it")
    card = card if isinstance(card, Card) else load_card(card)
    x = np.asarray(x)
    with connect(ray_address, cpus=workers) as ray:
        concurrency = workers or cluster_cpus(ray)
        ranges = split(instances, parts or default_parts(instances, concurrency))
        task = ray.remote(simulate_part).options(num_cpus=1, max_retries=max_retries, retry_exceptions=False)
        shared = [ray.put(value) for value in (graph, card, x, None if y is None else np.asarray(y))]
        run = uuid.uuid4().hex
        return _run(ray, lambda span: task.remote(run, shared, span.start, span.stop, seed, options), ranges,
                    workers, instances, progress, f"{graph.name} on {card.name}")


def _run(ray, submit, ranges: list[range], workers: int | None, instances: int, progress: bool,
         description: str) -> MonteCarloResult:
    """Submit the ranges (at most ``workers`` in flight), collect them as they finish, merge."""
    from codesign.dse.progress import Progress

    waiting, running, parts, done = deque(ranges), {}, [], 0
    try:
        with Progress(instances, desc=description, unit="chip", enabled=progress) as bar:
            while waiting or running:
                while waiting and (workers is None or len(running) < workers):
                    span = waiting.popleft()
                    running[submit(span)] = span
                ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)
                if ready:  # and every other range finished meanwhile: one pass per batch, not per range
                    ready, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
                for ref in ready:
                    span = running.pop(ref)
                    parts.append(_result(ray, ref, span))
                    done += len(span)
                    bar.set(done)
    finally:
        for ref in running:  # an error, or Ctrl-C: stop what still runs
            with contextlib.suppress(Exception):  # already finished, or its worker is gone
                ray.cancel(ref, force=True)
    return merge(parts)


def _result(ray, ref, span: range) -> MonteCarloResult:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # the simulation raised: the user's error, or a bug
        cause = getattr(exc, "cause", None)
        raise (cause if isinstance(cause, Exception) else exc) from None
    except ray.exceptions.RayError as exc:  # retries used up: workers or nodes kept dying
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CodesignError(f"chip instances {span.start}..{span.stop - 1} were lost with their Ray worker "
                            f"more often than the retries allow ({first[:160]})",
                            hint="check the cluster's nodes and memory, then run again") from None


def _positive(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ParameterError(f"{name} = {value!r} must be a positive integer", hint="use e.g. 100")
