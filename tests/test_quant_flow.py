"""Real Brevitas training and QONNX export, loaded back through codesign.ir."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from codesign.data import load_sklearn
from codesign.errors import BitWidthError, ParameterError
from codesign.ir import execute, load
from codesign.ir.crosscheck import crosscheck
from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
from codesign.quant.export import export_qonnx


@pytest.fixture(scope="module")
def wine():
    return load_sklearn("wine", seed=0)


def _train(data, config: MLPConfig, seed: int = 0, epochs: int = 15):
    model = build_mlp(Topology(data.features, data.num_classes, config), seed=seed)
    return train(model, data, TrainConfig(epochs=epochs, seed=seed), progress=False)


@pytest.fixture(scope="module")
def exported(wine, tmp_path_factory) -> tuple[Path, object]:
    config = MLPConfig(hidden=(12,), weight_bits=4, act_bits=4, per_channel=True, batchnorm=True)
    result = _train(wine, config)
    path = export_qonnx(result.model, tmp_path_factory.mktemp("export") / "wine.onnx",
                        in_features=wine.features, metadata={"seed": 0, "dataset": "wine"})
    return path, result


def test_exported_model_matches_qonnx_and_torch(wine, exported) -> None:
    path, result = exported
    graph = load(path)
    check = crosscheck(graph, wine.x_test)
    assert check.agrees, check.describe()
    reference = execute(graph, wine.x_test)
    accuracy = float((reference.predictions == wine.y_test).mean())
    assert accuracy == pytest.approx(result.test_accuracy, abs=0.02)
    assert accuracy > 0.85


def test_export_metadata_and_structure(exported) -> None:
    path, _ = exported
    graph = load(path)
    assert graph.metadata["codesign.seed"] == "0"
    assert graph.metadata["codesign.dataset"] == "wine"
    assert "codesign.version" in graph.metadata
    assert graph.integer and graph.input_quant.bits == 4 and not graph.input_quant.signed
    assert graph.input_quant.scale.item() == pytest.approx(1 / 15)
    assert graph.layers[0].weight_quant.per_channel
    assert [layer.weight_quant.bits for layer in graph.layers] == [4, 4]
    assert not Path(str(path) + ".data").exists()  # weights inside the one file
    assert {p.key for p in onnx.load(str(path)).metadata_props} >= {"codesign.seed", "codesign.version"}


def test_same_seed_gives_identical_weights(wine) -> None:
    config = MLPConfig(hidden=(8,), weight_bits=3, act_bits=3)
    first = _train(wine, config, seed=7, epochs=3).model.state_dict()
    second = _train(wine, config, seed=7, epochs=3).model.state_dict()
    other = _train(wine, config, seed=8, epochs=3).model.state_dict()
    assert all(np.array_equal(first[k].numpy(), second[k].numpy()) for k in first)
    assert not all(np.array_equal(first[k].numpy(), other[k].numpy()) for k in first)


def test_binary_weights_export(wine, tmp_path) -> None:
    result = _train(wine, MLPConfig(hidden=(16,), weight_bits=1, act_bits=2), epochs=5)
    graph = load(export_qonnx(result.model, tmp_path / "bin.onnx", in_features=wine.features))
    assert graph.layers[0].weight_quant.bipolar
    assert set(np.unique(graph.layers[0].weight)) <= {-1, 1}
    assert crosscheck(graph, wine.x_test).agrees


@pytest.mark.parametrize("kwargs, error", [({"weight_bits": 0}, BitWidthError),
                                           ({"act_bits": 40}, BitWidthError),
                                           ({"input_bits": 24}, ParameterError),
                                           ({"hidden": (0,)}, ParameterError)])
def test_bad_configs(kwargs, error) -> None:
    with pytest.raises(error):
        MLPConfig(**kwargs)


def test_bad_training_parameters() -> None:
    with pytest.raises(ParameterError):
        TrainConfig(epochs=0)
    with pytest.raises(ParameterError):
        TrainConfig(learning_rate=-1.0)


def test_quickstart_flow(tmp_path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "flows"))
    import quickstart

    args = quickstart.parse_args(["--epochs", "10", "--out", str(tmp_path)])
    from rich.console import Console

    with open(tmp_path / "log.txt", "w") as log:
        report = quickstart.run(args, Console(file=log))
    assert report["crosscheck"]["agrees"]
    assert report["reference_accuracy"] > 0.9
    saved = json.loads((tmp_path / "quickstart.json").read_text())
    assert saved["topology"] == [30, 16, 2]
    assert "layer" in (tmp_path / "log.txt").read_text()
