"""Artifacts: the files a backend produces, with a digest, written atomically.

A backend builds its output in a staging directory next to the destination; only a complete
build is renamed into place, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from codesign.errors import BackendError


@dataclass(frozen=True)
class Artifact:
    """A written backend output: its directory, its files and their combined digest."""

    target: str
    directory: Path
    files: tuple[str, ...]
    digest: str
    summary: dict = field(default_factory=dict)

    @classmethod
    def from_directory(cls, target: str, directory: Path, summary: dict | None = None) -> Artifact:
        files = tuple(sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()))
        return cls(target, directory, files, directory_digest(directory, files), summary or {})


def directory_digest(directory: Path, files: tuple[str, ...] | None = None) -> str:
    """sha256 over (relative path, content) of every file, in sorted order."""
    directory = Path(directory)
    if files is None:
        files = tuple(sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()))
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256((directory / name).read_bytes()).digest())
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_directory(destination: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a staging directory; on success it replaces ``destination``, on error it vanishes."""
    destination = Path(destination)
    if destination.exists() and not overwrite:
        raise BackendError(f"{destination} already exists", hint="choose another --out or pass --force")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; the result should look like mkdir's
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    backup = None
    if destination.exists():
        backup = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        destination.rename(backup)
    staging.rename(destination)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
