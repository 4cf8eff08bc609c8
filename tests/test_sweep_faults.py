"""Sweeps that lose a worker, a Ray node or their own process, compared with an undisturbed run.

Real kills of real processes: a worker process, a Ray worker process, a whole Ray node (its
raylet and workers), and the `codesign sweep` process itself (then re-run to resume).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
optuna = pytest.importorskip("optuna")

from clusters import postgres_server, ray_cluster  # noqa: E402

from codesign.dse.generations import read_slots  # noqa: E402

pytestmark = pytest.mark.slow

# trials long enough (about a second each on an idle 2-core machine) that a kill lands mid-trial and
# mid-sweep however fast the machine is
CONFIG = """
dataset = "breast_cancer"
epochs = 60
trials = 10
study_name = "faults"
[search]
population_size = 4
[space]
weight_bits = [2, 3, 4]
act_bits = [3, 4]
hidden = [[8], [16]]
fault_aware = [false, true]
[[targets]]
target = "fpga"
card = "pynq-z2"
[[targets]]
target = "crossbar"
card = "rram-40nm"
instances = 8
"""


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "faults.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def undisturbed(config_file, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("undisturbed")
    assert _sweep(config_file, out, "--workers", "2").wait(timeout=1800) == 0
    return (out / "trials.json").read_text()


def _sweep(config: Path, out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "codesign.cli", "sweep", str(config), "--out", str(out),
                             "--no-progress", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _study(storage: str):
    return optuna.load_study(study_name="faults", storage=storage)


def _running_trial(storage: str, process: subprocess.Popen, *, after_complete: int = 1, timeout_s: float = 900,
                   where=lambda trial: True):
    """Wait until ``after_complete`` trials are complete and another one (``where``) is running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            trials = _study(storage).get_trials(deepcopy=False)
        except Exception:  # the study is not created yet
            trials = []
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        running = [t for t in trials if t.state.name == "RUNNING" and "worker" in t.user_attrs
                   and t.user_attrs["worker"]["trial"] == t.number and where(t)]
        if len(complete) >= after_complete and running:
            return running[0], {t.number: t.datetime_complete for t in complete}
        time.sleep(0.1)
    raise AssertionError("no trial was running")


def _pid(trial) -> int:
    return int(trial.user_attrs["worker"]["id"].split(":")[2])


def _check(storage: str, out: Path, undisturbed: str, killed, finished_before: dict) -> None:
    assert (out / "trials.json").read_text() == undisturbed
    study = _study(storage)
    trials = {t.number: t for t in study.trials}
    assert trials[killed.number].state.name == "FAIL"  # the interrupted copy, run again as another trial
    slot = read_slots(study)[killed.user_attrs["slot"]]
    assert slot.complete is not None and slot.complete.number != killed.number
    for number, finished in finished_before.items():  # kept, not re-run
        assert trials[number].state.name == "COMPLETE" and trials[number].datetime_complete == finished


def test_killed_worker_process_and_killed_sweep_resume(config_file, undisturbed, tmp_path):
    """SIGKILL a worker process mid-trial (replaced, its trial re-run), then SIGKILL the sweep
    itself; the same command again resumes from the study and ends with the undisturbed trials."""
    out, storage = tmp_path / "out", f"sqlite:///{tmp_path / 'out' / 'study.db'}"
    sweep = _sweep(config_file, out, "--workers", "2")
    killed, before = _running_trial(storage, sweep)
    os.kill(_pid(killed), signal.SIGKILL)
    _, later = _running_trial(storage, sweep, after_complete=len(before) + 1)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    assert _sweep(config_file, out, "--workers", "2").wait(timeout=1800) == 0
    _check(storage, out, undisturbed, killed, later)


def test_killed_ray_worker_and_node_on_postgresql(config_file, undisturbed, tmp_path):
    """On a 3-node local Ray cluster with the study on PostgreSQL: SIGKILL the Ray worker process
    running a trial, later kill a whole node; the sweep completes with the undisturbed trials."""
    pytest.importorskip("ray")
    pytest.importorskip("psycopg")
    with postgres_server() as url, ray_cluster((1, 1, 1)) as cluster:
        storage = url.replace("://", "+psycopg://", 1)
        sweep = _sweep(config_file, tmp_path, "--storage", url, "--ray-address", cluster.address,
                       "--workers", "2", "--heartbeat", "2")
        killed, before = _running_trial(storage, sweep)
        os.kill(_pid(killed), signal.SIGKILL)
        victim, _ = _running_trial(storage, sweep, after_complete=len(before) + 1,
                                   where=lambda t: any(_pid(t) in n.pids for n in cluster.nodes[1:]))
        cluster.kill_node(next(i for i, n in enumerate(cluster.nodes) if i > 0 and _pid(victim) in n.pids))
        assert sweep.wait(timeout=1800) == 0, sweep.stderr.read()
        _check(storage, tmp_path, undisturbed, killed, before)
