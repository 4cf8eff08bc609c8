"""Real servers for the distributed tests: a PostgreSQL server from the project's wheel and a
local multi-node Ray cluster, each on free ports and temporary directories, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def postgres_server():
    """A fresh PostgreSQL server on 127.0.0.1 and a free port; yields its URL."""
    from codesign.dse.postgres import LocalPostgres
    from codesign.dse.raycluster import free_port

    home = Path(tempfile.mkdtemp(prefix="cs-pg-"))
    os.chmod(home, 0o755)  # started by root, the server runs as nobody and must enter it
    server = LocalPostgres(home / "data", free_port())
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def ray_cluster(cpus=(1, 1)):
    """A head and extra node processes started with `ray start`, one per entry of ``cpus``."""
    from codesign.dse.raycluster import LocalCluster

    cluster = LocalCluster()
    try:
        cluster.start(list(cpus))
        yield cluster
    finally:
        cluster.stop()
