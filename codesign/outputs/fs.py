"""The file-system steps that make a write atomic: staging, no-replace renames, swaps, locks.

``renameat2`` (Linux) renames without replacing (RENAME_NOREPLACE) or swaps two paths in one
step (RENAME_EXCHANGE); where it is missing, a hard link (files) or a rename under a directory
lock shared by codesign processes does the same among codesign processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from codesign.errors import OutputError

_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_renameat2_fn = None


def _renameat2(source: Path, target: Path, flags: int) -> bool:
    """Linux renameat2(2); False when the system or the file system does not offer it."""
    global _renameat2_fn
    if _renameat2_fn is None:
        _renameat2_fn = False
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                function = ctypes.CDLL(None, use_errno=True).renameat2
                function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                function.restype = ctypes.c_int
                _renameat2_fn = function
    if not _renameat2_fn:
        return False
    at_cwd = -100
    if _renameat2_fn(at_cwd, os.fsencode(source), at_cwd, os.fsencode(target), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(target))


def rename_noreplace(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``; FileExistsError if ``target`` exists (atomic where the OS
    allows; otherwise the caller's lock keeps codesign processes apart)."""
    if _renameat2(source, target, _RENAME_NOREPLACE):
        return
    if source.is_file() and not source.is_symlink():
        with contextlib.suppress(OSError):
            os.link(source, target)  # fails atomically with EEXIST
            os.unlink(source)
            return
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    os.rename(source, target)


def exchange(first: Path, second: Path) -> None:
    """Swap two directories: each path stays occupied throughout (RENAME_EXCHANGE), or, where
    that is missing, the old one is moved aside before the new one moves in and back on failure."""
    if _renameat2(first, second, _RENAME_EXCHANGE):
        return
    aside = Path(tempfile.mkdtemp(prefix=staging_prefix(second), suffix=".swap", dir=second.parent))
    try:
        os.rename(second, aside)  # replaces the empty aside directory
    except BaseException:
        aside.rmdir()
        raise
    try:
        os.rename(first, second)
    except BaseException:
        os.rename(aside, second)
        raise
    os.rename(aside, first)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on a directory, shared by codesign processes (none where unsupported)."""
    try:
        import fcntl
        handle = os.open(directory, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def make_parents(directory: Path, shown: str | os.PathLike) -> list[Path]:
    """Create the missing ancestors; returns them (outermost first) to remove after a failure."""
    missing = []
    while not os.path.lexists(directory) and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    created = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
    except OSError as exc:
        remove_created(created)
        raise os_error(exc, shown) from None
    return created


def remove_created(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break


def _owner_tag() -> str:
    """host and process in a staging name: which process made it, so a dead one's can go."""
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
    return f"{host}-{os.getpid()}"


def staging_prefix(resolved: Path) -> str:
    return f".{resolved.name[:80]}.{_owner_tag()}."


def remove_stale_staging(resolved: Path) -> None:
    """Remove what a killed (SIGKILL, power loss) earlier writer of ``resolved`` on this host left:
    staging and swap directories whose process is gone."""
    host = _owner_tag().split("-")[0]
    pattern = re.compile(rf"\.{re.escape(resolved.name[:80])}\.{host}-(\d+)\.[^.]+\.(partial|swap)")
    with contextlib.suppress(OSError), os.scandir(resolved.parent) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match and entry.is_dir(follow_symlinks=False) and not _alive(int(match.group(1))):
                shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def make_staging(resolved: Path, shown: str | os.PathLike) -> Path:
    remove_stale_staging(resolved)
    try:
        staging = Path(tempfile.mkdtemp(prefix=staging_prefix(resolved), suffix=".partial", dir=resolved.parent))
    except OSError as exc:
        raise os_error(exc, shown) from None
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it 0700; the result should look like mkdir's
    return staging


_ENVIRONMENT = {errno.ENOSPC: "free some space or choose another path",
                errno.EDQUOT: "free some space or choose another path",
                errno.EACCES: "choose a path in a directory you can write to",
                errno.EPERM: "choose a path in a directory you can write to",
                errno.EROFS: "choose a path on a writable file system",
                errno.ENAMETOOLONG: "choose a shorter name",
                errno.EFBIG: "raise the file-size limit (ulimit -f) or choose another path",
                errno.ENOTDIR: "choose another path"}


def os_error(exc: OSError, shown: str | os.PathLike) -> OutputError:
    reason = (exc.strerror or str(exc)).lower()
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(shown) else ""
    return OutputError(f"{shown} cannot be written: {reason}{where}; nothing was written",
                       hint=_ENVIRONMENT.get(exc.errno, "choose another path"))


def converted(exc: BaseException, shown: str | os.PathLike) -> BaseException:
    """A full disk or a read-only file system met while writing becomes a one-line error."""
    if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT:
        return os_error(exc, shown)
    return exc



__all__ = ["converted", "exchange", "locked", "make_parents", "make_staging", "os_error", "remove_created",
           "rename_noreplace"]
