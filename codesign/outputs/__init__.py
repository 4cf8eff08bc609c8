"""Every file codesign writes goes through here: atomically, and never over what a user owns.

A directory (an export, a new comparison folder, a sweep's Pareto folder) is built in a staging
directory next to its destination, gets a manifest (``codesign.outputs.manifest``), and is renamed into
place in one step that fails if the destination appeared meanwhile (``renameat2`` with
``RENAME_NOREPLACE`` on Linux; elsewhere a lock shared by codesign processes).  Replacing
(``--force``) is allowed only for a directory that verifies against its manifest: the new one
is swapped in (``RENAME_EXCHANGE``) and the old one removed only after that, so a crash never
leaves neither.  A single file is written under its final name in a private staging folder and
moved into place the same way; it replaces an existing file only when the directory's manifest
says codesign wrote exactly that content (``replace="own"``), or on purpose (``"always"``, the
baseline rewrite of ``codesign check --update``).

Refused before any work: the current directory or one of its ancestors, an existing file where
a directory goes (and the reverse), a dangling symbolic link, a parent that cannot be written.
SIGTERM / SIGHUP remove the staging like Ctrl-C (``codesign.outputs.interrupts``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from codesign.errors import OutputError
from codesign.outputs.fs import (
    converted,
    exchange,
    locked,
    make_parents,
    make_staging,
    os_error,
    remove_created,
    rename_noreplace,
)
from codesign.outputs.interrupts import critical, guarded
from codesign.outputs.manifest import (
    MANIFEST_NAME,
    Manifest,
    build_manifest,
    entry_digest,
    read_manifest,
    verify_manifest,
    why_not_own,
    write_manifest,
)
from codesign.outputs.paths import (
    EMPTY,
    Replace,
    check_directory_output,
    check_file_output,
    check_files_directory,
    claim_directory,
    claimed,
    identity,
    is_empty,
    resolve,
)

Content = str | bytes | Callable[[Path], object]


def _taken(shown: str | os.PathLike, expected: tuple | None) -> OutputError:
    if expected in (None, EMPTY):
        return OutputError(f"{shown} already exists: another process wrote it while this one was working; "
                           "nothing was written", hint="choose another --out")
    return OutputError(f"{shown} was replaced by another process while this one was working; nothing was written",
                       hint="run again to replace it, or choose another --out")


# -- directories -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_directory(destination: str | os.PathLike, *, overwrite: bool = False,
                     kind: str = "artifact") -> Iterator[Path]:
    """Yield a staging directory; on success it becomes ``destination`` (with a manifest of its
    files), on an error or a signal it vanishes, and so do the parents it had to create.

    ``overwrite`` replaces codesign's own earlier output only (see ``check_directory_output``)."""
    resolved = resolve(destination)
    was_claimed, expected = claimed(resolved)
    if was_claimed:
        if identity(resolved) != expected:
            raise _taken(destination, expected)
    else:
        check_directory_output(destination, overwrite=overwrite)
        expected = identity(resolved)
    with _staging_next_to(resolved, destination) as staging:
        yield staging
        write_manifest(build_manifest(staging, kind))
        _publish_directory(staging, resolved, expected, destination)


@contextlib.contextmanager
def _staging_next_to(resolved: Path, shown: str | os.PathLike) -> Iterator[Path]:
    """A staging directory next to ``resolved`` (and its missing parents); on any error or signal
    in the block, it is removed with the parents it needed."""
    with guarded(str(shown)) as progress:
        with critical():
            created = make_parents(resolved.parent, shown)
            try:
                staging = make_staging(resolved, shown)
            except BaseException:
                remove_created(created)
                raise
        try:
            yield staging
        except BaseException as exc:
            with critical():
                shutil.rmtree(staging, ignore_errors=True)
                remove_created(created)
            error = converted(exc, shown)
            if error is exc:
                raise
            raise error from None
        progress.done = True


def _publish_directory(staging: Path, target: Path, expected: tuple | None, shown: str | os.PathLike) -> None:
    old = None
    with locked(target.parent), critical():
        if identity(target) != expected:
            raise _taken(shown, expected)
        if expected is None:
            try:
                rename_noreplace(staging, target)
            except FileExistsError:
                raise _taken(shown, expected) from None
            return
        if expected == EMPTY:
            try:
                os.rename(staging, target)  # replaces an empty directory, fails on a non-empty one
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise _taken(shown, expected) from None
                raise
            return
        check_directory_output(target, overwrite=True)  # still codesign's own, unchanged?
        exchange(staging, target)
        old = staging
        try:
            problem = why_not_own(old)  # nobody changed it between the check and the swap?
        except BaseException:
            exchange(staging, target)  # the old one back: the cleanup removes the staging path
            raise
        if problem:
            exchange(staging, target)
            raise OutputError(f"{shown} changed while it was being replaced ({problem}); it was kept and nothing "
                              "was written", hint="run again once nothing else writes there")
    with critical():
        shutil.rmtree(old, ignore_errors=True)


# -- files -------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, replace: Replace = "never") -> Iterator[Path]:
    """Yield a temporary path with the file's final name; on success it is moved to ``path``, on
    an error or a signal it vanishes.

    ``replace``: "never" (an existing file is an error), "own" (replace only a file that the
    directory's manifest lists with its current content, and list the new one there), "always"
    (a deliberate rewrite of codesign's own files, e.g. baselines by ``codesign check --update``),
    or a function recognising a file of this kind that codesign wrote (as "own", and also replace
    what it recognises: a report page of an earlier version has no manifest entry)."""
    resolved = check_file_output(path, replace=replace)
    with _staging_next_to(resolved, path) as staging:
        temporary = staging / resolved.name
        yield temporary
        if not temporary.is_file() or temporary.is_symlink():
            raise OutputError(f"nothing was written for {path}")
        _publish_file(temporary, resolved, replace, path)
        with critical():
            shutil.rmtree(staging, ignore_errors=True)  # what else the writer left beside the file


def _publish_file(temporary: Path, target: Path, replace: Replace, shown: str | os.PathLike) -> None:
    with locked(target.parent), critical():
        ledger = None
        if replace not in ("never", "always"):
            ledger = read_manifest(target.parent) or Manifest(target.parent, "ledger")
            digest = entry_digest(temporary)
        if replace == "always" or (replace != "never" and os.path.lexists(target)):
            check_file_output(target, replace=replace)  # still a regular file (and still codesign's own)?
            os.replace(temporary, target)
        else:
            try:
                rename_noreplace(temporary, target)
            except FileExistsError:
                raise OutputError(f"{shown} already exists: another process wrote it while this one was working",
                                  hint="choose another name") from None
        if ledger is not None:
            write_manifest(ledger.with_file(target.name, digest))


def write_file(path: str | os.PathLike, data: Content, *, replace: Replace = "never") -> Path:
    """Write text, bytes, or what ``data(path)`` writes, atomically (see ``atomic_file``)."""
    with atomic_file(path, replace=replace) as temporary:
        _emit(temporary, data)
    return Path(path)


def _emit(path: Path, data: Content) -> None:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    elif isinstance(data, bytes):
        path.write_bytes(data)
    else:
        data(path)


def write_files(directory: str | os.PathLike, files: Mapping[str, Content]) -> dict[str, Path]:
    """Write several files into ``directory``.  A new (or empty) directory is created with all
    of them at once, with a manifest; into an existing one each file is written atomically and
    replaces only a file codesign wrote there (``replace="own"``).  Every name is checked first,
    so a refused name leaves the others unwritten too."""
    resolved = check_files_directory(directory)
    paths = {name: Path(directory) / name for name in files}
    if identity(resolved) in (None, EMPTY):
        with atomic_directory(directory) as staging:
            for name, data in files.items():
                _emit(staging / name, data)
        return paths
    for name in files:
        check_file_output(paths[name], replace="own")
    for name, data in files.items():
        write_file(paths[name], data, replace="own")
    return paths


def open_run_directory(path: str | os.PathLike) -> Path:
    """A directory codesign writes into over several runs (a sweep): new, empty, or one it made
    before (it has a ledger manifest).  Created if needed, with its ledger."""
    resolved = check_files_directory(path)
    if os.path.lexists(resolved) and not is_empty(resolved):
        manifest = read_manifest(resolved)
        if manifest is None or manifest.kind != "ledger":
            raise OutputError(f"{path} is not empty and codesign did not start a run there",
                              hint="choose a new --out (a run resumes only in the directory it started in)")
        return Path(path)
    make_parents(resolved.parent, path)
    try:
        resolved.mkdir(exist_ok=True)
        with locked(resolved):
            if read_manifest(resolved) is None:
                write_manifest(Manifest(resolved, "ledger"))
    except OSError as exc:
        raise os_error(exc, path) from None
    return Path(path)


__all__ = ["MANIFEST_NAME", "Replace", "atomic_directory", "atomic_file", "check_directory_output", "check_file_output",
           "check_files_directory", "claim_directory", "open_run_directory", "verify_manifest", "write_file",
           "write_files"]
