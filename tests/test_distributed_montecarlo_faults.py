"""A distributed crossbar Monte-Carlo that loses a Ray worker or a whole Ray node mid-run.

Real kills of real processes on a 3-node local Ray cluster while `codesign simulate
--ray-address` runs: SIGKILL of the Ray worker process computing an instance range, then of
every process of a node (raylet, agents, workers) while one of its workers computes a range.
Ray re-runs the lost ranges; the result equals the undisturbed single-process run.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from graphs import brevitas_mlp, save

pytest.importorskip("ray")

from clusters import ray_cluster  # noqa: E402

pytestmark = pytest.mark.slow

TASK_TITLE = "ray::simulate_part"  # a Ray worker's process title while it runs the task
# ranges of about ten seconds each on an idle machine: a kill lands mid-range however fast the machine is
RUN = ["--data", "digits", "--instances", "1200", "--seed", "7", "--no-progress"]
RESULT_KEYS = ("accuracies", "mean", "std", "worst", "instances", "samples", "seed", "settings", "card_hash")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save(brevitas_mlp((64, 64, 32, 10), weight_bits=4, act_bits=4, per_channel=False, batchnorm=False, seed=1),
                tmp_path_factory.mktemp("faults") / "digits.onnx")


@pytest.fixture(scope="module")
def undisturbed(model, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("undisturbed") / "chips.json"
    assert _simulate(model, out).wait(timeout=900) == 0
    return _result(out)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Started in a home where a local ``ray.init()`` left ``~/.ray/auth_token`` (then ``ray start``
    turns token authentication on, and ``ray status`` did not follow): it must start and serve."""
    from codesign.noise.kernels import _cache_dir

    home = tmp_path_factory.mktemp("home")
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CODESIGN_CACHE", str(_cache_dir()))  # the compiled read kernel stays where it is
        patch.setenv("HOME", str(home))
        with ray_cluster((1, 1, 1)) as started:
            yield started


def _simulate(model: Path, out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "codesign.cli", "simulate", str(model), *RUN, "--out", str(out),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(path: Path) -> dict:
    record = json.loads(path.read_text())
    return {key: record[key] for key in RESULT_KEYS}


def _computing(pid: int) -> bool:
    try:
        return " ".join(psutil.Process(pid).cmdline()).startswith(TASK_TITLE)
    except psutil.NoSuchProcess:
        return False


def _running_part(cluster, driver: subprocess.Popen, nodes: list[int], *, after_s: float = 1.0,
                  timeout_s: float = 600) -> int:
    """The pid of a Ray worker of one of ``nodes`` computing an instance range, ``after_s`` seconds
    after the first range started (the run is under way)."""
    deadline, first = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        assert driver.poll() is None, driver.communicate()
        for pid in [pid for index in nodes for pid in cluster.nodes[index].pids]:
            if _computing(pid):
                first = first or time.monotonic()
                if time.monotonic() - first >= after_s:
                    return pid
        time.sleep(0.2)
    raise AssertionError("no Ray worker was computing an instance range")


def _gone(pid: int, timeout_s: float = 30) -> bool:
    """Dead (or a zombie) within ``timeout_s``: a SIGKILLed process still has to be scheduled to die."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _finish(driver: subprocess.Popen, out: Path, undisturbed: dict) -> None:
    stdout, stderr = driver.communicate(timeout=1200)
    assert driver.returncode == 0, stderr
    assert "on Ray at" in stdout
    assert _result(out) == undisturbed


def test_killed_ray_worker_mid_range_is_rerun(model, undisturbed, cluster, tmp_path) -> None:
    out = tmp_path / "chips.json"
    driver = _simulate(model, out, "--ray-address", cluster.address, "--parts", "6")
    victim = _running_part(cluster, driver, list(range(len(cluster.nodes))))
    os.kill(victim, signal.SIGKILL)
    assert _gone(victim)
    _finish(driver, out, undisturbed)


def test_killed_ray_node_mid_range_is_rerun_elsewhere(model, undisturbed, cluster, tmp_path) -> None:
    out = tmp_path / "chips.json"
    driver = _simulate(model, out, "--ray-address", cluster.address, "--parts", "6")
    victim = _running_part(cluster, driver, [len(cluster.nodes) - 1])  # never the head
    cluster.kill_node(len(cluster.nodes) - 1)
    assert _gone(victim)
    _finish(driver, out, undisturbed)
