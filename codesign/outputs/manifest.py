"""The manifest codesign writes into every directory it writes to: its files and their sha256.

It is how codesign recognises its own output.  ``--force`` replaces a directory only when the
directory verifies against its manifest (every file listed, none changed, none added), and a
single file is replaced only when the manifest of its directory lists it with the content it
has now.  Anything else belongs to the user and is never deleted or replaced.

Two kinds: an ``artifact`` manifest says the whole directory is codesign's (an export, a new
comparison folder, a sweep's Pareto folder); a ``ledger`` lists the files codesign wrote into a
directory that also holds other things (a run or sweep directory).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from codesign.errors import OutputError

MANIFEST_NAME = "codesign-manifest.json"
FORMAT = "codesign-manifest/1"
KINDS = ("artifact", "ledger")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    """What codesign wrote into ``directory``: {relative path: sha256 hex}."""

    directory: Path
    kind: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return combined_digest(self.files)

    def with_file(self, name: str, sha256: str) -> Manifest:
        return Manifest(self.directory, self.kind, {**self.files, name: sha256})

    def to_json(self) -> str:
        data = {"format": FORMAT, "kind": self.kind, "digest": self.digest, "files": dict(sorted(self.files.items()))}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def entry_digest(path: Path) -> str:
    """sha256 of a file's content; a symbolic link or special file gets a digest of what it is
    (a link is never followed, a FIFO never opened)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return hashlib.sha256(b"symlink\0" + os.fsencode(os.readlink(path))).hexdigest()
    if not stat.S_ISREG(info.st_mode):
        return hashlib.sha256(b"special\0" + str(stat.S_IFMT(info.st_mode)).encode()).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def combined_digest(files: dict[str, str]) -> str:
    """sha256 over (relative path, sha256 of content) of every file, in sorted path order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0")
        digest.update(bytes.fromhex(files[name]))
    return digest.hexdigest()


def list_files(directory: str | os.PathLike) -> tuple[str, ...]:
    """Every non-directory entry below ``directory`` (links not followed), the manifest left out."""
    root = Path(directory)
    names = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in dirs:  # a link to a directory is an entry, never a folder to walk into
            if (base / name).is_symlink():
                names.append((base / name).relative_to(root).as_posix())
        names.extend((base / name).relative_to(root).as_posix() for name in files)
    return tuple(sorted(name for name in names if name != MANIFEST_NAME))


def directory_digest(directory: str | os.PathLike, files: tuple[str, ...] | None = None) -> str:
    """The digest an artifact directory's manifest records (see ``combined_digest``)."""
    root = Path(directory)
    names = list_files(root) if files is None else files
    return combined_digest({name: entry_digest(root / name) for name in names})


def build_manifest(directory: str | os.PathLike, kind: str = "artifact") -> Manifest:
    root = Path(directory)
    return Manifest(root, kind, {name: entry_digest(root / name) for name in list_files(root)})


def write_manifest(manifest: Manifest) -> Path:
    """Write (or rewrite: it is always codesign's) the manifest file, atomically."""
    path = manifest.directory / MANIFEST_NAME
    staging = path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.partial")
    try:
        staging.write_text(manifest.to_json(), encoding="utf-8")
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return path


def read_manifest(directory: str | os.PathLike) -> Manifest | None:
    """The directory's manifest, None when it has none; a malformed one is an error."""
    root = Path(directory)
    path = root / MANIFEST_NAME
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files, kind = data["files"], data["kind"]
        ok = (data.get("format") == FORMAT and kind in KINDS and isinstance(files, dict)
              and all(isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in files.items()))
        if ok:
            manifest = Manifest(root, kind, {k: v.lower() for k, v in files.items()})
            bytes.fromhex("".join(manifest.files.values()))
            if data.get("digest") == manifest.digest:
                return manifest
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        pass
    raise OutputError(f"{path} is not a valid codesign manifest (damaged or edited)",
                      hint="codesign treats the directory as yours; move it away or remove it yourself")


def verify_manifest(directory: str | os.PathLike) -> Manifest:
    """Check that ``directory`` is exactly what codesign wrote: every file of its artifact
    manifest present and unchanged, no file added.  Returns the manifest; raises OutputError
    naming the first difference."""
    root = Path(directory)
    manifest, problem = _check(root)
    if problem:
        raise OutputError(f"{root}: {problem}")
    return manifest


def why_not_own(directory: str | os.PathLike) -> str | None:
    """None when ``directory`` verifies against its manifest, else the first difference, short."""
    return _check(Path(directory))[1]


def _check(root: Path) -> tuple[Manifest | None, str | None]:
    if not root.is_dir() or root.is_symlink():
        return None, "not a directory"
    try:
        manifest = read_manifest(root)
    except OutputError:
        return None, f"its {MANIFEST_NAME} is damaged or was edited"
    if manifest is None:
        return None, f"no {MANIFEST_NAME}: codesign did not write it"
    if manifest.kind != "artifact":
        return manifest, "it holds files codesign did not write"
    present = set(list_files(root))
    added = sorted(present - set(manifest.files))
    if added:
        more = f" (and {len(added) - 1} more)" if len(added) > 1 else ""
        return manifest, f"{added[0]}{more} was not written by codesign"
    for name in sorted(manifest.files):
        if name not in present:
            return manifest, f"{name} is missing"
        try:
            if entry_digest(root / name) != manifest.files[name]:
                return manifest, f"{name} was changed after codesign wrote it"
        except OSError as exc:
            return manifest, f"{name} cannot be read ({exc.strerror or exc})"
    return manifest, None


def owns_file(path: str | os.PathLike) -> bool:
    """True when the manifest of the file's directory lists it with exactly its current content."""
    path = Path(path)
    try:
        manifest = read_manifest(path.parent)
    except OutputError:
        return False
    if manifest is None or path.name not in manifest.files or path.is_symlink() or not path.is_file():
        return False
    return entry_digest(path) == manifest.files[path.name]


__all__ = ["MANIFEST_NAME", "Manifest", "build_manifest", "combined_digest", "directory_digest", "entry_digest",
           "list_files", "owns_file", "read_manifest", "verify_manifest", "why_not_own", "write_manifest"]
