"""Fault-aware training, chip fine-tuning, fixed-random layers, export metadata, and the flow."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from codesign.cli import main
from codesign.data import load_sklearn
from codesign.errors import ParameterError
from codesign.ir import load
from codesign.noise import BitStuckAt, DeviceVariability, NoiseModel
from codesign.noise.models import noise_model_of
from codesign.noise.montecarlo import evaluate, simulate
from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
from codesign.quant.export import export_qonnx, training_metadata
from codesign.quant.noisy import noisy_layers
from codesign.quant.regularize import fault_error_table, robustness_penalty


@pytest.fixture(scope="module")
def digits():
    return load_sklearn("digits", seed=0)


@pytest.fixture(scope="module")
def plain(digits):
    topology = Topology(digits.features, digits.num_classes, MLPConfig(hidden=(32,), weight_bits=4, act_bits=4))
    return train(build_mlp(topology, seed=0), digits, TrainConfig(epochs=12, batch_size=64, learning_rate=0.01),
                 progress=False)


def test_training_modes_are_validated() -> None:
    with pytest.raises(ParameterError, match="needs a noise model"):
        TrainConfig(regularization=0.5)
    with pytest.raises(ParameterError, match="needs a noise model"):
        TrainConfig(chip=(0, 1))
    assert TrainConfig().mode == "plain"
    assert TrainConfig(noise=NoiseModel(bit_faults=BitStuckAt(0.1))).mode == "fault_aware"


def test_fault_aware_fine_tuning_beats_plain_under_faults(digits, plain, tmp_path) -> None:
    noise = NoiseModel(bit_faults=BitStuckAt(0.1))
    aware = train(copy.deepcopy(plain.model), digits,
                  TrainConfig(epochs=8, batch_size=64, learning_rate=0.005, noise=noise, regularization=1.0),
                  progress=False)
    graphs = {name: load(export_qonnx(model, tmp_path / f"{name}.onnx", in_features=digits.features))
              for name, model in (("plain", plain.model), ("aware", aware.model))}
    results = {name: evaluate(g, digits.x_test, digits.y_test, noise, instances=20, seed=1)
               for name, g in graphs.items()}
    assert results["aware"].mean > results["plain"].mean + 0.05, {k: v.mean for k, v in results.items()}
    # with the noise switched off the exported fault-aware model is still a good classifier
    clean = evaluate(graphs["aware"], digits.x_test, digits.y_test, NoiseModel(), instances=1)
    assert clean.mean > 0.85


def test_chip_mode_matches_monte_carlo_instance(digits, plain, tmp_path) -> None:
    """Torch chip k and the IR's Monte-Carlo chip k share one fault map."""
    from codesign.quant.noisy import set_chip
    from codesign.quant.train import accuracy

    noise = NoiseModel(bit_faults=BitStuckAt(0.15))
    graph = load(export_qonnx(plain.model, tmp_path / "p.onnx", in_features=digits.features))
    logits = simulate(graph, digits.x_test, noise, instances=1, seed=3, first_instance=2)
    ir_accuracy = float((logits[0].argmax(1) == digits.y_test).mean())
    model = copy.deepcopy(plain.model)
    set_chip(model, noise, seed=3, instance=2)
    assert accuracy(model, digits.x_test, digits.y_test) == pytest.approx(ir_accuracy, abs=0.01)
    tuned = train(model, digits, TrainConfig(epochs=4, learning_rate=0.005, noise=noise, chip=(3, 2)),
                  progress=False)
    assert tuned.test_accuracy > ir_accuracy + 0.05


def test_regulariser_prefers_fault_tolerant_codes() -> None:
    # mostly stuck-at-0 faults: codes with fewer 1-bits lose less
    table = fault_error_table(4, BitStuckAt(0.2, sa1_fraction=0.1), True, False)
    codes = list(range(-8, 8))
    assert table[codes.index(0)] < table[codes.index(7)]
    assert table[codes.index(0)] < table[codes.index(-1)]  # -1 is 1111 in two's complement
    model = build_mlp(Topology(4, 2, MLPConfig(hidden=(8,))), seed=0)
    penalty = robustness_penalty(model, NoiseModel(bit_faults=BitStuckAt(0.2), variability=DeviceVariability(0.3)))
    penalty.backward()
    assert penalty.item() > 0
    assert any(layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0 for layer in noisy_layers(model))


def test_fixed_random_layer_is_frozen_exported_and_marked(digits, tmp_path) -> None:
    mlp = MLPConfig(hidden=(64, 16), weight_bits=4, act_bits=4, fixed_random=(0,))
    model = build_mlp(Topology(digits.features, digits.num_classes, mlp), seed=2)
    before = noisy_layers(model)[0].weight.detach().clone()
    again = noisy_layers(build_mlp(Topology(digits.features, digits.num_classes, mlp), seed=2))[0].weight
    assert torch.equal(before, again)  # drawn from the switching distribution, reproducibly
    config = TrainConfig(epochs=6, batch_size=64, learning_rate=0.01)
    result = train(model, digits, config, progress=False)
    assert torch.equal(noisy_layers(result.model)[0].weight, before)  # never trained
    assert not torch.equal(noisy_layers(result.model)[1].weight, noisy_layers(model)[1].weight.detach() * 0)
    path = export_qonnx(result.model, tmp_path / "hourglass.onnx", in_features=digits.features,
                        metadata=training_metadata(mlp, config, dataset="digits"))
    graph = load(path)
    assert graph.fixed_random_layers == ("dense0",)
    assert json.loads(graph.metadata["codesign.fixed_random_distribution"])["p_set"] == 0.5
    assert result.test_accuracy > 0.7


def test_noise_metadata_round_trips_through_inspect(digits, plain, tmp_path, capsys) -> None:
    noise = NoiseModel(bit_faults=BitStuckAt(0.2, sa1_fraction=0.3))
    config = TrainConfig(epochs=1, noise=noise, regularization=0.5, seed=9)
    mlp = MLPConfig(hidden=(32,), weight_bits=4, act_bits=4)
    path = export_qonnx(plain.model, tmp_path / "m.onnx", in_features=digits.features,
                        metadata=training_metadata(mlp, config, dataset="digits"))
    graph = load(path)
    assert noise_model_of(graph) == noise
    assert graph.metadata["codesign.training"] == "fault_aware"
    assert graph.metadata["codesign.seed"] == "9"
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "fault_aware" in out and "bit_faults" in out
    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["codesign.regularization"] == "0.5"


def test_flow_writes_curves_plot_and_table(tmp_path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "flows"))
    import fault_aware_training

    csv = tmp_path / "tiny.csv"
    data = load_sklearn("iris")
    rows = np.column_stack([np.vstack([data.x_train, data.x_test]), np.concatenate([data.y_train, data.y_test])])
    np.savetxt(csv, rows, delimiter=",")
    code = fault_aware_training.main(["--datasets", str(csv), "--epochs", "3", "--instances", "3",
                                      "--fault-rates", "0", "0.1", "0.2", "--variability", "0", "0.4",
                                      "--chips", "1", "--hidden", "8", "--out", str(tmp_path / "run")])
    assert code == 0
    report = json.loads((tmp_path / "run" / "tiny" / "robustness.json").read_text())
    assert set(report["curves"]["bit_faults"]) == {"plain", "fault_aware", "chip_fine_tuned"}
    assert [p["level"] for p in report["curves"]["variability"]["plain"]] == [0, 0.4]
    assert (tmp_path / "run" / "tiny" / "robustness.png").stat().st_size > 10_000
    assert "fault_aware" in (tmp_path / "run" / "summary.md").read_text()
