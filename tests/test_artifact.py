"""Atomic artifact directories and their content digests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from codesign.artifact import (
    MANIFEST_NAME,
    Artifact,
    atomic_directory,
    directory_digest,
    verify_manifest,
)
from codesign.errors import BackendError


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Create ``root`` with the given {relative path: content} files, in the given order."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def leftovers(parent: Path) -> list[str]:
    """Staging or backup entries an atomic write must not leave behind."""
    return sorted(p.name for p in parent.iterdir() if ".partial" in p.name or ".old-" in p.name)


TREE = {"top.v": b"module top; endmodule\n", "firmware/weights.h": b"int w[4] = {1, -2, 3, 0};\n",
        "README": b"generated\n"}


class Boom(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# atomic_directory
# ---------------------------------------------------------------------------------------------
def test_success_creates_destination_with_files(tmp_path: Path) -> None:
    destination = tmp_path / "out" / "design"
    with atomic_directory(destination) as staging:
        assert staging != destination
        assert staging.parent == destination.parent
        assert not destination.exists()
        write_tree(staging, TREE)
    assert destination.is_dir()
    assert (destination / "firmware" / "weights.h").read_bytes() == TREE["firmware/weights.h"]
    assert not staging.exists()
    assert leftovers(destination.parent) == []


def test_exception_leaves_nothing_behind(tmp_path: Path) -> None:
    destination = tmp_path / "design"
    with pytest.raises(Boom), atomic_directory(destination) as staging:
        write_tree(staging, TREE)
        raise Boom("backend failed half way")
    assert not destination.exists()
    assert not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_keyboard_interrupt_also_cleans_up(tmp_path: Path) -> None:
    destination = tmp_path / "design"
    with pytest.raises(KeyboardInterrupt), atomic_directory(destination) as staging:
        write_tree(staging, TREE)
        raise KeyboardInterrupt
    assert not destination.exists()
    assert leftovers(tmp_path) == []


def test_existing_destination_without_overwrite_is_an_error(tmp_path: Path) -> None:
    destination = write_tree(tmp_path / "design", {"old.txt": b"old"})
    with pytest.raises(BackendError) as info, atomic_directory(destination):
        pytest.fail("the body must not run when the destination exists")
    assert str(destination) in str(info.value)
    assert "already exists" in str(info.value)
    assert "--force" in str(info.value)
    assert (destination / "old.txt").read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def codesign_output(destination: Path, files: dict[str, bytes]) -> Path:
    """A directory written by codesign (with its manifest)."""
    with atomic_directory(destination) as staging:
        write_tree(staging, files)
    return destination


def test_overwrite_replaces_codesign_output(tmp_path: Path) -> None:
    destination = codesign_output(tmp_path / "design", {"old.txt": b"old", "sub/stale.txt": b"stale"})
    with atomic_directory(destination, overwrite=True) as staging:
        (staging / "new.txt").write_bytes(b"new")
    assert sorted(p.name for p in destination.rglob("*")) == [MANIFEST_NAME, "new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["design"]
    assert verify_manifest(destination).files.keys() == {"new.txt"}


def test_overwrite_refuses_a_directory_codesign_did_not_write(tmp_path: Path) -> None:
    destination = write_tree(tmp_path / "design", {"thesis.tex": b"years of work"})
    with pytest.raises(BackendError, match="not codesign's own") as info, \
            atomic_directory(destination, overwrite=True):
        pytest.fail("the body must not run")
    assert str(destination) in str(info.value)
    assert (destination / "thesis.tex").read_bytes() == b"years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["design"]


def test_overwrite_refuses_codesign_output_with_an_added_file(tmp_path: Path) -> None:
    destination = codesign_output(tmp_path / "design", TREE)
    (destination / "notes.txt").write_bytes(b"mine")
    with pytest.raises(BackendError, match="notes.txt was not written by codesign"), \
            atomic_directory(destination, overwrite=True):
        pytest.fail("the body must not run")
    assert (destination / "notes.txt").read_bytes() == b"mine"


def test_overwrite_refuses_codesign_output_with_an_edited_file(tmp_path: Path) -> None:
    destination = codesign_output(tmp_path / "design", TREE)
    (destination / "top.v").write_bytes(b"module top; // my fix\nendmodule\n")
    with pytest.raises(BackendError, match="top.v was changed after codesign wrote it"), \
            atomic_directory(destination, overwrite=True):
        pytest.fail("the body must not run")
    assert b"my fix" in (destination / "top.v").read_bytes()


def test_failed_overwrite_keeps_the_old_content(tmp_path: Path) -> None:
    destination = codesign_output(tmp_path / "design", {"old.txt": b"old"})
    with pytest.raises(Boom), atomic_directory(destination, overwrite=True) as staging:
        (staging / "new.txt").write_bytes(b"new")
        raise Boom
    assert sorted(p.name for p in destination.iterdir()) == [MANIFEST_NAME, "old.txt"]
    verify_manifest(destination)
    assert leftovers(tmp_path) == []


def test_manifest_records_every_file_and_the_digest(tmp_path: Path) -> None:
    destination = codesign_output(tmp_path / "design", TREE)
    manifest = verify_manifest(destination)
    assert sorted(manifest.files) == sorted(TREE)
    assert manifest.digest == directory_digest(destination) == Artifact.from_directory("x", destination).digest
    data = json.loads((destination / MANIFEST_NAME).read_text())
    assert data["digest"] == manifest.digest
    assert data["files"]["top.v"] == hashlib.sha256(TREE["top.v"]).hexdigest()


# ---------------------------------------------------------------------------------------------
# Digests
# ---------------------------------------------------------------------------------------------
def test_artifact_lists_files_and_digest(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "a", TREE)
    artifact = Artifact.from_directory("fpga", root, {"luts": 10})
    assert artifact.target == "fpga"
    assert artifact.directory == root
    assert artifact.files == ("README", "firmware/weights.h", "top.v")
    assert artifact.summary == {"luts": 10}
    assert len(artifact.digest) == 64
    assert artifact.digest == directory_digest(root)


def test_digest_is_stable_across_identical_trees(tmp_path: Path) -> None:
    a = Artifact.from_directory("fpga", write_tree(tmp_path / "a", TREE))
    b = Artifact.from_directory("fpga", write_tree(tmp_path / "b", TREE))
    assert a.digest == b.digest
    assert a.files == b.files


def test_digest_changes_when_one_byte_changes(tmp_path: Path) -> None:
    changed = dict(TREE, **{"firmware/weights.h": b"int w[4] = {1, -2, 3, 1};\n"})
    a = Artifact.from_directory("fpga", write_tree(tmp_path / "a", TREE))
    b = Artifact.from_directory("fpga", write_tree(tmp_path / "b", changed))
    assert a.digest != b.digest


def test_digest_changes_when_a_file_is_renamed(tmp_path: Path) -> None:
    renamed = {("top2.v" if name == "top.v" else name): content for name, content in TREE.items()}
    assert directory_digest(write_tree(tmp_path / "a", TREE)) != \
        directory_digest(write_tree(tmp_path / "b", renamed))


def test_digest_does_not_depend_on_creation_order(tmp_path: Path) -> None:
    forward = write_tree(tmp_path / "a", TREE)
    backward = write_tree(tmp_path / "b", dict(reversed(list(TREE.items()))))
    assert directory_digest(forward) == directory_digest(backward)


def test_empty_directory_has_the_empty_digest(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    artifact = Artifact.from_directory("printed", tmp_path / "empty")
    assert artifact.files == ()
    assert artifact.digest == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_artifact_verify_checks_directory_and_digest(tmp_path: Path) -> None:
    artifact = Artifact.from_directory("fpga", codesign_output(tmp_path / "a", TREE))
    artifact.verify()
    (tmp_path / "a" / "README").write_bytes(b"edited")
    with pytest.raises(BackendError, match="README was changed after codesign wrote it"):
        artifact.verify()
