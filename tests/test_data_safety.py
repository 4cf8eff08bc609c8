"""Nothing a user owns is lost or replaced: a corpus of bad output paths, faults, signals and
concurrent runs of the ``codesign`` command.

Every refused case must give one line on stderr, exit status 2, no traceback, no partial output
(no ``.*.partial`` staging, no ``*.old-*`` backup) and leave every file of the workspace exactly
as it was.  Exports use the crossbar backend on a tiny model (the cheapest real export); the
races and signals use a backend that holds its export half-way until the test says go
(``tests/safety_plugin``, installed for the subprocesses only).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from graphs import brevitas_mlp, save
from terminal import terminal_signals

from codesign.cli import main
from codesign.outputs import MANIFEST_NAME, verify_manifest

PLUGIN = Path(__file__).parent / "safety_plugin"
EXPORT = ["export", "model.onnx", "--target", "crossbar", "--card", "rram-40nm"]
LEFTOVER = re.compile(r"\.partial|\.old-|\.swap$|\.tmp$")


# ---------------------------------------------------------------------------------------------
# the workspace a user has, and how to tell that nothing in it changed
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory) -> bytes:
    return save(brevitas_mlp(), tmp_path_factory.mktemp("model") / "m.onnx").read_bytes()


@pytest.fixture
def work(tmp_path: Path, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/home/work (the current directory) with a model, notes, a user folder, links."""
    home = tmp_path / "home"
    work = home / "work"
    (work / "mine" / "sub").mkdir(parents=True)
    (work / "model.onnx").write_bytes(model_bytes)
    (work / "notes.txt").write_text("my notes\n")
    (work / "mine" / "thesis.tex").write_text("years of work\n")
    (work / "mine" / "sub" / "data.csv").write_text("1,2\n")
    (work / "mine" / "comparison.csv").write_text("my own comparison\n")
    (work / "mine" / "report.html").write_text("<p>my page</p>\n")
    (work / "link-to-mine").symlink_to(work / "mine", target_is_directory=True)
    (work / "link-to-notes").symlink_to(work / "notes.txt")
    (work / "link-to-cwd").symlink_to(work, target_is_directory=True)
    (work / "dangling").symlink_to(work / "nowhere")
    (home / "diary.txt").write_text("dear diary\n")
    monkeypatch.chdir(work)
    return work


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below root: type, content digest, mode, mtime (links not followed)."""
    entries = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                entries[str(path.relative_to(root))] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entries[str(path.relative_to(root))] = ("dir", info.st_mode)
            else:
                entries[str(path.relative_to(root))] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(),
                                                        info.st_mode, info.st_mtime_ns)
    return entries


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if LEFTOVER.search(p.name))


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert re.match(r"codesign \w+: error: ", lines[0]), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------------------------
# refused before any work: export --out
# ---------------------------------------------------------------------------------------------
EXPORT_REFUSED = [
    (".", False, "is the current directory"),
    (".", True, "is the current directory"),
    ("..", True, "is an ancestor of the current directory"),
    ("../..", True, "is an ancestor of the current directory"),
    ("/", True, "is an ancestor of the current directory"),
    ("mine/..", True, "is the current directory"),
    ("link-to-cwd", True, "is the current directory"),
    ("notes.txt", False, "is an existing file, not a directory"),
    ("notes.txt", True, "is an existing file, not a directory"),
    ("model.onnx", True, "is an existing file, not a directory"),
    ("link-to-notes", True, "is an existing file, not a directory"),
    ("mine", False, "mine already exists"),
    ("mine", True, "is not codesign's own unchanged output (no codesign-manifest.json"),
    ("link-to-mine", True, "is not codesign's own unchanged output"),
    ("mine/sub", True, "is not codesign's own unchanged output"),
    ("dangling", True, "is a symbolic link to a missing path"),
    ("notes.txt/out", False, "notes.txt is not a directory"),
    ("../diary.txt", True, "is an existing file, not a directory"),
    ("", True, "'' is the current directory"),
    ("/dev/null", True, "/dev/null is an existing file, not a directory"),
    ("x" * 300, False, "is longer than the file system allows"),
    ("runs/" + "y" * 300 + "/exp", False, "is longer than the file system allows"),
]


@pytest.mark.parametrize(("out", "force", "needle"), EXPORT_REFUSED,
                         ids=[f"{o[:40]}{' --force' if f else ''}" for o, f, _ in EXPORT_REFUSED])
def test_export_refuses_unsafe_out(work: Path, capsys, out: str, force: bool, needle: str) -> None:
    before = snapshot(work.parent)
    code, stdout, err = run([*EXPORT, "--out", out, *(["--force"] if force else [])], capsys)
    assert_one_line_error(code, err, needle)
    assert stdout == ""
    assert snapshot(work.parent) == before


def export_into(work: Path, out: str, capsys, *extra: str) -> str:
    code, stdout, err = run([*EXPORT, "--out", out, *extra], capsys)
    assert code == 0, err
    return stdout


@pytest.mark.parametrize("change", ["added file", "edited file", "deleted file", "edited manifest",
                                    "file became a link"])
def test_force_refuses_codesign_output_the_user_changed(work: Path, capsys, change: str) -> None:
    export_into(work, "exp", capsys)
    exp = work / "exp"
    if change == "added file":
        (exp / "my-measurements.csv").write_text("measured on the chip\n")
    elif change == "edited file":
        (exp / "mapping.json").write_text((exp / "mapping.json").read_text() + " ")
    elif change == "deleted file":
        (exp / "estimate.json").unlink()
    elif change == "edited manifest":
        data = json.loads((exp / MANIFEST_NAME).read_text())
        data["files"]["mapping.json"] = "0" * 64
        (exp / MANIFEST_NAME).write_text(json.dumps(data))
    else:
        (exp / "estimate.json").unlink()
        (exp / "estimate.json").symlink_to(work / "notes.txt")
    before = snapshot(work.parent)
    code, _, err = run([*EXPORT, "--out", "exp", "--force"], capsys)
    assert_one_line_error(code, err, "exp is not codesign's own unchanged output", "--force does not replace it")
    assert snapshot(work.parent) == before


def test_force_replaces_codesign_output_and_nothing_else(work: Path, capsys) -> None:
    first = export_into(work, "exp", capsys)
    inode = (work / "exp").stat().st_ino
    before = {k: v for k, v in snapshot(work.parent).items() if not k.startswith("work/exp")}
    second = export_into(work, "exp", capsys, "--force")
    assert first == second  # deterministic: same files, same digest
    assert (work / "exp").stat().st_ino != inode  # a new directory, swapped in
    manifest = verify_manifest(work / "exp")
    assert manifest.digest[:16] in second
    assert {k: v for k, v in snapshot(work.parent).items() if not k.startswith("work/exp")} == before
    assert leftovers(work.parent) == []


def test_force_through_a_link_replaces_the_codesign_output_it_points_to(work: Path, capsys) -> None:
    export_into(work, "exp", capsys)
    (work / "latest").symlink_to(work / "exp", target_is_directory=True)
    export_into(work, "latest", capsys, "--force")
    assert (work / "latest").is_symlink() and os.readlink(work / "latest") == str(work / "exp")
    verify_manifest(work / "exp")
    assert leftovers(work.parent) == []


def test_export_next_to_the_model_into_an_empty_or_new_nested_directory(work: Path, capsys) -> None:
    (work / "models").mkdir()
    shutil.copy(work / "model.onnx", work / "models" / "m.onnx")
    (work / "empty").mkdir()
    code, _, err = run(["export", "models/m.onnx", "--target", "crossbar", "--card", "rram-40nm",
                        "--out", "models/m-crossbar"], capsys)
    assert code == 0, err
    export_into(work, "empty", capsys)
    export_into(work, "runs/a/b/c", capsys)
    for folder in ("models/m-crossbar", "empty", "runs/a/b/c"):
        verify_manifest(work / folder)
    assert leftovers(work.parent) == []


def test_failed_export_leaves_no_output_and_no_created_parents(work: Path, capsys) -> None:
    before = snapshot(work.parent)
    code, _, err = run([*EXPORT, "--out", "runs/new/exp", "-O", "no_such_option=1"], capsys)
    assert_one_line_error(code, err, "no_such_option")
    assert snapshot(work.parent) == before


# ---------------------------------------------------------------------------------------------
# estimate --out (one file, or a directory with --target all), report, sweep, check --update
# ---------------------------------------------------------------------------------------------
ESTIMATE = ["estimate", "model.onnx", "--card", "rram-40nm"]
ESTIMATE_REFUSED = [
    ("notes.txt", "notes.txt already exists"),
    ("link-to-notes", "is a symbolic link"),
    (".", "is the current directory"),
    ("..", "is an ancestor of the current directory"),
    ("mine", "mine is a directory"),
    ("notes.txt/e.json", "notes.txt is not a directory"),
    ("model.onnx", "model.onnx already exists"),
    ("/dev/null", "/dev/null exists and is not a regular file"),
    ("e" * 300 + ".json", "is longer than the file system allows"),
]


@pytest.mark.parametrize(("out", "needle"), ESTIMATE_REFUSED, ids=[o[:40] for o, _ in ESTIMATE_REFUSED])
def test_estimate_out_never_replaces_a_file(work: Path, capsys, out: str, needle: str) -> None:
    before = snapshot(work.parent)
    code, stdout, err = run([*ESTIMATE, "--json", "--out", out], capsys)
    assert_one_line_error(code, err, needle)
    assert stdout == ""
    assert snapshot(work.parent) == before


def test_estimate_out_writes_a_new_file_once(work: Path, capsys) -> None:
    assert run([*ESTIMATE, "--json", "--out", "runs/e.json"], capsys)[0] == 0
    written = (work / "runs" / "e.json").read_bytes()
    code, _, err = run([*ESTIMATE, "--json", "--out", "runs/e.json"], capsys)
    assert_one_line_error(code, err, "runs/e.json already exists", "choose another name")
    assert (work / "runs" / "e.json").read_bytes() == written


ALL = ["estimate", "model.onnx", "--target", "all", "--card", "rram-40nm", "--json"]


@pytest.mark.parametrize(("out", "needle"), [(".", "is the current directory"),
                                             ("notes.txt", "is an existing file, not a directory"),
                                             ("mine", "comparison.csv already exists and codesign did not write it")])
def test_comparison_out_refuses_unsafe_paths(work: Path, capsys, out: str, needle: str) -> None:
    before = snapshot(work.parent)
    code, _, err = run([*ALL, "--out", out], capsys)
    assert_one_line_error(code, err, needle)
    assert snapshot(work.parent) == before


def test_comparison_out_replaces_only_its_own_files(work: Path, capsys) -> None:
    assert run([*ALL, "--out", "cmp"], capsys)[0] == 0
    assert set(verify_manifest(work / "cmp").files) == {"comparison.json", "comparison.csv", "comparison.png"}
    assert run([*ALL, "--out", "cmp"], capsys)[0] == 0  # a re-run replaces codesign's own table
    (work / "cmp" / "comparison.csv").write_text("edited by hand\n")
    code, _, err = run([*ALL, "--out", "cmp"], capsys)
    assert_one_line_error(code, err, "comparison.csv already exists and codesign did not write it")
    assert (work / "cmp" / "comparison.csv").read_text() == "edited by hand\n"
    assert leftovers(work.parent) == []


def test_report_replaces_its_own_page_but_not_a_users(work: Path, capsys) -> None:
    assert run([*ALL, "--out", "run"], capsys)[0] == 0
    assert run(["report", "run"], capsys)[0] == 0
    assert run(["report", "run"], capsys)[0] == 0  # its own earlier page
    verify_manifest(work / "run")  # the report is recorded in the run's manifest
    before = snapshot(work.parent)
    for argv, needle in ((["report", "run", "--out", "notes.txt"], "notes.txt exists and is not a page codesign"),
                         (["report", "run", "--out", "mine/report.html"], "report.html exists and is not a page"),
                         (["report", "run", "--out", "link-to-notes"], "link-to-notes exists and is not a page"),
                         (["report", "run", "--out", "mine"], "mine is a directory")):
        code, _, err = run(argv, capsys)
        assert_one_line_error(code, err, needle)
    assert snapshot(work.parent) == before


SWEEP = """dataset = "breast_cancer"
trials = 1
[[targets]]
target = "crossbar"
card = "rram-40nm"
"""


@pytest.mark.parametrize(("out", "needle"), [(".", "is the current directory"), ("..", "is an ancestor"),
                                             ("mine", "mine is not empty and codesign did not start a run there"),
                                             ("notes.txt", "is an existing file")])
def test_sweep_out_refuses_a_users_directory(work: Path, capsys, out: str, needle: str) -> None:
    (work.parent / "sweep.toml").write_text(SWEEP)
    before = snapshot(work.parent)
    code, _, err = run(["sweep", "../sweep.toml", "--out", out], capsys)
    assert_one_line_error(code, err, needle)
    assert snapshot(work.parent) == before


# ---------------------------------------------------------------------------------------------
# real processes: races, signals, permissions, limits
# ---------------------------------------------------------------------------------------------
def cli(*args: str, cwd: Path, plugin: bool = False, sync: Path | None = None, **popen) -> subprocess.Popen:
    env = dict(os.environ)
    if plugin:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN), env.get("PYTHONPATH")]))
    if sync is not None:
        env["SAFETY_SYNC"] = str(sync)
    popen.setdefault("preexec_fn", terminal_signals)
    return subprocess.Popen([sys.executable, "-m", "codesign.cli", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


HELD = ["export", "model.onnx", "--target", "held", "--card", "rram-40nm"]


def test_concurrent_exports_one_wins_and_is_complete(work: Path) -> None:
    """Real crossbar exports started together into one --out: exactly one succeeds."""
    processes = [cli(*EXPORT, "--out", "runs/same", cwd=work) for _ in range(4)]
    results = [finish(p) for p in processes]
    winners = [r for r in results if r[0] == 0]
    assert len(winners) == 1, results
    for code, _, err in results:
        if code != 0:
            assert_one_line_error(code, err, "runs/same already exists")
    manifest = verify_manifest(work / "runs" / "same")
    assert f"sha256 {manifest.digest[:16]}" in winners[0][1]
    assert leftovers(work.parent) == []


def test_concurrent_estimates_into_one_file_one_wins(work: Path) -> None:
    processes = [cli(*ESTIMATE, "--json", "--out", "e.json", cwd=work) for _ in range(3)]
    results = [finish(p) for p in processes]
    winners = [r for r in results if r[0] == 0]
    assert len(winners) == 1, results
    for code, _, err in results:
        if code != 0:
            assert_one_line_error(code, err, "e.json already exists")
    assert (work / "e.json").read_text() == winners[0][1]
    assert leftovers(work.parent) == []


@pytest.mark.parametrize("force", [False, True])
def test_racing_exports_held_at_the_same_moment_one_wins(work: Path, force: bool) -> None:
    """Three exports wait inside their staging directories, then publish at once."""
    sync = work.parent / "sync"
    sync.mkdir()
    if force:
        export = cli(*EXPORT, "--out", "same", cwd=work)
        assert finish(export)[0] == 0
    processes = [cli(*HELD, "--out", "same", *(["--force"] if force else []), cwd=work, plugin=True, sync=sync)
                 for _ in range(3)]
    wait_for(lambda: len(list(sync.glob("ready-*"))) == 3 or any(p.poll() is not None for p in processes),
             "three exports inside their staging directories")
    (sync / "go").touch()
    results = [finish(p) for p in processes]
    winners = [(p, r) for p, r in zip(processes, results) if r[0] == 0]
    assert len(winners) == 1, results
    for code, _, err in results:
        if code != 0:
            assert_one_line_error(code, err, "was replaced by another process" if force else "already exists")
    manifest = verify_manifest(work / "same")
    assert set(manifest.files) == {"first-half.txt", "second-half.txt"}
    assert (work / "same" / "second-half.txt").read_text() == f"written by process {winners[0][0].pid}\n"
    assert leftovers(work.parent) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_mid_export_leaves_nothing(work: Path, signum: int) -> None:
    sync = work.parent / "sync"
    sync.mkdir()
    before = snapshot(work.parent)
    process = cli(*HELD, "--out", "runs/new/exp", cwd=work, plugin=True, sync=sync)
    wait_for(lambda: any(sync.glob("ready-*")) or process.poll() is not None, "the export to start writing")
    assert process.poll() is None, process.communicate()
    assert any(LEFTOVER.search(p.name) for p in (work / "runs" / "new").iterdir())  # it is mid-way
    process.send_signal(signum)
    code, out, err = finish(process)
    if signum == signal.SIGINT:
        assert code == 130 and err.strip() == "codesign: interrupted"
    else:
        assert code == -signum, err
        assert err.strip().splitlines() == [f"codesign: terminated by {signal.Signals(signum).name}; "
                                            "nothing was written to runs/new/exp"]
    assert "Traceback" not in err
    after = snapshot(work.parent)
    after.pop("sync/" + next(p.name for p in sync.glob("ready-*")))
    assert {k: v for k, v in after.items() if k != "sync"} == {k: v for k, v in before.items() if k != "sync"}


def test_sigkill_leftover_is_removed_by_the_next_export(work: Path, capsys) -> None:
    """SIGKILL cannot be handled: its staging directory stays until the next write there."""
    sync = work.parent / "sync"
    sync.mkdir()
    process = cli(*HELD, "--out", "exp", cwd=work, plugin=True, sync=sync)
    wait_for(lambda: any(sync.glob("ready-*")) or process.poll() is not None, "the export to start writing")
    process.kill()
    assert finish(process)[0] == -signal.SIGKILL
    assert len(leftovers(work)) == 1 and not (work / "exp").exists()
    live = work / f".exp.{leftovers(work)[0].split('.')[2].split('-')[0]}-{os.getpid()}.abcdefgh.partial"
    live.mkdir()  # a staging directory of a process that is still running: kept
    export_into(work, "exp", capsys)
    verify_manifest(work / "exp")
    assert leftovers(work) == [live.name]


def test_signal_during_a_forced_replacement_keeps_the_old_output(work: Path, capsys) -> None:
    export_into(work, "exp", capsys)
    old = snapshot(work / "exp")
    sync = work.parent / "sync"
    sync.mkdir()
    process = cli(*HELD, "--out", "exp", "--force", cwd=work, plugin=True, sync=sync)
    wait_for(lambda: any(sync.glob("ready-*")) or process.poll() is not None, "the export to start writing")
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process)
    assert code == -signal.SIGTERM, err
    assert snapshot(work / "exp") == old
    verify_manifest(work / "exp")
    assert leftovers(work.parent) == []


def test_ignored_sighup_is_left_ignored(work: Path) -> None:
    """Under nohup SIGHUP is ignored: codesign must not start acting on it."""
    sync = work.parent / "sync"
    sync.mkdir()
    process = cli(*HELD, "--out", "exp", cwd=work, plugin=True, sync=sync,
                  preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    wait_for(lambda: any(sync.glob("ready-*")) or process.poll() is not None, "the export to start writing")
    process.send_signal(signal.SIGHUP)
    time.sleep(0.2)
    (sync / "go").touch()
    code, out, err = finish(process)
    assert code == 0, err
    verify_manifest(work / "exp")


@pytest.fixture
def read_only_dir(tmp_path: Path):
    """A directory nobody may write into: chmod 555, and for root (who ignores modes) the
    immutable attribute."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        immutable = chattr is not None and subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("running as root on a file system without the immutable attribute")
    try:
        yield folder
    finally:
        if immutable:
            subprocess.run([shutil.which("chattr"), "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_read_only_parent_is_a_one_line_error(work: Path, read_only_dir: Path, capsys) -> None:
    (work / "locked").symlink_to(read_only_dir, target_is_directory=True)
    before = snapshot(work.parent)
    for argv in ([*EXPORT, "--out", "locked/exp"], [*EXPORT, "--out", "locked/new/deeper/exp"],
                 [*ESTIMATE, "--out", "locked/e.json"], [*ALL, "--out", "locked/cmp"]):
        code, _, err = run(argv, capsys)
        assert_one_line_error(code, err, "locked/", "cannot be written", "is not writable")
    assert snapshot(work.parent) == before
    assert list(read_only_dir.iterdir()) == []


def test_file_size_limit_hit_mid_export_is_a_one_line_error(work: Path) -> None:
    """A full disk, seen the way a process can cause it: writes beyond RLIMIT_FSIZE fail (EFBIG)."""
    import resource

    before = snapshot(work.parent)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))

    code, _, err = finish(cli(*EXPORT, "--out", "runs/exp", cwd=work, preexec_fn=limit))
    assert_one_line_error(code, err, "runs/exp cannot be written", "file too large")
    assert snapshot(work.parent) == before


# ---------------------------------------------------------------------------------------------
# slow: real exports interrupted at arbitrary moments
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 3.0])
def test_sigterm_at_any_moment_leaves_all_or_nothing(work: Path, delay: float) -> None:
    process = cli(*EXPORT, "--out", "runs/exp", cwd=work)
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    code, out, err = finish(process)
    assert "Traceback" not in err
    if code == 0:
        verify_manifest(work / "runs" / "exp")
    else:
        assert code == -signal.SIGTERM
        assert not (work / "runs").exists()
    assert leftovers(work.parent) == []


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_during_printed_approximation_search(work: Path, signum: int) -> None:
    """The printed export searches approximations inside its staging directory for seconds."""
    save(brevitas_mlp((30, 6, 2)), work / "model.onnx")
    before = snapshot(work.parent)
    process = cli("export", "model.onnx", "--target", "printed", "--card", "egfet-1v", "--data", "breast_cancer",
                  "--accuracy-loss", "0.02", "-O", "trials=400", "--out", "exp", cwd=work)
    wait_for(lambda: any(LEFTOVER.search(p.name) for p in work.iterdir()) or process.poll() is not None,
             "the staging directory", timeout=300)
    time.sleep(1.0)
    process.send_signal(signum)
    code, _, err = finish(process)
    assert "Traceback" not in err
    assert code in (-signum, 130, 0), err
    if code == 0:
        verify_manifest(work / "exp")
    else:
        assert snapshot(work.parent) == before
