"""The benchmarks' cluster CPU meter counts workers that exited unreaped (Ray's raylet ignores
SIGCHLD, so their CPU time is in no parent's children times)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from montecarlo_scaling import ClusterCpu  # noqa: E402

# a node process that ignores SIGCHLD (as the raylet does) and starts a worker that burns ~0.6 s of CPU
NODE = """
import signal, subprocess, sys, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
time.sleep(0.3)
subprocess.Popen([sys.executable, "-c", "import time\\nend = time.process_time() + 0.6\\nwhile time.process_time() < end: pass"])
time.sleep(30)
"""


@dataclass
class FakeNode:
    process: subprocess.Popen
    pids: list[int] = field(default_factory=list)

    def refresh(self) -> None:
        try:
            self.pids = [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            self.pids = []


@dataclass
class FakeCluster:
    nodes: list[FakeNode]


def test_meter_keeps_cpu_of_workers_that_exited_unreaped():
    node = FakeNode(subprocess.Popen([sys.executable, "-c", NODE]))
    try:
        cluster = FakeCluster([node])
        with ClusterCpu(cluster, interval=0.05) as meter:
            start = meter.seconds()
            deadline = time.monotonic() + 20
            seen_worker = False
            while time.monotonic() < deadline:
                node.refresh()  # the real node's ``pids`` property walks its children the same way
                seen_worker = seen_worker or bool(node.pids)
                if seen_worker and not node.pids:
                    break  # the worker exited and was reaped without a trace
                time.sleep(0.02)
            used = meter.seconds() - start
        assert seen_worker and not node.pids
        after = psutil.Process(node.process.pid).cpu_times()
        assert after.children_user + after.children_system < 0.1  # the parent never saw its CPU time
        assert used >= 0.4  # the meter did
    finally:
        node.process.kill()
        node.process.wait()
