"""``codesign check``: the reference baselines hold, drifts fail and are named, --update, bad input."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from codesign.backends.crossbar import cost as crossbar_cost
from codesign.backends.fpga import resources as fpga_resources
from codesign.cards import load_card
from codesign.check import check_baselines
from codesign.cli import main

BASELINES = Path(__file__).parent / "baselines"


def _without_printed(directory: Path) -> None:
    """Drop the printed case (yosys synthesis, ~1 s) from a copied baseline directory."""
    toml = directory / "baselines.toml"
    head, *blocks = toml.read_text().split("[[case]]")
    toml.write_text("[[case]]".join([head, *(b for b in blocks if '"egfet-1v"' not in b)]))
    shutil.rmtree(directory / "estimates" / "tiny_w4")


@pytest.fixture
def baselines(tmp_path: Path) -> Path:
    """A copy of the reference baselines without the printed case (fast, analytical only)."""
    directory = tmp_path / "baselines"
    shutil.copytree(BASELINES, directory)
    _without_printed(directory)
    return directory


def _scaled_card(name: str, section: str, key: str, factor: float, out: Path) -> Path:
    """A copy of a shipped card with one constant's value scaled."""
    text = Path(load_card(name).path).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    current, done = None, False
    for index, line in enumerate(lines):
        if line.startswith("["):
            current = line.strip().strip("[]")
        elif current == section and line.startswith(f"{key} = "):
            written = re.search(r"value = ([0-9.eE+-]+)", line).group(1)
            lines[index] = line.replace(f"value = {written}", f"value = {float(written) * factor!r}", 1)
            done = True
    assert done, f"{section}.{key} not found in {name}"
    out.write_text("".join(lines), encoding="utf-8")
    return out


def _point_first_case_at(directory: Path, old: str, new: str) -> None:
    toml = directory / "baselines.toml"
    toml.write_text(toml.read_text().replace(f'card = "{old}"', f'card = "{new}"', 1))


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "Traceback" not in captured.err + captured.out
    assert len(err.splitlines()) == 1, err
    return err


# ---------------------------------------------------------------------------------------------
# The reference baselines
# ---------------------------------------------------------------------------------------------
def test_reference_baselines_hold(capsys) -> None:
    assert main(["check", str(BASELINES)]) == 0
    out = capsys.readouterr().out
    assert "baselines hold: 7 cases" in out
    assert "DRIFT" not in out


def test_reference_baselines_cover_every_target() -> None:
    result = check_baselines(BASELINES)
    assert result.ok and not result.stale and not result.notes
    pairs = {(r.case.target, r.case.card_name) for r in result.cases}
    assert pairs == {("fpga", "pynq-z2"), ("crossbar", "rram-40nm"), ("crossbar", "isaac-32nm"),
                     ("printed", "egfet-1v")}
    reuse = {r.case.options.get("reuse_factor") for r in result.cases if r.case.target == "fpga"}
    assert {1, 2} <= reuse
    assert result.seconds < 30


def test_models_are_reproducible(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_models", BASELINES / "make_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(tmp_path)
    assert written
    for path in written:
        assert path.read_bytes() == (BASELINES / "models" / path.name).read_bytes(), path.name
    assert {p.name for p in written} == {p.name for p in (BASELINES / "models").glob("*.onnx")}


# ---------------------------------------------------------------------------------------------
# Drift
# ---------------------------------------------------------------------------------------------
def test_perturbed_card_drifts_names_keys_and_card_hash(baselines: Path, capsys) -> None:
    card = _scaled_card("pynq-z2", "power", "static", 1.1, baselines / "pynq-z2-hot.toml")
    _point_first_case_at(baselines, "pynq-z2", card.name)

    assert main(["check", str(baselines)]) == 1
    out = capsys.readouterr().out
    assert "DRIFT" in out and "drifted keys" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith(f"1 of 6 cases drifted in {baselines} (")
    assert ": mlp_w4 fpga/pynq-z2 (pynq-z2-hot.toml) reuse_factor=1 (card_hash, " in summary
    assert "power_w" in summary and "card_hash" in summary and "--update" in summary
    assert "card changed" in out

    result = check_baselines(baselines)
    [drifted] = result.drifted
    keys = {d.key: d for d in drifted.drifts}
    assert {"power_w", "energy_j", "card_hash"} <= set(keys)
    assert 0 < keys["power_w"].relative_change < 0.1 + 1e-9
    assert "latency_s" not in keys and "area_mm2" not in keys  # static power moves power and energy only

    assert main(["check", str(baselines), "--update"]) == 0
    out = capsys.readouterr().out
    assert "updated" in out and "changes written to the baselines" in out and "power_w" in out
    assert main(["check", str(baselines)]) == 0
    assert "baselines hold: 6 cases" in capsys.readouterr().out


PATCHES = {
    # a fitted HLS constant: LUTs per adder bit, Vitis
    "fpga": (lambda mp: mp.setitem(fpga_resources.TOOLS, "vitis", replace(
        fpga_resources.VITIS, lut_per_adder_bit=fpga_resources.VITIS.lut_per_adder_bit * 1.1)), "resources.lut"),
    # the data-free drive activity of the crossbar energy model
    "crossbar": (lambda mp: mp.setattr(crossbar_cost, "default_activity", (
        lambda mapping, _original=crossbar_cost.default_activity: 1.1 * _original(mapping))), "energy_j"),
}


@pytest.mark.parametrize("target", sorted(PATCHES))
def test_code_constant_drift_fails_with_card_unchanged(baselines: Path, monkeypatch, capsys, target: str) -> None:
    patch, key = PATCHES[target]
    patch(monkeypatch)
    assert main(["check", str(baselines)]) == 1
    out = capsys.readouterr().out
    summary = out.strip().splitlines()[-1]
    assert "cases drifted" in summary and "card_hash" not in out
    assert re.search(rf"\b{re.escape(key)}\b", out.split("drifted keys", 1)[1])  # named in the diff table

    result = check_baselines(baselines)
    assert result.drifted and all(r.case.target == target for r in result.drifted)
    assert not any(r.case.target == target for r in result.cases if r.status == "ok")
    for drifted in result.drifted:
        keys = [d.key for d in drifted.drifts]
        assert key in keys and "card_hash" not in keys

    assert main(["check", str(baselines), "--update"]) == 0
    capsys.readouterr()
    assert main(["check", str(baselines)]) == 0


def test_json_result(baselines: Path, monkeypatch, capsys) -> None:
    PATCHES["fpga"][0](monkeypatch)
    assert main(["check", str(baselines), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and not data["update"]
    drifted = [case for case in data["cases"] if case["status"] == "drifted"]
    assert {case["target"] for case in drifted} == {"fpga"}
    lut = next(d for d in drifted[0]["drifts"] if d["key"] == "resources.lut")
    assert lut["current"] > lut["baseline"] and lut["relative_change"] > 0 and lut["tolerance"] == 1e-6
    assert all(case["estimate"].startswith("estimates/") for case in data["cases"])


def test_loosened_tolerance_lets_a_small_drift_pass(baselines: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(fpga_resources.TOOLS, "vitis", replace(
        fpga_resources.VITIS, lut_per_adder_bit=fpga_resources.VITIS.lut_per_adder_bit * 1.01))
    assert check_baselines(baselines).drifted

    tolerances = baselines / "tolerances.toml"
    tolerances.write_text('[tolerances]\n"*" = 1e-6\n"resources.*" = 0.05\n"breakdown.*" = 0.05\n'
                          '"area_mm2" = 0.05\n"power_w" = 0.05\n"energy_j" = 0.05\n')
    result = check_baselines(baselines)
    assert result.ok, result.summary()
    assert main(["check", str(baselines)]) == 0
    capsys.readouterr()

    # the exact key beats the glob: tightening one key brings exactly that key back
    tolerances.write_text(tolerances.read_text() + '"resources.lut" = 0.0\n')
    drifted = check_baselines(baselines).drifted
    assert drifted and all([d.key for d in r.drifts] == ["resources.lut"] for r in drifted)


def test_stale_estimate_is_noted_then_removed_by_update(baselines: Path, capsys) -> None:
    stale = baselines / "estimates" / "gone" / "fpga-pynq-z2.json"
    stale.parent.mkdir()
    shutil.copy(baselines / "estimates" / "tfc_w2a2" / "fpga-pynq-z2.json", stale)
    assert main(["check", str(baselines)]) == 0
    assert "estimates/gone/fpga-pynq-z2.json belongs to no case" in capsys.readouterr().out
    assert main(["check", str(baselines), "--update"]) == 0
    assert "removed estimates/gone/fpga-pynq-z2.json" in capsys.readouterr().out
    assert not stale.parent.exists()


def test_update_without_change_rewrites_nothing(baselines: Path, capsys) -> None:
    files = sorted((baselines / "estimates").rglob("*.json"))
    before = {p: p.stat().st_mtime_ns for p in files}
    assert main(["check", str(baselines), "--update"]) == 0
    assert "0 created, 0 rewritten, 6 unchanged" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in files} == before


# ---------------------------------------------------------------------------------------------
# Bad input: one line, exit 2
# ---------------------------------------------------------------------------------------------
def _break(directory: Path, how: str) -> str:
    """Damage a baseline directory; return text the error line must contain."""
    toml = directory / "baselines.toml"
    if how == "missing directory":
        shutil.rmtree(directory)
        return "no such baseline directory"
    if how == "file instead of directory":
        shutil.rmtree(directory)
        directory.write_text("x")
        return "is a file, not a baseline directory"
    if how == "estimates folder is a file":
        shutil.rmtree(directory / "estimates" / "mlp_bn_w4")
        (directory / "estimates" / "mlp_bn_w4").write_text("x")
        return "mlp_bn_w4"
    if how == "missing baselines.toml":
        toml.unlink()
        return "baselines.toml: no such file"
    if how == "malformed toml":
        toml.write_text(toml.read_text() + "\n[[case]\nmodel = \n")
        return "not valid TOML"
    if how == "unknown card":
        _point_first_case_at(directory, "pynq-z2", "no-such-card")
        return "no card named 'no-such-card'"
    if how == "card file missing":
        _point_first_case_at(directory, "pynq-z2", "cards/missing.toml")
        return "no such card file"
    if how == "missing model":
        (directory / "models" / "mlp_bn_w4.onnx").unlink()
        return "model models/mlp_bn_w4.onnx not found"
    if how == "missing stored estimate":
        (directory / "estimates" / "mlp_bn_w4" / "crossbar-isaac-32nm.json").unlink()
        return "run codesign check"
    if how == "corrupt stored estimate":
        (directory / "estimates" / "mlp_bn_w4" / "crossbar-isaac-32nm.json").write_text("{not json")
        return "crossbar-isaac-32nm.json: not an estimate JSON document"
    if how == "unknown case key":
        toml.write_text(toml.read_text().replace('card = "isaac-32nm"', 'card = "isaac-32nm"\nreuse = 2'))
        return "case 5: unknown key 'reuse'"
    if how == "no cases":
        toml.write_text('description = "empty"\n')
        return "no [[case]] entries"
    if how == "wrong target for card":
        toml.write_text(toml.read_text().replace('target = "crossbar"\ncard = "rram-40nm"',
                                                 'target = "fpga"\ncard = "rram-40nm"'))
        return "needs a fpga card"
    if how == "unknown backend option":
        toml.write_text(toml.read_text().replace("reuse_factor = 2", "reuse_factr = 2"))
        return "unknown fpga option 'reuse_factr'"
    if how == "bad tolerance":
        (directory / "tolerances.toml").write_text('[tolerances]\n"latency_s" = -0.1\n')
        return "tolerance 'latency_s' = -0.1"
    if how == "tolerances without table":
        (directory / "tolerances.toml").write_text('"latency_s" = 0.1\n')
        return "tolerances.toml: unknown key 'latency_s'"
    raise AssertionError(how)


BREAKAGES = ["missing directory", "file instead of directory", "estimates folder is a file", "missing baselines.toml", "malformed toml", "unknown card", "card file missing",
             "missing model", "missing stored estimate", "corrupt stored estimate", "unknown case key", "no cases",
             "wrong target for card", "unknown backend option", "bad tolerance", "tolerances without table"]


@pytest.mark.parametrize("how", BREAKAGES)
def test_bad_input_is_one_line_exit_2(baselines: Path, capsys, how: str) -> None:
    expected = _break(baselines, how)
    assert main(["check", str(baselines)]) == 2
    err = _one_line_error(capsys)
    assert err.startswith("codesign check: error: ")
    assert expected in err


def test_update_creates_missing_estimates(baselines: Path, capsys) -> None:
    shutil.rmtree(baselines / "estimates")
    assert main(["check", str(baselines)]) == 2
    assert "--update" in _one_line_error(capsys)
    assert main(["check", str(baselines), "--update"]) == 0
    assert "6 created" in capsys.readouterr().out
    assert main(["check", str(baselines)]) == 0


def test_update_replaces_a_corrupt_estimate(baselines: Path, capsys) -> None:
    path = baselines / "estimates" / "mlp_bn_w4" / "crossbar-isaac-32nm.json"
    path.write_text("{not json")
    assert main(["check", str(baselines), "--update"]) == 0
    assert "replaced an unreadable stored estimate" in capsys.readouterr().out
    assert main(["check", str(baselines)]) == 0


def test_duplicate_case_is_rejected(baselines: Path, capsys) -> None:
    toml = baselines / "baselines.toml"
    toml.write_text(toml.read_text() + '\n[[case]]\nmodel = "models/tfc_w2a2.onnx"\ncard = "rram-40nm"\n')
    assert main(["check", str(baselines)]) == 2
    assert "like case 6" in _one_line_error(capsys)


# ---------------------------------------------------------------------------------------------
# Any installed backend, learned from the registry
# ---------------------------------------------------------------------------------------------
def test_third_party_backend_cases(tmp_path: Path, monkeypatch, capsys) -> None:
    from plugin_backend import install

    install(tmp_path / "site", monkeypatch)
    directory = tmp_path / "plugin"
    (directory / "models").mkdir(parents=True)
    shutil.copy(BASELINES / "models" / "mlp_w4.onnx", directory / "models")
    (directory / "baselines.toml").write_text(
        '[[case]]\nmodel = "models/mlp_w4.onnx"\ntarget = "toy-fpga"\noptions = { cycles_per_layer = 2 }\n'
        '[[case]]\nmodel = "models/mlp_w4.onnx"\ntarget = "toy-fpga"\ncard = "pynq-z2"\n')
    assert main(["check", str(directory), "--update"]) == 0
    assert "2 created" in capsys.readouterr().out
    result = check_baselines(directory)
    assert result.ok and [(r.case.target, r.case.card_name) for r in result.cases] == [("toy-fpga", "pynq-z2")] * 2
    stored = directory / result.cases[0].case.relative_path
    data = json.loads(stored.read_text())
    assert data["target"] == "toy-fpga" and stored.name.startswith("toy-fpga-pynq-z2-")

    stored.write_text(json.dumps({**data, "latency_s": data["latency_s"] * 1.5}))
    assert main(["check", str(directory)]) == 1
    assert "latency_s" in capsys.readouterr().out.strip().splitlines()[-1]

    toml = directory / "baselines.toml"
    toml.write_text('[[case]]\nmodel = "models/mlp_w4.onnx"\n')
    assert main(["check", str(directory)]) == 2
    assert "case 1: missing card" in _one_line_error(capsys)


def test_update_keeps_files_that_are_not_estimates(baselines: Path, capsys) -> None:
    notes = baselines / "estimates" / "mlp_w4" / "my-notes.json"
    notes.write_text('{"reviewed": true}')
    assert main(["check", str(baselines), "--update"]) == 0
    out = capsys.readouterr().out
    assert "my-notes.json is not an estimate record and belongs to no case; left in place" in out
    assert notes.read_text() == '{"reviewed": true}'


def test_damaged_stored_estimate_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    """A stored estimate with a wrong type anywhere: exit 2 with one line, or 1 for the drift it is
    where it still reads as a record, never a traceback; --update replaces it."""
    import random

    directory = tmp_path / "one"
    (directory / "models").mkdir(parents=True)
    shutil.copy(BASELINES / "models" / "mlp_w4.onnx", directory / "models")
    (directory / "baselines.toml").write_text('[[case]]\nmodel = "models/mlp_w4.onnx"\ncard = "rram-40nm"\n')
    assert main(["check", str(directory), "--update"]) == 0
    [stored] = (directory / "estimates").rglob("*.json")
    original = stored.read_text()
    capsys.readouterr()
    rng = random.Random(0)
    document = json.loads(original)
    places = [(key,) for key in document] + [(key, inner) for key in ("breakdown", "resources", "tool_versions")
                                             for inner in list(document[key])[:2]]
    for _ in range(30):
        place, value = rng.choice(places), rng.choice(("text", 7, None, [], {}, [1, "a"], True, -1.0))
        damaged = json.loads(original)
        holder = damaged if len(place) == 1 else damaged[place[0]]
        holder[place[-1]] = value
        stored.write_text(json.dumps(damaged))
        code = main(["check", str(directory)])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err + captured.out, (place, value)
        assert code in (0, 1, 2), (place, value)  # assumptions, model and tool versions are not compared
        if place[0] in ("latency_s", "energy_j", "area_mm2", "power_w", "card_hash", "breakdown"):
            assert code in (1, 2), (place, value)
        if code == 2:
            assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert main(["check", str(directory), "--update"]) == 0
    assert main(["check", str(directory)]) == 0


def test_update_that_cannot_write_is_one_line_exit_2(baselines: Path, capsys) -> None:
    folder = baselines / "estimates" / "mlp_bn_w4"
    shutil.rmtree(folder)
    folder.write_text("not a folder")
    assert main(["check", str(baselines), "--update"]) == 2
    assert "cannot be written" in _one_line_error(capsys)
    assert folder.read_text() == "not a folder"


def test_update_with_a_failing_case_writes_nothing(baselines: Path, capsys) -> None:
    files = {p: p.read_bytes() for p in (baselines / "estimates").rglob("*.json")}
    first = next(iter(files))
    first.write_text("{not json")
    files[first] = first.read_bytes()
    toml = baselines / "baselines.toml"
    toml.write_text(toml.read_text() + '\n[[case]]\nmodel = "models/mlp_w4.onnx"\ncard = "pynq-z2"\n'
                    'options = { reuse_factr = 2 }\n')  # estimated last, and refused
    assert main(["check", str(baselines), "--update"]) == 2
    assert "reuse_factr" in _one_line_error(capsys)
    assert {p: p.read_bytes() for p in (baselines / "estimates").rglob("*.json")} == files
