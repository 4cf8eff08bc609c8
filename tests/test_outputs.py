"""The one output helper: atomic files and directories that never replace what a user owns."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from terminal import terminal_signals

from codesign.errors import OutputError
from codesign.outputs import (
    MANIFEST_NAME,
    atomic_directory,
    atomic_file,
    claim_directory,
    open_run_directory,
    verify_manifest,
    write_file,
    write_files,
)
from codesign.outputs import fs as output_fs
from codesign.outputs.manifest import owns_file, read_manifest


def leftovers(root: Path) -> list[str]:
    """Staging, backup or swap entries anywhere below ``root``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if any(mark in p.name for mark in (".partial", ".old-", ".swap", ".tmp")))


# ---------------------------------------------------------------------------------------------
# single files
# ---------------------------------------------------------------------------------------------
def test_new_file_is_written_with_its_parents(tmp_path: Path) -> None:
    path = write_file(tmp_path / "a" / "b" / "x.json", "{}\n")
    assert path.read_text() == "{}\n"
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "a" / "b" / MANIFEST_NAME).exists()  # "never" files are not recorded


def test_existing_file_is_never_replaced_by_default(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("mine")
    with pytest.raises(OutputError, match="x.json already exists; choose another name"):
        write_file(path, "theirs")
    assert path.read_text() == "mine"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("replace", ["never", "own", "always"])
def test_a_directory_or_a_link_is_never_a_file_output(tmp_path: Path, replace: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "target.txt").write_text("mine")
    (tmp_path / "link.txt").symlink_to(tmp_path / "target.txt")
    with pytest.raises(OutputError, match="is a directory"):
        write_file(tmp_path / "folder", "x", replace=replace)
    with pytest.raises(OutputError, match="is a symbolic link"):
        write_file(tmp_path / "link.txt", "x", replace=replace)
    assert (tmp_path / "target.txt").read_text() == "mine"
    assert leftovers(tmp_path) == []


def test_own_replaces_only_what_codesign_wrote_unchanged(tmp_path: Path) -> None:
    user = tmp_path / "report.html"
    user.write_text("my notes")
    with pytest.raises(OutputError, match="codesign did not write it"):
        write_file(user, "page", replace="own")
    assert user.read_text() == "my notes"

    ours = tmp_path / "comparison.csv"
    write_file(ours, "v1", replace="own")
    assert owns_file(ours)
    write_file(ours, "v2", replace="own")
    assert ours.read_text() == "v2"
    ledger = read_manifest(tmp_path)
    assert ledger.kind == "ledger" and set(ledger.files) == {"comparison.csv"}

    ours.write_text("v2 with my edit")
    with pytest.raises(OutputError, match="or it was changed since"):
        write_file(ours, "v3", replace="own")
    assert ours.read_text() == "v2 with my edit"
    assert leftovers(tmp_path) == []


def test_a_recogniser_also_replaces_files_of_earlier_versions(tmp_path: Path) -> None:
    def page(path: Path) -> bool:
        return path.read_text().startswith("<!-- codesign page -->")

    old = tmp_path / "report.html"
    old.write_text("<!-- codesign page --> written before manifests existed")
    write_file(old, "<!-- codesign page --> new", replace=page)
    assert old.read_text() == "<!-- codesign page --> new" and owns_file(old)
    mine = tmp_path / "index.html"
    mine.write_text("<p>my page</p>")
    with pytest.raises(OutputError, match="codesign did not write it"):
        write_file(mine, "<!-- codesign page -->", replace=page)
    assert mine.read_text() == "<p>my page</p>"


def test_always_is_a_deliberate_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text("old")
    write_file(path, "new", replace="always")
    assert path.read_text() == "new"


def test_failed_file_write_leaves_nothing_and_removes_created_parents(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "new" / "deep" / "x.png") as temporary:
        assert temporary.name == "x.png"  # writers that look at the suffix (savefig) see the real name
        temporary.write_bytes(b"half")
        raise RuntimeError("plot failed")
    assert list(tmp_path.iterdir()) == []


def test_scratch_files_beside_the_temporary_go_away(tmp_path: Path) -> None:
    with atomic_file(tmp_path / "model.onnx") as temporary:
        temporary.with_name("raw.onnx").write_bytes(b"scratch")  # e.g. an exporter's first pass
        temporary.write_bytes(b"model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_full_disk_is_a_one_line_error(tmp_path: Path) -> None:
    def full(path: Path) -> None:
        path.write_bytes(b"x")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with pytest.raises(OutputError) as info:
        write_file(tmp_path / "x.bin", full)
    assert "cannot be written" in str(info.value) and "no space left on device" in str(info.value)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# several files into one directory
# ---------------------------------------------------------------------------------------------
def test_files_into_a_new_directory_arrive_together_with_a_manifest(tmp_path: Path) -> None:
    paths = write_files(tmp_path / "cmp", {"a.json": "{}", "b.csv": b"x,y\n", "c.txt": lambda p: p.write_text("c")})
    assert sorted(paths) == ["a.json", "b.csv", "c.txt"]
    assert set(verify_manifest(tmp_path / "cmp").files) == {"a.json", "b.csv", "c.txt"}
    write_files(tmp_path / "cmp", {"a.json": "[]", "b.csv": b"z\n", "c.txt": "d"})  # codesign's own: replaced
    assert (tmp_path / "cmp" / "a.json").read_text() == "[]"
    verify_manifest(tmp_path / "cmp")


def test_files_into_a_user_directory_refuse_before_writing_any(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "b.csv").write_text("my table")
    with pytest.raises(OutputError, match="b.csv already exists and codesign did not write it"):
        write_files(folder, {"a.json": "{}", "b.csv": "x"})
    assert sorted(p.name for p in folder.iterdir()) == ["b.csv"]
    assert (folder / "b.csv").read_text() == "my table"


# ---------------------------------------------------------------------------------------------
# run directories (sweeps)
# ---------------------------------------------------------------------------------------------
def test_run_directory_is_new_empty_or_codesigns(tmp_path: Path) -> None:
    run = open_run_directory(tmp_path / "sweep")
    assert read_manifest(run).kind == "ledger"
    (run / "trials").mkdir()
    assert open_run_directory(run) == run  # resumes
    (tmp_path / "empty").mkdir()
    open_run_directory(tmp_path / "empty")
    user = tmp_path / "papers"
    user.mkdir()
    (user / "draft.tex").write_text("mine")
    with pytest.raises(OutputError, match="codesign did not start a run there"):
        open_run_directory(user)
    assert sorted(p.name for p in user.iterdir()) == ["draft.tex"]
    with atomic_directory(tmp_path / "export") as staging:
        (staging / "x").write_text("x")
    with pytest.raises(OutputError, match="codesign did not start a run there"):
        open_run_directory(tmp_path / "export")


# ---------------------------------------------------------------------------------------------
# directories: races and the fallbacks without renameat2
# ---------------------------------------------------------------------------------------------
def test_claimed_destination_written_meanwhile_is_refused(tmp_path: Path) -> None:
    destination = tmp_path / "out"
    claim_directory(destination)
    destination.mkdir()
    (destination / "someone-else.txt").write_text("theirs")
    with pytest.raises(OutputError, match="another process wrote it while this one was working"), \
            atomic_directory(destination):
        pytest.fail("must not start")
    assert sorted(p.name for p in destination.iterdir()) == ["someone-else.txt"]


def test_destination_appearing_during_the_build_is_kept(tmp_path: Path) -> None:
    destination = tmp_path / "out"
    with pytest.raises(OutputError, match="another process wrote it"), atomic_directory(destination) as staging:
        (staging / "mine.txt").write_text("loser")
        destination.mkdir()
        (destination / "winner.txt").write_text("winner")
    assert sorted(p.name for p in destination.iterdir()) == ["winner.txt"]
    assert leftovers(tmp_path) == []


def test_forced_replacement_of_output_replaced_meanwhile_is_refused(tmp_path: Path) -> None:
    destination = tmp_path / "out"
    with atomic_directory(destination) as staging:
        (staging / "v.txt").write_text("1")
    claim_directory(destination, overwrite=True)
    with atomic_directory(tmp_path / "other") as staging:
        (staging / "v.txt").write_text("2")
    os.rename(destination, tmp_path / "first")
    os.rename(tmp_path / "other", destination)  # another run replaced it after this one started
    with pytest.raises(OutputError, match="was replaced by another process"), \
            atomic_directory(destination, overwrite=True):
        pass
    assert (destination / "v.txt").read_text() == "2"


@pytest.fixture
def no_renameat2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output_fs, "_renameat2", lambda *args: False)


def test_fallback_without_renameat2_still_refuses_and_replaces_safely(tmp_path: Path, no_renameat2) -> None:
    destination = tmp_path / "out"
    with atomic_directory(destination) as staging:
        (staging / "v.txt").write_text("1")
    with pytest.raises(OutputError, match="another process wrote it"), \
            atomic_directory(tmp_path / "late") as staging:
        (tmp_path / "late").mkdir()
        (tmp_path / "late" / "x").write_text("x")
    with atomic_directory(destination, overwrite=True) as staging:
        (staging / "v.txt").write_text("2")
    assert (destination / "v.txt").read_text() == "2"
    verify_manifest(destination)
    write_file(tmp_path / "f.txt", "a")
    with pytest.raises(OutputError, match="already exists"):
        write_file(tmp_path / "f.txt", "b")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("native", [True, False])
def test_rename_without_replace_never_replaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    if not native:
        monkeypatch.setattr(output_fs, "_renameat2", lambda *args: False)
    for kind in ("file", "directory", "empty directory"):
        source, target = tmp_path / f"{kind}-new", tmp_path / f"{kind}-old"
        if kind == "file":
            source.write_text("new")
            target.write_text("old")
        else:
            source.mkdir()
            (source / "x").write_text("new")
            target.mkdir()
            if kind == "directory":
                (target / "x").write_text("old")
        with pytest.raises(FileExistsError):
            output_fs.rename_noreplace(source, target)
        assert source.exists()
    output_fs.rename_noreplace(tmp_path / "file-new", tmp_path / "fresh")
    assert (tmp_path / "fresh").read_text() == "new" and not (tmp_path / "file-new").exists()
    assert (tmp_path / "file-old").read_text() == "old" and (tmp_path / "directory-old" / "x").read_text() == "old"


def test_user_edit_during_the_swap_is_put_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    destination = tmp_path / "out"
    with atomic_directory(destination) as staging:
        (staging / "v.txt").write_text("1")
    exchange = output_fs.exchange
    calls = []

    def exchange_then_edit(first: Path, second: Path) -> None:
        exchange(first, second)
        if not calls:  # the user writes into the old directory right at the swap
            (first / "late-note.txt").write_text("mine")
        calls.append(1)

    monkeypatch.setattr("codesign.outputs.exchange", exchange_then_edit)
    expected = r"changed while it was being replaced \(late-note.txt was not written by codesign\); it was kept"
    with pytest.raises(OutputError, match=expected), atomic_directory(destination, overwrite=True) as staging:
        (staging / "v.txt").write_text("2")
    assert (destination / "late-note.txt").read_text() == "mine"
    assert (destination / "v.txt").read_text() == "1"
    assert leftovers(tmp_path) == []


def test_error_while_checking_the_swapped_out_directory_puts_it_back(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    destination = tmp_path / "out"
    with atomic_directory(destination) as staging:
        (staging / "v.txt").write_text("1")

    def unreadable(directory: Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(directory / "v.txt"))

    monkeypatch.setattr("codesign.outputs.why_not_own", unreadable)
    with pytest.raises(OutputError, match="permission denied"), \
            atomic_directory(destination, overwrite=True) as staging:
        (staging / "v.txt").write_text("2")
    assert (destination / "v.txt").read_text() == "1"
    verify_manifest(destination)
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# signals (in a child process: the signal must really arrive)
# ---------------------------------------------------------------------------------------------
CHILD = """
import os, signal, sys, time
from pathlib import Path
from codesign.outputs import atomic_directory, write_file
from codesign.outputs.interrupts import critical, guarded
mode, root = sys.argv[1], Path(sys.argv[2])
if mode == "directory":
    with atomic_directory(root / "new" / "out") as staging:
        (staging / "half.txt").write_text("half")
        (root / "ready").touch()
        time.sleep(60)
elif mode == "file":
    write_file(root / "new" / "x.txt", lambda p: (p.write_text("half"), (root / "ready").touch(), time.sleep(60)))
elif mode == "critical":
    with guarded("x"):
        with critical():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            print("critical block finished", flush=True)
        print("not reached", flush=True)
"""


def _child(mode: str, root: Path, signum: int | None) -> subprocess.CompletedProcess:
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), mode, str(root)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=terminal_signals)
    if signum is not None:
        for _ in range(3000):
            if (root / "ready").exists() or process.poll() is not None:
                break
            import time

            time.sleep(0.01)
        process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize("mode", ["directory", "file"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_and_end_the_process_by_the_signal(tmp_path: Path, mode: str, signum) -> None:
    result = _child(mode, tmp_path, signum)
    assert result.returncode == -signum, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"codesign: terminated by {signal.Signals(signum).name}; nothing was written to "
        f"{tmp_path / 'new' / ('out' if mode == 'directory' else 'x.txt')}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ready"]


def test_signals_wait_for_the_end_of_a_critical_step(tmp_path: Path) -> None:
    result = _child("critical", tmp_path, None)
    assert result.returncode == -signal.SIGTERM
    assert result.stdout.splitlines() == ["critical block finished"]


def test_manifest_is_sorted_json_with_the_digest(tmp_path: Path) -> None:
    with atomic_directory(tmp_path / "out") as staging:
        (staging / "b.txt").write_text("b")
        (staging / "a.txt").write_text("a")
    text = (tmp_path / "out" / MANIFEST_NAME).read_text()
    data = json.loads(text)
    assert list(data["files"]) == ["a.txt", "b.txt"]
    assert data["digest"] == verify_manifest(tmp_path / "out").digest
    assert data["kind"] == "artifact" and data["format"] == "codesign-manifest/1"
