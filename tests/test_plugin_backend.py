"""A third-party backend installed through the entry-point group works with every command.

The plugin is examples/custom_backend.py's ToyFpgaBackend, registered by a dist-info directory on
PYTHONPATH exactly as `pip install` of a package declaring
``[project.entry-points."codesign.backends"] toy-fpga = "custom_backend:ToyFpgaBackend"`` would.
Every command runs as a real subprocess of the installed `codesign` entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from graphs import brevitas_mlp, save

ROOT = Path(__file__).resolve().parents[1]
CODESIGN = [sys.executable, "-m", "codesign.cli"]


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("plugin-site")
    shutil.copy(ROOT / "examples" / "custom_backend.py", site / "custom_backend.py")
    dist = site / "toy_backend-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-backend\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[codesign.backends]\ntoy-fpga = custom_backend:ToyFpgaBackend\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save(brevitas_mlp((8, 6, 3), weight_bits=4, act_bits=4, per_channel=False, batchnorm=False, seed=2),
                tmp_path_factory.mktemp("plugin-model") / "tiny.onnx")


def run(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CODESIGN, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_listed_with_its_options(plugin_env):
    listed = run(plugin_env, "backends", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["target"]: row for row in json.loads(listed.stdout)}
    assert rows["toy-fpga"]["default_card"] == "pynq-z2" and rows["toy-fpga"]["options"] == ["cycles_per_layer"]
    options = run(plugin_env, "backends", "--options", "toy-fpga", "--json")
    described = json.loads(options.stdout)
    assert described["sweep_knobs"] == ["cycles_per_layer"]
    assert described["options"][0]["allowed"] == "an integer in 1..1024"


def test_estimate_default_card_and_typed_options(plugin_env, model):
    result = run(plugin_env, "estimate", str(model), "--target", "toy-fpga", "-O", "cycles_per_layer=3", "--json")
    assert result.returncode == 0, result.stderr
    assert "using card pynq-z2" in result.stderr
    estimate = json.loads(result.stdout)
    assert estimate["target"] == "toy-fpga" and estimate["latency_s"] == pytest.approx(2 * 3 * 10e-9)
    bad = run(plugin_env, "estimate", str(model), "--target", "toy-fpga", "-O", "cycles_per_layer=abc")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("codesign estimate: error: toy-fpga option cycles_per_layer")
    assert "Traceback" not in bad.stderr


def test_estimate_target_all_and_report(plugin_env, model, tmp_path):
    out = tmp_path / "compare"
    result = run(plugin_env, "estimate", str(model), "--target", "all", "-O", "printed.samples=64",
                 "-O", "toy-fpga.cycles_per_layer=2", "--json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = {row["target"]: row for row in json.loads(result.stdout)["rows"]}
    assert set(rows) == {"crossbar", "fpga", "printed", "toy-fpga"}
    assert rows["toy-fpga"]["card"] == "pynq-z2"
    report = run(plugin_env, "report", str(out))
    assert report.returncode == 0, report.stderr
    page = (out / "report.html").read_text()
    assert "toy-fpga" in page


SWEEP = """
dataset = "breast_cancer"
epochs = 1
trials = 2
study_name = "plugin"
[search]
population_size = 2
[space]
weight_bits = [3]
act_bits = [3]
hidden = [[4]]
cycles_per_layer = [1, 4]
[[targets]]
target = "toy-fpga"
"""


def test_sweep_varies_the_plugin_knob(plugin_env, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(SWEEP)
    out = tmp_path / "sweep"
    result = run(plugin_env, "sweep", str(config), "--out", str(out), "--workers", "1", "--no-progress")
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in sorted(out.rglob("estimates.json"))]
    assert records, list(out.rglob("*"))
    for record in records:
        toy = record["targets"]["toy-fpga"]
        cycles = record["params"]["toy-fpga.cycles_per_layer"]
        assert toy["options"]["cycles_per_layer"] == cycles
        assert toy["estimate"]["latency_s"] == pytest.approx(2 * cycles * 10e-9)
        assert toy["card"] == "pynq-z2"
    report = run(plugin_env, "report", str(out))
    assert report.returncode == 0, report.stderr
    assert "toy-fpga" in (out / "report.html").read_text()
