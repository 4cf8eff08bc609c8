"""A sweep worker (a process or a Ray task): take queued trials from the study and run them.

Workers never choose design points: the planner (``codesign.dse.generations``) queues them.
A worker pops the lowest queued trial (``study.ask``), sends heartbeats while it runs, skips
it when another copy of the same slot is ahead of it, and otherwise trains and estimates it into
``trials/<slot>``. Every trial records which process runs it (``worker_id``), so that a planner
on the same machine can tell at once when that process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import warnings
from pathlib import Path
from typing import Any

from codesign.dse.config import SweepConfig
from codesign.dse.doorbell import Doorbell, wait_or_sleep
from codesign.dse.generations import DIVERGED, SLOT, complete_slots
from codesign.dse.storage import open_storage
from codesign.errors import CodesignError, NonFiniteError

POLL_S = 0.5
SURPLUS = "surplus"


def worker_id(pid: int | None = None) -> str:
    """host, PID namespace, PID and start time of a process: unique, and checkable on its machine."""
    import psutil

    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{_pid_namespace()}:{pid}:{psutil.Process(pid).create_time():.2f}"


def is_gone(identity: str) -> bool:
    """True when ``identity`` names a process of this machine (and PID namespace) that has exited;
    False when it is alive or elsewhere (the heartbeat covers those)."""
    import psutil

    host, namespace, pid, started = (identity.rsplit(":", 3) + ["", "", "", ""])[:4]
    if host != socket.gethostname() or namespace != _pid_namespace() or not pid.isdigit():
        return False
    try:
        return f"{psutil.Process(int(pid)).create_time():.2f}" != started
    except psutil.NoSuchProcess:
        return True


def _ray_node() -> str | None:
    """The Ray node this worker runs on, when it is a Ray task."""
    import sys

    if "ray" not in sys.modules:
        return None
    ray = sys.modules["ray"]
    try:
        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:
        return None


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def work(job: dict[str, Any]) -> dict[str, Any]:
    """Run queued trials until the study holds ``job['trials']`` complete slots; returns counts."""
    import logging

    import optuna
    import torch

    from codesign.data import load_dataset

    warnings.filterwarnings("ignore")
    logging.getLogger("optuna").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    config: SweepConfig = job["config"]
    storage = open_storage(job["storage"], job.get("heartbeat_s", 10.0))
    # queued trials carry fixed parameters: the sampler is never asked for a design point
    study = optuna.load_study(study_name=job["study_name"], storage=storage,
                              sampler=optuna.samplers.RandomSampler(seed=0))
    data = load_dataset(config.dataset, seed=config.seed)
    _warm_up()
    counts = {"worker": job["worker"], "trials": 0, "duplicates": 0, "skipped": 0}
    objective = _Objective(config, study, data, Path(job["out_dir"]), counts)
    parent = job.get("parent_pid")
    planner = job.get("doorbell")  # the planner's doorbell address (None: poll only)
    bell = Doorbell.open(_host()) if planner else None
    try:
        if bell:
            bell.ring(planner)  # the planner learns where to ring this worker
        _work_loop(study, storage, objective, job["trials"], parent, bell, planner)
    finally:
        if bell:
            bell.close()
    return counts


def _work_loop(study, storage, objective, trials: int, parent: int | None, bell: Doorbell | None, planner) -> None:
    import optuna
    from optuna.trial import TrialState

    while True:
        _exit_if_orphaned(parent)
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            if complete_slots(study) >= trials:
                return
            wait_or_sleep(bell, POLL_S)  # the planner rings when it queued trials or the sweep is done
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)  # and queue their retries
        trial = study.ask()
        values, state = None, None
        with _heartbeat(storage, trial._trial_id, parent):
            try:
                values = objective(trial)
            except optuna.TrialPruned:
                state = TrialState.PRUNED
            except Exception:
                state = TrialState.FAIL
        # a trial failed meanwhile as stale (its heartbeat came late) stays failed: its retry runs it
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            study.tell(trial, values, state=state, skip_if_finished=True)
        if bell:
            bell.ring(planner)  # maybe the round's last trial: the planner plans the next one now


def _host() -> str:
    """Where this worker's doorbell listens: its Ray node's address, else loopback."""
    import sys

    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        with contextlib.suppress(Exception):
            return sys.modules["ray"].util.get_node_ip_address()
    return "127.0.0.1"


def _exit_if_orphaned(parent: int | None) -> None:
    """A worker process whose sweep process was killed stops (a re-run of the sweep takes over)."""
    if parent is not None and os.getppid() != parent:
        os._exit(1)


@contextlib.contextmanager
def _heartbeat(storage, trial_id: int, parent: int | None = None):
    """Record the trial's heartbeat every interval from a thread while the trial runs."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            _exit_if_orphaned(parent)
            with contextlib.suppress(Exception):
                storage.record_heartbeat(trial_id)
            if stop.wait(storage.get_heartbeat_interval()):
                return

    thread = threading.Thread(target=beat, name="codesign-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class _Objective:
    def __init__(self, config: SweepConfig, study, data, out_dir: Path, counts: dict):
        self.config, self.study, self.data, self.out_dir, self.counts = config, study, data, out_dir, counts
        self.names = config.objective_names()

    def __call__(self, trial) -> list[float]:
        import optuna
        from optuna.trial import TrialState

        from codesign.dse.evaluate import evaluate, suggest

        index = trial.user_attrs.get(SLOT)
        if index is None:  # nothing was queued when we asked: not a planned trial
            trial.set_user_attr(SURPLUS, True)
            raise optuna.TrialPruned("no queued trial")
        ahead = [t for t in self.study.get_trials(deepcopy=False)
                 if t.user_attrs.get(SLOT) == index and t.number < trial.number
                 and t.state in (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)]
        if ahead:  # queued twice (two planners, or a retry racing the planner): the first copy runs it
            trial.set_user_attr("copy_of", ahead[0].number)
            self.counts["skipped"] += 1
            raise optuna.TrialPruned(f"slot {index} is run by trial {ahead[0].number}")
        # which process runs this copy (retries inherit the attributes of the copy they replace,
        # so the check in the planner only believes a record naming this very trial)
        trial.set_user_attr("worker", {"trial": trial.number, "id": worker_id(), "node": _ray_node()})
        params = suggest(trial, self.config)
        if self.config.reuse_duplicates:
            earlier = self._earlier_result(trial.params, index)
            if earlier is not None:
                for key, value in earlier.user_attrs.items():
                    if key not in (SLOT, "round", "worker", "copy_of"):
                        trial.set_user_attr(key, value)
                trial.set_user_attr("duplicate_of", earlier.user_attrs[SLOT])
                self.counts["duplicates"] += 1
                return list(earlier.values)
        scratch = self.out_dir / "trials" / f".tmp-{index}-{trial.number}"
        try:
            outcome = evaluate(self.config, params, self.data, scratch)
        except Exception as exc:
            message = exc.one_line() if isinstance(exc, CodesignError) else f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("error", message)
            if isinstance(exc, NonFiniteError):
                trial.set_user_attr(DIVERGED, True)
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        _publish(scratch, self.out_dir / "trials" / str(index))
        trial.set_user_attr("metrics", outcome.metrics)
        trial.set_user_attr("trial_dir", f"trials/{index}")
        trial.set_user_attr("seconds", outcome.seconds)
        trial.set_user_attr("cpu_seconds", outcome.cpu_seconds)
        trial.set_user_attr("thread_cpu_seconds", outcome.thread_cpu_seconds)
        trial.set_user_attr("hidden", params["hidden"])
        self.counts["trials"] += 1
        return outcome.objectives(self.names)

    def _earlier_result(self, params: dict, index: int):
        """A complete trial of a lower slot with the same parameters (its results are this one's)."""
        from optuna.trial import TrialState

        same = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.params == params and t.user_attrs.get(SLOT, index) < index]
        return min(same, key=lambda t: t.user_attrs[SLOT]) if same else None


def _publish(scratch: Path, final: Path) -> None:
    """Move a finished trial folder into place; a folder left by an earlier copy is replaced
    (a trial's files are a pure function of its parameters)."""
    if final.exists():
        aside = final.with_name(f".old-{scratch.name}")
        os.replace(final, aside)
        shutil.rmtree(aside, ignore_errors=True)
    try:
        os.replace(scratch, final)
    except OSError:  # another copy published at the same moment: identical content
        shutil.rmtree(scratch, ignore_errors=True)


def _warm_up() -> None:
    """Import what the first trial would import lazily (a worker's start-up, not a slow first trial)."""
    import brevitas.export  # noqa: F401
    import qonnx.util.cleanup  # noqa: F401

    import codesign.quant  # noqa: F401
    import codesign.quant.export  # noqa: F401
