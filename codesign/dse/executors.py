"""Where sweep workers run: spawned processes on this machine, or Ray tasks on a cluster.

Both keep ``len(jobs)`` workers alive while the sweep runs. A worker that dies (killed, out of
memory, its node lost) is replaced: Ray retries its task (``max_retries``); here a fresh
process takes its place. What it was running is failed (at once when the process was on this
machine, else when its heartbeat stops) and queued again through the study,
so nothing else depends on which worker ran what. A worker that raises (a broken environment,
not a trial: trial errors are recorded in the study) stops the sweep with its error.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from codesign.dse.storage import SweepError
from codesign.dse.worker import work

RESTARTS_PER_WORKER = 3


class ProcessWorkers:
    """One single-process pool per worker: a killed worker breaks only its own pool."""

    def __init__(self, jobs: list[dict]):
        self.jobs = jobs
        self.context = multiprocessing.get_context("spawn")  # torch and fork do not mix
        self.pools: dict[int, ProcessPoolExecutor] = {}
        self.futures: dict[int, object] = {}
        self.restarts = 0
        for i in range(len(jobs)):
            self._start(i)

    def _start(self, i: int) -> None:
        pool = ProcessPoolExecutor(max_workers=1, mp_context=self.context)
        self.pools[i], self.futures[i] = pool, pool.submit(work, self.jobs[i])

    def poll(self) -> int:
        """Workers still running; restarts dead ones, raises a worker's own error."""
        running = 0
        for i, future in list(self.futures.items()):
            if not future.done():
                running += 1
                continue
            exc = future.exception()
            if exc is None:
                continue
            if isinstance(exc, BrokenProcessPool):
                self.restarts += 1
                if self.restarts > RESTARTS_PER_WORKER * len(self.jobs):
                    raise SweepError(f"sweep workers died {self.restarts} times (killed, or out of memory)",
                                     hint="finished trials are kept; check memory and re-run to resume")
                self.pools[i].shutdown(wait=False)
                self._start(i)
                running += 1
                continue
            raise exc
        return running

    def stop(self) -> None:
        for i, pool in self.pools.items():
            if not self.futures[i].done():  # interrupted, or another worker failed: end it now
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    with contextlib.suppress(Exception):
                        process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)


class RayWorkers:
    """One Ray task per worker (one CPU each); Ray re-runs a task whose worker or node died."""

    def __init__(self, ray, jobs: list[dict]):
        self.ray = ray
        self.task = ray.remote(num_cpus=1, max_retries=RESTARTS_PER_WORKER, retry_exceptions=False)(work)
        self.refs = {self.task.remote(job): job for job in jobs}
        self.resubmits = 0

    def poll(self) -> int:
        ray = self.ray
        if not self.refs:
            return 0
        ready, pending = ray.wait(list(self.refs), num_returns=len(self.refs), timeout=0)
        for ref in ready:
            try:
                ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the worker function raised
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                raise cause from None
            except ray.exceptions.RayError as exc:  # retries used up (worker or node lost)
                self.resubmits += 1
                if self.resubmits > len(self.refs):
                    raise SweepError(f"Ray workers were lost too often: {str(exc).splitlines()[0]}",
                                     hint="finished trials are kept; check the cluster and re-run to resume") from None
                job = self.refs.pop(ref)
                self.refs[self.task.remote(job)] = job
                continue
            self.refs.pop(ref)
        return len(self.refs)

    def stop(self) -> None:
        for ref in self.refs:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
