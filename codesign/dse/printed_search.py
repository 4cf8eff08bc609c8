"""The printed co-design search loop: trials asked from Optuna TPE in rounds, run in worker
processes, told back in trial order.

The sampler is asked only between rounds of ``ROUND`` trials, with every earlier trial finished and
a seed per trial number, so the trials (their numbers, parameters and seeds) are the same whatever
the number of workers, their timing, or an interruption and resume: the search is reproducible.
What one trial does and what it is scored by is in ``codesign.dse.printed``.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from codesign.dse.printed import (
    PrintedSearchConfig,
    Splits,
    hypervolume,
    make_splits,
    run_trial,
    seed_params,
    suggest,
)

ROUND = 2  # trials asked per round

_splits: dict[tuple, Splits] = {}  # per worker process: the data set's splits, read once


def _run_one(job: dict[str, Any]) -> tuple[int, float | None, str | None]:
    """One trial in a worker process: (trial number, objective, error)."""
    warnings.filterwarnings("ignore")
    config: PrintedSearchConfig = job["config"]
    key = (config.dataset, config.seed, config.validation_fraction)
    if key not in _splits:
        _splits[key] = make_splits(config.dataset, seed=config.seed, validation_fraction=config.validation_fraction)
    splits = _splits[key]
    floor = float(np.bincount(splits.y_val).max() / len(splits.y_val))  # a constant classifier's accuracy
    number = job["number"]
    try:
        candidates = run_trial(config, job["params"], splits, Path(job["out_dir"]) / "trials" / str(number),
                               seed=config.seed * 100_003 + number)
    except Exception as exc:  # a failed trial counts, the search goes on
        return number, None, f"{type(exc).__name__}: {exc}"
    return number, hypervolume(candidates, floor), None


def _sampler(config: PrintedSearchConfig, number: int):
    import optuna

    return optuna.samplers.TPESampler(seed=config.seed * 7919 + number, n_startup_trials=max(8, config.trials // 4),
                                      multivariate=True, warn_independent_sampling=False)


def _ask(study, config: PrintedSearchConfig):
    """A new trial: the next queued corner architecture, else TPE seeded by the trial's number and
    shown the finished trials before its round only, so it draws the same whatever ran when."""
    import optuna
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    if not any(t.state == TrialState.WAITING for t in trials):
        number = len(trials)  # the number the queued trial gets
        memory = optuna.create_study(direction="maximize", sampler=_sampler(config, number))
        memory.add_trials([t for t in trials if t.number < number - number % ROUND
                           and t.state in (TrialState.COMPLETE, TrialState.FAIL)])
        study.enqueue_trial(suggest(memory.ask(), config.space))
    trial = study.ask()
    suggest(trial, config.space)  # its parameters are stored now: an interrupted run re-runs the same
    return trial


def _next_round(study, config: PrintedSearchConfig) -> list:
    """The trials to run now: those an interrupted run left running (same numbers and parameters),
    else new ones up to the next round boundary (every earlier trial has finished)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    running = [t for t in trials if t.state == TrialState.RUNNING]
    for trial in [t for t in running if not t.params]:  # interrupted before its parameters were stored
        study.tell(trial.number, state=TrialState.FAIL)
    running = [t for t in running if t.params]
    if running:
        return running
    used = sum(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
    count = min(ROUND - used % ROUND, config.trials - used)
    return [_ask(study, config) for _ in range(count)]


def search(config: PrintedSearchConfig, out_dir: str | os.PathLike, *, workers: int = 2,
           storage: str | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Run (or resume) the search; returns every candidate of every complete trial."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import optuna
    from optuna.trial import TrialState
    from tqdm.auto import tqdm

    from codesign.dse.storage import open_storage, storage_url
    from codesign.outputs import open_run_directory, write_file

    out_dir = open_run_directory(out_dir)  # new, empty, or a search codesign started there (resumes)
    url = storage_url(out_dir, storage)
    study_name = f"printed-{Path(config.dataset.split(':')[-1]).stem}-s{config.seed}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=open_storage(url), direction="maximize",
                                load_if_exists=True)
    if not study.get_trials(deepcopy=False):  # a new study: both ends of the space first
        for params in seed_params(config.space):  # all of them, whatever the budget: numbers stay fixed
            study.enqueue_trial(params)
    write_file(out_dir / "search_config.json", json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n",
               replace="own")
    started = time.time()
    finished = (TrialState.COMPLETE, TrialState.FAIL)
    done = len(study.get_trials(deepcopy=False, states=finished))
    bar = tqdm(total=config.trials, initial=min(done, config.trials), desc=f"printed co-design on {config.dataset}",
               unit="trial", disable=not progress)
    pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn"))
    try:
        while done < config.trials and not (config.time_budget_s and time.time() - started > config.time_budget_s):
            batch = _next_round(study, config)
            jobs = [{"config": config, "out_dir": str(out_dir.resolve()), "number": trial.number,
                     "params": dict(trial.params)} for trial in batch]
            results = {}
            for future in as_completed([pool.submit(_run_one, job) for job in jobs]):
                number, value, error = future.result()
                results[number] = (value, error)
                bar.update(1)
            for trial in batch:  # told in trial order, so the study reads the same whatever finished first
                value, error = results[trial.number]
                if error is not None:
                    study.set_trial_user_attr(trial._trial_id, "error", error[:500])
                study.tell(trial.number, value, state=TrialState.FAIL if error else TrialState.COMPLETE)
            done += len(batch)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return collect(out_dir)


def collect(out_dir: Path) -> list[dict[str, Any]]:
    """Every candidate of every trial folder, tagged with its trial and parameters."""
    pool = []
    for path in sorted((Path(out_dir) / "trials").glob("*/candidates.json"), key=lambda p: int(p.parent.name)):
        record = json.loads(path.read_text())
        for index, candidate in enumerate(record["candidates"]):
            pool.append({**candidate, "trial": int(path.parent.name), "index": index, "params": record["params"]})
    return pool
