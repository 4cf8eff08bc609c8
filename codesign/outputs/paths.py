"""Where codesign may write: the checks done before any work, and what a command claimed.

Refused: the current directory or one of its ancestors, an existing file where a directory goes
(and the reverse), a dangling symbolic link, a parent that cannot be written, an existing
directory (unless it is empty, or ``overwrite`` and it verifies against its codesign manifest),
an existing file (unless ``replace`` allows it).
"""

from __future__ import annotations

import contextvars
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from codesign.errors import OutputError
from codesign.outputs.manifest import owns_file, why_not_own

# "never", "own" (the directory's manifest lists it unchanged), "always" (a deliberate rewrite), or a
# test that recognises a file of this kind that codesign wrote (own, or the test says so)
Replace = Literal["never", "own", "always"] | Callable[[Path], bool]
EMPTY = ("empty",)
# resolved destination -> what was there when the command started (see claim_directory)
_CLAIMS: contextvars.ContextVar[dict[Path, tuple | None] | None] = contextvars.ContextVar("codesign_claims",
                                                                                        default=None)


def _absolute(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def _check_names(absolute: Path, path: str | os.PathLike) -> None:
    """A name longer than the file system allows is refused before anything looks it up."""
    ancestor = absolute
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    try:
        limit = os.pathconf(ancestor, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in absolute.relative_to(ancestor).parts:
        if len(os.fsencode(part)) > limit:
            raise OutputError(f"{path} cannot be written: the name {part[:24]}... is longer than the file system "
                              f"allows ({limit} bytes)", hint="choose a shorter name")


def resolve(path: str | os.PathLike) -> Path:
    absolute = _absolute(path)
    _check_names(absolute, path)
    if absolute.is_symlink() and not absolute.exists():
        raise OutputError(f"{path} is a symbolic link to a missing path", hint="remove the link or choose another path")
    return absolute.resolve()


def _refuse_current(path: str | os.PathLike, resolved: Path) -> None:
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the current directory was deleted: nothing to protect
        return
    if resolved == cwd:
        raise OutputError(f"{os.fspath(path) or repr('')} is the current directory",
                          hint="write into a new directory instead, e.g. runs/NAME")
    if resolved in cwd.parents:
        raise OutputError(f"{path} is an ancestor of the current directory ({cwd})",
                          hint="write into a new directory instead, e.g. runs/NAME")


def _check_parent(resolved: Path, path: str | os.PathLike) -> None:
    """The nearest existing ancestor must be a directory this process may write into."""
    ancestor = resolved.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{path} cannot be written: {ancestor} is not a directory", hint="choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{path} cannot be written: {ancestor} is not writable",
                          hint="choose a path in a directory you can write to")



def is_empty(directory: Path) -> bool:
    with os.scandir(directory) as entries:
        return next(entries, None) is None


def check_directory_output(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse a directory output that would lose or replace a user's files; the resolved path.

    Allowed: a new path, an empty directory, and with ``overwrite`` a directory that verifies
    against its codesign manifest (codesign's own, unchanged output)."""
    resolved = resolve(path)
    _refuse_current(path, resolved)
    if not os.path.lexists(resolved):
        _check_parent(resolved, path)
    elif not resolved.is_dir():
        raise OutputError(f"{path} is an existing file, not a directory",
                          hint="choose a directory name that does not exist yet")
    elif not is_empty(resolved):
        if not overwrite:
            raise OutputError(f"{path} already exists",
                              hint="choose another --out, or pass --force to replace an earlier codesign output")
        problem = why_not_own(resolved)
        if problem:
            raise OutputError(f"{path} is not codesign's own unchanged output ({problem}), so --force does not "
                              "replace it", hint="move or remove it yourself, or choose another --out")
    return resolved


def check_file_output(path: str | os.PathLike, *, replace: Replace = "never") -> Path:
    """Refuse a file output that would replace a user's file (see ``atomic_file``); the resolved path."""
    absolute = _absolute(path)
    _check_names(absolute, path)
    if absolute.is_symlink():
        raise OutputError(f"{path} is a symbolic link", hint="choose another file name")
    resolved = absolute.resolve()
    _refuse_current(path, resolved)
    if resolved.is_dir():
        raise OutputError(f"{path} is a directory", hint="pass a file name")
    if not os.path.lexists(resolved):
        _check_parent(resolved, path)
    elif not stat.S_ISREG(os.lstat(resolved).st_mode):
        raise OutputError(f"{path} exists and is not a regular file", hint="choose another file name")
    elif replace == "never":
        raise OutputError(f"{path} already exists", hint="choose another name, or remove the file first")
    elif replace != "always" and not owns_file(resolved) and not (callable(replace) and replace(resolved)):
        raise OutputError(f"{path} already exists and codesign did not write it (or it was changed since)",
                          hint="move it away, or choose another name")
    return resolved


def check_files_directory(path: str | os.PathLike) -> Path:
    """A directory that receives several files (existing or not): not the current directory or
    an ancestor, not a file."""
    resolved = resolve(path)
    _refuse_current(path, resolved)
    if not os.path.lexists(resolved):
        _check_parent(resolved, path)
    elif not resolved.is_dir():
        raise OutputError(f"{path} is an existing file, not a directory", hint="choose a directory name")
    return resolved


def identity(path: Path) -> tuple | None:
    """What is at ``path`` now: nothing, an empty directory, or a particular file/directory."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(info.st_mode) and is_empty(path):
        return EMPTY
    return (info.st_dev, info.st_ino)


def claim_directory(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check a directory output when a command starts, and remember what is there: the export
    that ends later refuses to publish if another process wrote the path in the meantime."""
    resolved = check_directory_output(path, overwrite=overwrite)
    claims = dict(_CLAIMS.get() or {})
    claims[resolved] = identity(resolved)
    _CLAIMS.set(claims)
    return resolved


def claimed(resolved: Path) -> tuple[bool, tuple | None]:
    """(True, what was there) when a command claimed ``resolved`` (the claim is used up), else
    (False, None)."""
    claims = dict(_CLAIMS.get() or {})
    if resolved not in claims:
        return False, None
    expected = claims.pop(resolved)
    _CLAIMS.set(claims)
    return True, expected


__all__ = ["EMPTY", "Replace", "check_directory_output", "check_file_output", "check_files_directory",
           "claim_directory", "claimed", "identity", "is_empty", "resolve"]
