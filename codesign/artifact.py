"""Artifacts: the files a backend produces, with a digest, written atomically.

A backend builds its output in ``atomic_directory(out_dir, overwrite=...)``: a staging
directory next to the destination that becomes the destination, with a manifest of its files
(``codesign-manifest.json``: every file's sha256 and the combined digest), only when the build
is complete.  A failed or interrupted export leaves nothing behind; ``overwrite`` replaces
only codesign's own unchanged output.  ``verify_manifest(directory)`` checks a directory
against its manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from codesign.outputs import atomic_directory
from codesign.outputs.manifest import MANIFEST_NAME, directory_digest, list_files, verify_manifest


@dataclass(frozen=True)
class Artifact:
    """A written backend output: its directory, its files and their combined digest (the
    manifest itself is not one of the files)."""

    target: str
    directory: Path
    files: tuple[str, ...]
    digest: str
    summary: dict = field(default_factory=dict)

    @classmethod
    def from_directory(cls, target: str, directory: Path, summary: dict | None = None) -> Artifact:
        files = list_files(directory)
        return cls(target, directory, files, directory_digest(directory, files), summary or {})

    def verify(self) -> None:
        """Raise OutputError unless the directory still matches its manifest and this digest."""
        manifest = verify_manifest(self.directory)
        if manifest.digest != self.digest:
            from codesign.errors import OutputError

            raise OutputError(f"{self.directory} holds another output than this artifact "
                              f"(digest {manifest.digest[:16]}, expected {self.digest[:16]})")


__all__ = ["MANIFEST_NAME", "Artifact", "atomic_directory", "directory_digest", "verify_manifest"]
