"""Multi-objective design-space sweeps with Optuna's NSGA-II, resumable and parallel.

The study lives in an Optuna storage (``OUT/study.db`` by default, or any RDB URL); N workers
(processes on this machine, or Ray tasks) each load the study and run trials against it, so
the storage is the only scheduler.  Every worker stops when the study holds the requested
number of finished or running trials, which is also what makes a re-run resume: it only adds
the trials still missing.  At the end the parent writes ``pareto.json``, one plot per target
and the QONNX file of every Pareto point.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.dse.config import SweepConfig, load_config
from codesign.errors import BackendError, CodesignError, NonFiniteError, ParameterError

HEARTBEAT_S = 20
GRACE_S = 90
SQLITE_TIMEOUT_S = 120
MAX_CONSECUTIVE_FAILURES = 3
POLL_S = 1.0
SURPLUS = "surplus"


class SweepError(CodesignError):
    """A sweep cannot start or continue (busy output directory, other study, failing trials)."""


@dataclass
class TrialRecord:
    number: int
    params: dict[str, Any]
    objectives: dict[str, float]
    metrics: dict[str, float]
    trial_dir: str  # relative to the output directory
    duplicate_of: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.number, "params": self.params, "objectives": self.objectives, "metrics": self.metrics,
                "trial_dir": self.trial_dir, "duplicate_of": self.duplicate_of, "seconds": self.seconds}


@dataclass
class SweepResult:
    out_dir: Path
    storage: str
    study_name: str
    objectives: list[str]
    directions: list[str]
    trials: list[TrialRecord]  # every complete trial
    pareto: list[TrialRecord]  # Pareto-optimal trials (duplicates folded into their first occurrence)
    new_trials: int  # trials completed by this call
    seconds: float
    plots: list[Path] = field(default_factory=list)

    @property
    def pareto_json(self) -> Path:
        return self.out_dir / "pareto.json"


# -- storage ----------------------------------------------------------------------------------------
def storage_url(out_dir: Path, storage: str | None) -> str:
    """``None``: SQLite in the output directory; a plain path: that SQLite file; else an RDB URL."""
    if storage is None:
        return f"sqlite:///{(out_dir / 'study.db').resolve()}"
    if "://" not in storage:
        return f"sqlite:///{Path(storage).resolve()}"
    return storage


def open_storage(url: str):
    """An RDBStorage with heartbeats (stale trials of crashed workers are failed and retried) and,
    for SQLite, a long lock timeout so that several processes can share the file."""
    import optuna
    from optuna.storages import RDBStorage

    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 5
            retry = {"heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)}
        else:
            retry = {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=2)}
        try:
            return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                              **retry)
        except ImportError as exc:
            driver = exc.name or str(exc).splitlines()[0]
            raise SweepError(f"storage {redact(url)} needs a database driver that is not installed ({driver})",
                             hint="pip install it (e.g. psycopg2-binary for PostgreSQL, pymysql for MySQL)") from None
        except Exception as exc:  # sqlalchemy errors: bad URL, unreachable server
            raise SweepError(f"cannot open storage {redact(url)}: {str(exc).splitlines()[0]}",
                             hint="check the --storage URL (e.g. postgresql://user:pass@host/db)") from None


def redact(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url


def _trials(study, *states):
    return study.get_trials(deepcopy=False, states=states or None)


def _budget_used(study, below: int | None = None) -> int:
    """Trials that count towards the budget: complete, running or waiting (not failed, not surplus)."""
    from optuna.trial import TrialState

    return sum(1 for t in _trials(study, TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
               if below is None or t.number < below)


# -- the worker (a process or a Ray task) --------------------------------------------------------------
def work(job: dict[str, Any]) -> dict[str, Any]:
    """Run trials against the shared study until the budget is used; returns counts."""
    import logging

    import optuna
    import torch

    from codesign.data import load_dataset
    from codesign.dse.evaluate import evaluate, suggest

    warnings.filterwarnings("ignore")
    logging.getLogger("optuna").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    config: SweepConfig = job["config"]
    out_dir = Path(job["out_dir"])
    names = config.objective_names()
    storage = open_storage(job["storage"])
    sampler = optuna.samplers.NSGAIISampler(seed=job["sampler_seed"], population_size=config.population_size)
    study = optuna.load_study(study_name=job["study_name"], storage=storage, sampler=sampler)
    data = load_dataset(config.dataset, seed=config.seed)
    _warm_up()
    state = {"error": None, "diverged": False, "ran": 0, "duplicates": 0}

    def objective(trial):
        state["error"] = None
        if _budget_used(study, below=trial.number) >= config.trials:
            trial.set_user_attr(SURPLUS, True)
            raise optuna.TrialPruned("the study already has its trials")
        params = suggest(trial, config)
        if config.reuse_duplicates:
            from optuna.trial import TrialState

            for other in _trials(study, TrialState.COMPLETE):
                if other.params == trial.params and other.number != trial.number:
                    origin = other.user_attrs.get("duplicate_of", other.number)
                    for key, value in other.user_attrs.items():
                        trial.set_user_attr(key, value)
                    trial.set_user_attr("duplicate_of", origin)
                    state["duplicates"] += 1
                    return list(other.values)
        try:
            outcome = evaluate(config, params, data, out_dir / "trials" / str(trial.number))
        except Exception as exc:
            message = exc.one_line() if isinstance(exc, CodesignError) else f"{type(exc).__name__}: {exc}"
            state["error"], state["diverged"] = message, isinstance(exc, NonFiniteError)
            trial.set_user_attr("error", message)
            raise
        trial.set_user_attr("metrics", outcome.metrics)
        trial.set_user_attr("trial_dir", f"trials/{trial.number}")
        trial.set_user_attr("seconds", outcome.seconds)
        trial.set_user_attr("cpu_seconds", outcome.cpu_seconds)
        trial.set_user_attr("worker", f"{platform.node()}:{os.getpid()}")
        trial.set_user_attr("hidden", params["hidden"])
        state["ran"] += 1
        return outcome.objectives(names)

    failures = diverged = 0
    while _budget_used(study) < config.trials:
        study.optimize(objective, n_trials=1, catch=(Exception,))
        if state["error"] is None:
            failures = 0
            continue
        if state["diverged"]:  # a property of the design point (training blew up): try another one
            diverged += 1
            if diverged <= max(config.trials, 10):
                continue
        failures += 1
        if failures >= MAX_CONSECUTIVE_FAILURES or diverged:
            raise SweepError(f"{failures + diverged} trials failed, the last with: {state['error']}",
                             hint="fix the config or the environment; finished trials are kept and a re-run resumes")
    return {"worker": job["worker"], "trials": state["ran"], "duplicates": state["duplicates"]}


def _warm_up() -> None:
    """Import what the first trial would import lazily (a worker's start-up, not a slow first trial)."""
    import brevitas.export  # noqa: F401
    import qonnx.util.cleanup  # noqa: F401

    import codesign.quant  # noqa: F401
    import codesign.quant.export  # noqa: F401


# -- the parent ----------------------------------------------------------------------------------------
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


def _prepare_study(config: SweepConfig, url: str, *, local: bool):
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    names, directions = config.objective_names(), config.directions()
    study = optuna.create_study(study_name=config.study_name, storage=storage, directions=directions,
                                load_if_exists=True)
    stored = study.user_attrs.get("fingerprint")
    if stored is None:
        study.set_user_attr("fingerprint", config.fingerprint())
        study.set_user_attr("objectives", names)
        study.set_user_attr("config", json.loads(json.dumps(config.to_dict(), default=list)))
    elif stored != config.fingerprint():
        raise SweepError(f"study {config.study_name!r} in {redact(url)} was started with a different config "
                         f"(objectives {', '.join(study.user_attrs.get('objectives', []))})",
                         hint="only trials may change when resuming: use another --out, --storage or study_name")
    if local:
        # Nobody else can be using this directory's study (we hold its lock): trials left running by
        # an interrupted sweep are dead, fail them so that the budget counts them no more.
        for trial in _trials(study, TrialState.RUNNING):
            with contextlib.suppress(Exception):
                study._storage.set_trial_user_attr(trial._trial_id, "error", "interrupted")
                study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)
    return study


def _complete(study) -> int:
    from optuna.trial import TrialState

    return len(_trials(study, TrialState.COMPLETE))


def _launch_processes(jobs: list[dict], study, config: SweepConfig, progress: bool) -> list[dict]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")  # torch and fork do not mix
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        futures = [pool.submit(work, job) for job in jobs]

        def pending():
            done, rest = wait(futures, timeout=POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                if future.exception() is not None:
                    for other in futures:
                        other.cancel()
                    raise future.exception()
            return bool(rest)

        _watch(study, config, pending, progress)
        return [f.result() for f in futures]


def import_ray():
    try:
        import ray
    except ImportError:
        raise BackendError("--ray-address needs Ray, which is not installed",
                           hint="pip install 'ray[default]'") from None
    return ray


def _launch_ray(jobs: list[dict], study, config: SweepConfig, progress: bool, address: str) -> list[dict]:
    ray = import_ray()
    owned = not ray.is_initialized()
    if owned:
        kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                                  "logging_level": "ERROR", "include_dashboard": False}
        if address == "local":
            kwargs["num_cpus"] = len(jobs)
        else:
            kwargs["address"] = address
        try:
            ray.init(**kwargs)
        except Exception as exc:
            raise SweepError(f"cannot connect to Ray at {address!r}: {str(exc).splitlines()[0]}",
                             hint="start a cluster with `ray start --head`, or use --ray-address local") from None
    try:
        return _run_ray_tasks(ray, jobs, study, config, progress)
    finally:
        if owned:  # started (or connected) here: leave the interpreter as we found it
            ray.shutdown()


def _run_ray_tasks(ray, jobs: list[dict], study, config: SweepConfig, progress: bool) -> list[dict]:
    task = ray.remote(num_cpus=1, max_retries=0)(work)
    refs = [task.remote(job) for job in jobs]

    def pending():
        ready, rest = ray.wait(refs, num_returns=len(refs), timeout=POLL_S)
        for ref in ready:
            try:
                ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                for other in refs:
                    ray.cancel(other, force=True)
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                raise cause from None
        return bool(rest)

    _watch(study, config, pending, progress)
    return ray.get(refs)


def _watch(study, config: SweepConfig, pending, progress: bool) -> None:
    """Poll the storage for finished trials while workers run: a progress bar with an ETA."""
    from tqdm.auto import tqdm

    start = _complete(study)
    bar = tqdm(total=config.trials, initial=start, desc=f"sweep {config.study_name}", unit="trial",
               disable=not progress, dynamic_ncols=True)
    try:
        while pending():
            done = _complete(study)
            if done > bar.n:
                bar.update(done - bar.n)
        bar.update(max(_complete(study) - bar.n, 0))
    finally:
        bar.close()


def run_sweep(config: SweepConfig | str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
              workers: int = 2, ray_address: str | None = None, storage: str | None = None,
              progress: bool = True, trials: int | None = None) -> SweepResult:
    """Run (or resume) a sweep until its study holds ``config.trials`` complete trials.

    ``workers`` processes on this machine, or Ray tasks with ``ray_address`` ('auto' for a running
    cluster, 'local' to start one here, or 'ray://host:10001'). ``storage``: None for
    ``out_dir/study.db``, or an Optuna RDB URL shared by several machines.
    """
    from codesign.data import load_dataset

    started = time.perf_counter()
    if not isinstance(config, SweepConfig):
        config = load_config(config)
    if trials is not None:
        config = config.with_trials(trials)
    if not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"workers = {workers!r} must be a positive integer", hint="e.g. --workers 2")
    if ray_address:
        import_ray()
    out_dir = Path(out_dir if out_dir is not None else config.out or f"runs/sweep/{config.study_name}")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        data = load_dataset(config.dataset, seed=config.seed)
    except CodesignError as exc:
        raise SweepError(f"{config.source}: dataset: {exc.message}", hint=exc.hint) from None
    url = storage_url(out_dir, storage)
    local = storage is None
    with _exclusive(out_dir) if local else contextlib.nullcontext():
        study = _prepare_study(config, url, local=local)
        before = _complete(study)
        (out_dir / "config.json").write_text(json.dumps(
            {"source": config.source, "storage": redact(url), **config.to_dict(),
             "objectives": config.objective_names()}, indent=2, sort_keys=True, default=list) + "\n")
        missing = config.trials - _budget_used(study)
        if missing > 0:
            count = min(workers, missing)
            base = (config.seed * 1_000_003 + 7919 * len(study.trials)) % 2**31
            jobs = [{"config": config, "out_dir": str(out_dir.resolve()), "storage": url,
                     "study_name": config.study_name, "worker": i, "sampler_seed": (base + i) % 2**31}
                    for i in range(count)]
            if ray_address:
                _launch_ray(jobs, study, config, progress, ray_address)
            else:
                _launch_processes(jobs, study, config, progress)
        return _finish(config, study, url, out_dir, data, before, started)


# -- outputs ---------------------------------------------------------------------------------------
def records(study, config: SweepConfig) -> list[TrialRecord]:
    from optuna.trial import TrialState

    names = config.objective_names()
    result = []
    for trial in sorted(_trials(study, TrialState.COMPLETE), key=lambda t: t.number):
        attrs = trial.user_attrs
        result.append(TrialRecord(trial.number, dict(trial.params), dict(zip(names, trial.values)),
                                  dict(attrs.get("metrics", {})), attrs.get("trial_dir", f"trials/{trial.number}"),
                                  attrs.get("duplicate_of"), float(attrs.get("seconds", 0.0))))
    return result


def pareto_front(trials: list[TrialRecord], names: list[str], directions: list[str]) -> list[TrialRecord]:
    """Non-dominated trials; a duplicate of an earlier trial is left out (its original is there),
    and so is a constant classifier (one class for every input: no logic, majority accuracy)."""
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]

    def score(t: TrialRecord) -> list[float]:
        return [s * t.objectives[n] for s, n in zip(signs, names)]

    unique = [t for t in trials if t.duplicate_of is None and not is_constant(t)]
    front = []
    for t in unique:
        a = score(t)
        dominated = any(all(x >= y for x, y in zip(score(o), a)) and any(x > y for x, y in zip(score(o), a))
                        for o in unique if o is not t)
        if not dominated:
            front.append(t)
    return front


def is_constant(record: TrialRecord) -> bool:
    """A trial whose model (or a target's design of it) predicts one class for every test input."""
    return any(value for key, value in record.metrics.items() if key.endswith("constant_classifier"))


def _finish(config: SweepConfig, study, url: str, out_dir: Path, data, before: int, started: float) -> SweepResult:
    from codesign.dse.evaluate import reproduce

    names, directions = config.objective_names(), config.directions()
    trials = records(study, config)
    front = pareto_front(trials, names, directions)
    folder = out_dir / "pareto"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    entries = []
    for record in front:
        source = out_dir / record.trial_dir / "model.onnx"
        if not source.is_file():  # trained on another machine without a shared out_dir: re-run it here
            reproduce(config, record.params, out_dir / record.trial_dir, data)
        target = folder / f"{record.number}.onnx"
        shutil.copyfile(source, target)
        entries.append({**record.to_dict(), "model": str(target.relative_to(out_dir)),
                        "trial_model": f"{record.trial_dir}/model.onnx",
                        "estimates": f"{record.trial_dir}/estimates.json"})
    report = {"study": config.study_name, "storage": redact(url), "dataset": config.dataset, "seed": config.seed,
              "epochs": config.epochs, "objectives": [{"name": n, "direction": d} for n, d in zip(names, directions)],
              "complete_trials": len(trials), "requested_trials": config.trials,
              "duplicates": sum(1 for t in trials if t.duplicate_of is not None),
              "constant_classifiers": [t.number for t in trials if is_constant(t)], "pareto": entries}
    (out_dir / "pareto.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out_dir / "trials.json").write_text(json.dumps([t.to_dict() for t in trials], indent=2, sort_keys=True) + "\n")
    plots = []
    if trials:
        from codesign.dse.plots import pareto_plots

        plots = pareto_plots(config, trials, front, out_dir)
    return SweepResult(out_dir, redact(url), config.study_name, names, directions, trials, front,
                       max(len(trials) - before, 0), round(time.perf_counter() - started, 2), plots)
