"""Ray for sweeps and Monte-Carlo: connecting to a cluster, and a local multi-node cluster.

``connect`` joins a running cluster ('auto', 'HOST:PORT', 'ray://HOST:10001') or starts Ray in
this process ('local'). ``LocalCluster`` starts a real multi-node cluster on this machine with
``ray start`` (a head and extra node processes, each with the CPUs and resources it declares,
all on 127.0.0.1 and on free ports): the tests and the scaling benchmark run on it, and it can
kill a node like a machine that fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from codesign.errors import BackendError, CodesignError

# What a node runs besides the raylet, the object store and the workers, and what of it a
# throughput run can do without (measured in docs/cluster.md): the log monitor (it tails every
# worker's log files for the driver's console; the drivers here set log_to_driver=False) and
# the metrics every Ray process exports to its node's agent.
LEAN_ARGS = ["--include-log-monitor=false"]
LEAN_ENV = {"RAY_enable_metrics_collection": "0"}


def import_ray():
    try:
        import ray
    except ImportError:
        raise BackendError("--ray-address needs Ray, which is not installed",
                           hint="pip install 'ray[default]' (make setup installs it)") from None
    return ray


@contextlib.contextmanager
def connect(address: str, *, cpus: int | None = None):
    """Ray connected to ``address`` for the duration; left as found if already initialised."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict = {"log_to_driver": False, "logging_level": "ERROR"}
    if address == "local":
        kwargs.update(num_cpus=cpus, include_dashboard=False)
    else:
        kwargs["address"] = address
    try:
        with _quiet():
            ray.init(**kwargs)
    except Exception as exc:
        raise CodesignError(f"cannot connect to Ray at {address!r}: {str(exc).splitlines()[0]}",
                            hint="start a cluster with `ray start --head`, or use --ray-address local") from None
    try:
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _quiet():
    """Ray prints its connection banner on stderr; keep a command's output to its own lines."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        yield


def cluster_cpus(ray) -> int:
    return int(ray.cluster_resources().get("CPU", 1))


# -- a local multi-node cluster ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_env() -> dict:
    """The environment of the cluster's processes.  Once ``~/.ray/auth_token`` exists (any local
    ``ray.init()``, e.g. ``--ray-address local``, writes one) ``ray start`` turns token
    authentication on but ``ray status`` does not, and cannot reach the head: this loopback
    cluster pins authentication off for both."""
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


@dataclass
class Node:
    process: subprocess.Popen
    cpus: int
    resources: dict
    log: Path

    @property
    def pids(self) -> list[int]:
        """The node's own processes (raylet, agents; and on the head the GCS) and Ray workers."""
        import psutil

        try:
            return [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


@dataclass
class LocalCluster:
    """A head and extra nodes on this machine, each one a ``ray start --block`` process."""

    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cs-ray-")))
    nodes: list[Node] = field(default_factory=list)
    port: int = 0
    lean: bool = True  # without the log monitor and metrics export (LEAN_ARGS, LEAN_ENV)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, cpus: list[int], *, resources: list[dict] | None = None, memory_mb: int = 1024,
              timeout_s: float = 120) -> LocalCluster:
        """One node per entry of ``cpus`` (the first is the head); waits until all joined."""
        resources = resources or [{f"node{i}": 1} for i in range(len(cpus))]
        self.port = free_port()
        for i, (count, extra) in enumerate(zip(cpus, resources)):
            for attempt in range(3):  # one at a time: on a busy machine a raylet can miss Ray's 30 s
                node = self.add_node(count, extra, head=i == 0, memory_mb=memory_mb)
                try:
                    self.wait(i + 1, timeout_s)
                    break
                except CodesignError:
                    if i == 0 or attempt == 2 or node.process.poll() is None:
                        raise
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(node.process.pid, signal.SIGKILL)
                    self.nodes.remove(node)
        return self

    def add_node(self, cpus: int, resources: dict, *, head: bool = False, memory_mb: int = 1024) -> Node:
        args = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--disable-usage-stats",
                "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", f"--resources={json.dumps(resources)}",
                f"--memory={memory_mb * 2**20}", f"--object-store-memory={256 * 2**20}",
                f"--dashboard-agent-listen-port={free_port()}"]
        if head:
            args += ["--head", f"--port={self.port}", f"--temp-dir={self.temp_dir}", "--include-dashboard=false",
                     f"--ray-client-server-port={free_port()}", f"--dashboard-port={free_port()}"]
        else:
            args += [f"--address={self.address}"]
        if self.lean:
            args += LEAN_ARGS
        log = self.temp_dir / f"node{len(self.nodes)}.log"
        env = {**LEAN_ENV, **_node_env()} if self.lean else _node_env()
        with open(log, "w") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)
        node = Node(process, cpus, resources, log)
        self.nodes.append(node)
        return node

    def wait(self, count: int, timeout_s: float = 120) -> None:
        """Until ``count`` nodes are alive in the cluster."""
        deadline = time.monotonic() + timeout_s
        while True:
            for node in self.nodes:
                if node.process.poll() is not None:
                    lines = [line for line in node.log.read_text(errors="replace").splitlines() if line.strip()]
                    raise CodesignError(f"a Ray node exited while starting: {(lines or ['no output'])[-1][:300]}",
                                        hint="is another cluster using the ports?")
            started = sum(1 for node in self.nodes if "Ray runtime started" in node.log.read_text())
            if started >= count and self.alive_nodes() >= count:  # the head lists them (it lags a little)
                return
            if time.monotonic() > deadline:
                raise CodesignError(f"the local Ray cluster did not reach {count} nodes in {timeout_s:.0f} s",
                                    hint=f"see the logs in {self.temp_dir}")
            time.sleep(0.5)

    def alive_nodes(self) -> int:
        """Nodes the head reports alive (``ray status``)."""
        status = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "status", f"--address={self.address}"],
                                capture_output=True, text=True, timeout=60, env=_node_env())
        if status.returncode != 0:
            return 0
        active = status.stdout.split("Active:", 1)[-1].split("Pending:", 1)[0]
        return sum(1 for line in active.splitlines() if "node_" in line)

    def kill_node(self, index: int) -> None:
        """SIGKILL every process of a node (raylet, agents, its Ray workers): a machine failing."""
        node = self.nodes[index]
        for pid in [*node.pids, node.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        node.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop every node (worker nodes first), then remove the temporary directory."""
        for node in reversed(self.nodes):
            if node.process.poll() is None:
                node.process.terminate()
                try:
                    node.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(node.process.pid, signal.SIGKILL)
                    node.process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):  # anything the node left in its session
                os.killpg(node.process.pid, signal.SIGKILL)
        import shutil

        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
