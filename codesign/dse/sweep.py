"""Multi-objective design-space sweeps with NSGA-II over an Optuna study: resumable, parallel,
and the same result however they run.

The study lives in an Optuna storage (``OUT/study.db`` by default, or any RDB URL such as a
shared PostgreSQL). This process plans: it queues each NSGA-II round of trials in the study
(``codesign.dse.generations``), and N workers (processes here, or Ray tasks on a cluster) take
them (``codesign.dse.worker``). Workers that die are replaced and their trials run again;
killing this process and re-running the same command resumes from the study. At the end this
process writes ``pareto.json``, one plot per target and the QONNX file of every Pareto point.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from codesign.dse.config import SweepConfig, load_config
from codesign.dse.doorbell import Doorbell, wait_or_sleep
from codesign.dse.generations import Planner, complete_slots
from codesign.dse.progress import Progress
from codesign.dse.results import SweepResult, TrialRecord, pareto_front, records  # noqa: F401 (public)
from codesign.dse.storage import HEARTBEAT_S, SweepError, fail, prepare_study, redact, storage_url
from codesign.errors import CodesignError, ParameterError
from codesign.outputs import open_run_directory, write_file

__all__ = ["SweepError", "SweepResult", "TrialRecord", "pareto_front", "records", "run_sweep"]

POLL_S = 0.5  # the planner reads the study at least this often
WATCH_S = 2.0  # ... or this often once workers ring it (codesign.dse.doorbell)
MIN_STEP_S = 0.05  # ... and, woken by workers, at most this often


def run_sweep(config: SweepConfig | str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
              workers: int | None = None, ray_address: str | None = None, storage: str | None = None,
              progress: bool = True, trials: int | None = None, heartbeat_s: float = HEARTBEAT_S) -> SweepResult:
    """Run (or resume) a sweep until its study holds ``config.trials`` complete trials.

    ``workers`` processes on this machine (default 2), or Ray tasks with ``ray_address`` ('auto'
    or 'HOST:PORT' for a running cluster, 'ray://HOST:10001' through Ray Client, 'local' to start
    Ray here; default: one per CPU of the cluster). ``storage``: None for ``out_dir/study.db``, or an
    Optuna RDB URL shared by several machines. ``heartbeat_s``: how often a worker reports that
    its trial is alive; a trial silent for 4 beats is failed and run again.
    """
    from codesign.data import load_dataset
    from codesign.dse.raycluster import import_ray

    started = time.perf_counter()
    if not isinstance(config, SweepConfig):
        config = load_config(config)
    if trials is not None:
        config = config.with_trials(trials)
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ParameterError(f"workers = {workers!r} must be a positive integer", hint="e.g. --workers 2")
    if not heartbeat_s > 0:
        raise ParameterError(f"heartbeat = {heartbeat_s!r} s must be positive", hint="e.g. --heartbeat 10")
    if ray_address:
        import_ray()
    out_dir = open_run_directory(out_dir if out_dir is not None else config.out or f"runs/sweep/{config.study_name}")
    try:
        data = load_dataset(config.dataset, seed=config.seed)
    except CodesignError as exc:
        raise SweepError(f"{config.source}: dataset: {exc.message}", hint=exc.hint) from None
    url = storage_url(out_dir, storage)
    local = storage is None
    with _exclusive(out_dir) if local else contextlib.nullcontext():
        study = prepare_study(config, url, local=local, heartbeat_s=heartbeat_s)
        before = complete_slots(study)
        write_file(out_dir / "config.json", json.dumps(
            {"source": config.source, "storage": redact(url), **config.to_dict(),
             "objectives": config.objective_names()}, indent=2, sort_keys=True, default=list) + "\n", replace="own")
        planner = Planner(config, study)
        done = planner.step()
        if not planner.done:
            job = {"config": config, "out_dir": str(out_dir.resolve()), "storage": url, "trials": config.trials,
                   "study_name": config.study_name, "heartbeat_s": heartbeat_s}
            with Progress(config.trials, initial=done, desc=f"sweep {config.study_name}", unit="trial",
                          enabled=progress) as bar:
                if ray_address:
                    from codesign.dse.raycluster import cluster_cpus, connect

                    with connect(ray_address, cpus=workers or 2) as ray, _doorbell(ray) as bell:
                        count = workers or cluster_cpus(ray)
                        job["doorbell"] = bell and bell.address
                        _drive(planner, _ray_workers(ray, job, count, config), bar, study, local, bell)
                else:
                    with _doorbell(None) as bell:
                        job["doorbell"] = bell and bell.address
                        _drive(planner, _process_workers(job, workers or 2, config), bar, study, local, bell)
        return _finish(config, study, url, out_dir, data, before, started)


def _process_workers(job: dict, count: int, config: SweepConfig):
    from codesign.dse.executors import ProcessWorkers

    jobs = [{**job, "worker": i, "parent_pid": os.getpid()} for i in range(min(count, config.trials))]
    return ProcessWorkers(jobs)


def _ray_workers(ray, job: dict, count: int, config: SweepConfig):
    from codesign.dse.executors import RayWorkers

    return RayWorkers(ray, [{**job, "worker": i} for i in range(min(count, config.trials))])


@contextlib.contextmanager
def _doorbell(ray):
    """The planner's doorbell, on the address Ray's workers reach this process at (loopback for
    local processes); None when none can be bound: then planner and workers only poll."""
    host = None
    if ray is not None:
        with contextlib.suppress(Exception):
            host = ray.util.get_node_ip_address()
    bell = Doorbell.open(host)
    try:
        yield bell
    finally:
        if bell is not None:
            bell.close()


def _drive(planner: Planner, workers, bar: Progress, study, local: bool, bell: Doorbell | None = None) -> None:
    """Plan rounds and watch the workers until every slot is complete.

    A step reads the whole study, so it runs only when it can change something: when workers
    rang (each after a finished trial) at least as often as the open round has unsettled slots
    (the round may be complete: plan the next one and ring every known worker), at most every
    ``MIN_STEP_S`` (or twice the last step's time, if longer), and at every watch of the workers
    (lost processes, stale heartbeats, slots to queue again, trials finished by another
    planner's workers), every ``POLL_S``; once workers have rung (the doorbell works) every
    ``WATCH_S``, which only delays noticing a lost worker."""
    import warnings

    import optuna

    callers: set = set()
    rings = 0  # rings since the last step
    watched = -float("inf")
    try:
        while True:
            began = time.monotonic()
            interval = WATCH_S if callers else POLL_S
            watch = began - watched >= interval - MIN_STEP_S
            if watch:
                watched = began
                running = workers.poll()
                _fail_trials_of_gone_workers(study)
                if not local:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        optuna.storages.fail_stale_trials(study)
            if watch or rings >= planner.unsettled:
                rings = 0
                queued = planner.queued
                bar.set(planner.step())
                if planner.done:
                    break
                if bell and planner.queued > queued:
                    for caller in callers:
                        bell.ring(caller)
                spent = time.monotonic() - began
                pause = max(MIN_STEP_S, 2 * spent)
                time.sleep(pause - spent)
            if watch and running == 0:
                raise SweepError("every sweep worker stopped before the sweep was complete",
                                 hint="finished trials are kept; re-run the same command to resume")
            rang = wait_or_sleep(bell, watched + interval - time.monotonic())
            callers.update(rang)
            rings += len(rang)
        for caller in callers:  # the sweep is complete: workers return at once
            bell.ring(caller)
        deadline = time.monotonic() + 30  # workers notice the end within a poll; don't wait forever
        while workers.poll() and time.monotonic() < deadline:
            time.sleep(0.05 if bell else POLL_S)
    finally:
        workers.stop()


def _fail_trials_of_gone_workers(study) -> None:
    """Fail at once the running trials of worker processes of this machine that have exited
    (elsewhere, the heartbeat going stale does it); the planner queues their slots again."""
    from optuna.trial import TrialState

    from codesign.dse.worker import is_gone

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if isinstance(worker, dict) and worker.get("trial") == trial.number and is_gone(worker["id"]):
            fail(study, trial, f"worker {worker['id']} exited")


@contextlib.contextmanager
def _exclusive(out_dir: Path):
    """One sweep per output directory on this machine (its SQLite study and trial folders)."""
    import fcntl

    handle = open(out_dir / ".sweep.lock", "w")  # noqa: SIM115 (held for the whole sweep)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SweepError(f"another sweep is running in {out_dir}",
                             hint="wait for it, or pass another --out") from None
        yield
    finally:
        handle.close()


def _finish(config, study, url, out_dir, data, before, started) -> SweepResult:
    from codesign.dse.results import finish

    return finish(config, study, url, out_dir, data, before, started)
