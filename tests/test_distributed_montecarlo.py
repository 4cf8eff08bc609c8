"""Crossbar Monte-Carlo split over Ray: instance ranges, the `codesign simulate` command, and a
real two-node Ray cluster giving the single-process result bit for bit for every split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from graphs import brevitas_mlp, save

import codesign
from codesign.cli import main
from codesign.data import load_dataset
from codesign.dse.distributed_montecarlo import default_parts, split
from codesign.errors import ParameterError

RESULT_KEYS = ("accuracies", "mean", "std", "worst", "instances", "samples", "seed", "exact", "settings", "card",
               "card_hash", "data", "model")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A 4-input, 3-class model for iris (untrained weights: the chips still differ from each other)."""
    return save(brevitas_mlp((4, 12, 3), weight_bits=4, act_bits=4, per_channel=False, batchnorm=False, seed=1),
                tmp_path_factory.mktemp("dmc") / "iris4.onnx")


def test_split_tiles_the_instances() -> None:
    for instances, parts in ((10, 1), (10, 3), (10, 10), (1000, 7), (17, 16)):
        ranges = split(instances, parts)
        assert len(ranges) == parts and ranges[0].start == 0 and ranges[-1].stop == instances
        assert all(a.stop == b.start for a, b in zip(ranges, ranges[1:]))
        assert max(map(len, ranges)) - min(map(len, ranges)) <= 1
    with pytest.raises(ParameterError, match="more than the 3 instances"):
        split(3, 4)
    with pytest.raises(ParameterError, match="must be a positive integer"):
        split(3, 0)
    assert default_parts(1000, 4) == 16 and default_parts(40, 4) == 4 and default_parts(3, 4) == 3
    assert default_parts(100_000, 64) == 256 and default_parts(1, 1) == 1


def _result(path: Path) -> dict:
    record = json.loads(path.read_text())
    return {key: record[key] for key in RESULT_KEYS}


def test_simulate_command_writes_the_export_monte_carlo(model, tmp_path, capsys) -> None:
    """`codesign simulate` gives the numbers `codesign export --data` records for the same chips."""
    out = tmp_path / "chips.json"
    assert main(["simulate", str(model), "--data", "iris", "--instances", "6", "--seed", "2", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "6 chip instances of iris4 on rram-40nm, iris test split (45 inputs), seed 2: mean accuracy" in printed
    record = json.loads(out.read_text())
    assert record["instances"] == 6 and len(record["accuracies"]) == 6 and record["run"]["ray_address"] is None
    assert len(set(record["accuracies"])) > 1  # every chip draws its own noise
    assert main(["export", str(model), "--target", "crossbar", "--data", "iris", "-O", "instances=6", "-O", "seed=2",
                 "--out", str(tmp_path / "chip")]) == 0
    exported = json.loads((tmp_path / "chip" / "montecarlo.json").read_text())
    assert exported["accuracies"] == record["accuracies"] and exported["mean"] == record["mean"]
    # an existing output is never replaced
    assert main(["simulate", str(model), "--data", "iris", "--instances", "6", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert json.loads(out.read_text()) == record


@pytest.mark.parametrize("argv, fragment", [
    (["--instances", "0"], "argument --instances: 0 is not in 1..1000000"),
    (["--instances", "ten"], "argument --instances: 'ten' is not an integer"),
    (["--instances", "5", "--seed", "-1"], "argument --seed: -1 is not in 0..4294967295"),
    (["--instances", "5", "--parts", "2"], "--parts and --workers split the run over Ray; add --ray-address"),
    (["--instances", "5", "--ray-address", "local", "--parts", "9"], "--parts 9 is more than --instances 5"),
    (["--instances", "5", "--card", "pynq-z2"], "card 'pynq-z2' is a fpga card; simulate needs a crossbar card"),
    (["--instances", "5", "--data", "digits"], "64 features per sample, but model iris4 takes 4"),
    (["--instances", "5", "--card", "no-such-card"], "no-such-card"),
])
def test_simulate_command_rejects_bad_input_in_one_line(model, tmp_path, capsys, argv, fragment) -> None:
    data = [] if "--data" in argv else ["--data", "iris"]
    out = tmp_path / "never.json"
    try:
        code = main(["simulate", str(model), *data, *argv, "--out", str(out)])
    except SystemExit as exc:  # argparse's own checks
        code = exc.code
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in lines[0]
    assert not out.exists()


def test_multi_node_ray_cluster_gives_the_single_process_result_for_every_split(model, tmp_path, capsys) -> None:
    """A head and a second node started with `ray start` (one CPU each): the instances split into
    1, 3, 7 and 24 ranges, run by 1, 2 or all workers at a time, merge into the single-process
    result bit for bit (logits, predictions, accuracies); so does `codesign simulate --ray-address`."""
    pytest.importorskip("ray")
    from clusters import ray_cluster

    from codesign.dse.raycluster import connect

    graph = codesign.load(model)
    data = load_dataset("iris", seed=0)
    noise = {"programming": {"sigma": 0.08}, "read": {"sigma": 0.03}}
    whole = codesign.simulate(graph, "rram-40nm", data.x_test, data.y_test, instances=24, seed=5, noise=noise)
    local_json = tmp_path / "local.json"
    assert main(["simulate", str(model), "--data", "iris", "--instances", "40", "--seed", "3", "--out",
                 str(local_json), "--no-progress"]) == 0
    with ray_cluster((1, 1)) as cluster, connect(cluster.address) as ray:
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        for parts, workers in ((1, None), (3, 1), (7, 2), (24, None)):
            split_run = codesign.simulate(graph, "rram-40nm", data.x_test, data.y_test, instances=24, seed=5,
                                          noise=noise, ray_address=cluster.address, parts=parts, workers=workers)
            np.testing.assert_array_equal(split_run.logits, whole.logits)
            np.testing.assert_array_equal(split_run.predictions, whole.predictions)
            assert split_run.accuracies == whole.accuracies and split_run.first_instance == 0
            assert split_run.settings == whole.settings and split_run.exact == whole.exact
        ray_json = tmp_path / "ray.json"
        assert main(["simulate", str(model), "--data", "iris", "--instances", "40", "--seed", "3", "--out",
                     str(ray_json), "--ray-address", cluster.address, "--parts", "5", "--no-progress"]) == 0
    assert f"on Ray at {cluster.address}" in capsys.readouterr().out
    assert _result(ray_json) == _result(local_json)
