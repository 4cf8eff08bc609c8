"""Ternary / binary networks with 1-bit activations: Brevitas training, QONNX export that computes
the trained function, and the printed backend building them as linear threshold gates."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from codesign.backends.printed.design import build, evaluate
from codesign.backends.printed.requant import ThresholdRequant
from codesign.data import load_csv, uci_path
from codesign.errors import ParameterError
from codesign.ir import execute, load
from codesign.ir.crosscheck import crosscheck, qonnx_execute
from codesign.ir.reference import input_codes
from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
from codesign.quant.export import export_qonnx


@pytest.fixture(scope="module")
def cardio():
    try:
        return load_csv(uci_path("cardio"), seed=0)
    except Exception as exc:  # the shared UCI files are part of the checkout's environment
        pytest.skip(f"UCI cardio not available: {exc}")


def _trained(data, config: MLPConfig, folder, *, epochs: int = 4, seed: int = 0):
    model = build_mlp(Topology(data.features, data.num_classes, config), seed=seed)
    result = train(model, data, TrainConfig(epochs=epochs, learning_rate=0.02, seed=seed), progress=False)
    path = export_qonnx(result.model, folder / "model.onnx", in_features=data.features)
    return result, path


def _torch_predictions(model, x: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        out = model(torch.as_tensor(x, dtype=torch.float32))
    return (out.value if hasattr(out, "value") else out).argmax(1).numpy()


@pytest.fixture(scope="module")
def step_model(cardio, tmp_path_factory):
    """The configuration a sweep draws with act_bits = 1: unsigned 1-bit (unit step) activations."""
    config = MLPConfig(hidden=(8,), weight_bits=4, act_bits=1, input_bits=4, batchnorm=True)
    return _trained(cardio, config, tmp_path_factory.mktemp("step"))


@pytest.fixture(scope="module")
def ternary_sign(cardio, tmp_path_factory):
    config = MLPConfig(hidden=(6,), weight_bits=2, act_bits=1, input_bits=3, activation="sign", batchnorm=True)
    return _trained(cardio, config, tmp_path_factory.mktemp("tnn"), seed=1)


def test_sign_activation_needs_one_bit() -> None:
    with pytest.raises(ParameterError, match="act_bits"):
        MLPConfig(activation="sign", act_bits=2)
    with pytest.raises(ParameterError, match="activation"):
        MLPConfig(activation="tanh")


def test_one_bit_relu_exports_the_trained_step_not_a_sign(cardio, step_model) -> None:
    """Brevitas writes unsigned 1-bit activations as BipolarQuant (after a ReLU: constantly +1, a
    constant classifier); the export writes the unit step the model was trained with."""
    result, path = step_model
    ops = [node.op_type for node in onnx.load(path).graph.node]
    assert "BipolarQuant" not in ops
    graph = load(path)
    assert graph.layers[0].output_quant.bits == 1 and not graph.layers[0].output_quant.signed
    trained = _torch_predictions(result.model, cardio.x_test)
    exported = qonnx_execute(graph, cardio.x_test).argmax(1)
    assert len(np.unique(trained)) > 1, "the trained model itself is constant: the test needs a working model"
    assert np.array_equal(trained, exported)  # qonnx runs the exported graph: same predictions
    check = crosscheck(graph, cardio.x_test)
    assert check.agrees, check.describe()
    reference = float(np.mean(execute(graph, cardio.x_test).predictions == cardio.y_test))
    # the integer reference quantises in float64: inputs that sit exactly on a rounding tie in
    # float32 may round the other way, nothing more
    assert reference == pytest.approx(result.test_accuracy, abs=0.02)


def test_ternary_sign_network_is_ternary_bipolar_and_exact(cardio, ternary_sign) -> None:
    result, path = ternary_sign
    graph = load(path)
    hidden, output = graph.layers
    assert set(np.unique(hidden.weight)) <= {-1, 0, 1} and set(np.unique(output.weight)) <= {-1, 0, 1}
    assert hidden.output_quant.bipolar and hidden.activation == "sign"
    check = crosscheck(graph, cardio.x_test)
    assert check.agrees, check.describe()
    design = build(graph)
    # every hidden neuron is one comparison of its sum with an integer threshold
    assert all(isinstance(n.requant, ThresholdRequant) and len(n.requant.thresholds) == 1
               for n in design.layers[0].neurons)
    codes = input_codes(graph, cardio.x_test)
    reference = execute(graph, cardio.x_test)
    bits = evaluate(design, codes)
    assert np.array_equal(bits.predictions, reference.predictions)
    assert np.array_equal(bits.codes[1], (reference.codes[1] + 1) // 2)  # the wire carries h, code = 2h - 1
    assert float(np.mean(bits.predictions == cardio.y_test)) > 0.8


def test_single_output_with_negative_scale_keeps_the_decision(tmp_path) -> None:
    """A one-logit model whose scale is negative (value = -g * acc + o): the circuit negates the
    weights and keeps the bound, on both sides of zero."""
    from graphs import GraphBuilder, save

    from codesign.ir.crosscheck import random_inputs

    for offset in (0.9, -0.45, 0.0):
        b = GraphBuilder((1, 6), seed=4)
        b.quant(scale=1 / 15, bits=4, signed=0)
        weight = np.array([[1, -1, 0, 1, 1, -1]], dtype=np.float64)
        b.gemm(b.quantized_weight(weight * 2.0, scale=2.0, bits=2, narrow=1))
        b.op("Mul", b.const(-0.7))
        b.op("Add", b.const(offset))
        graph = load(save(b.build(), tmp_path / "neg.onnx"))
        x = random_inputs(graph, 512, seed=1)
        reference = execute(graph, x).predictions
        assert 0 < reference.mean() < 1
        assert np.array_equal(evaluate(build(graph), input_codes(graph, x)).predictions, reference)


def test_crossbar_takes_ternary_networks(cardio, ternary_sign, step_model, tmp_path) -> None:
    """The crossbar backend maps, estimates and (with ideal devices and converters) reproduces
    the integer reference of both the sign and the step networks."""
    from codesign.backends.base import get_backend
    from codesign.backends.crossbar.simulator import simulate
    from codesign.cards import load_card

    card = load_card("rram-40nm")
    for name, (_, path) in (("sign", ternary_sign), ("step", step_model)):
        graph = load(path)
        estimate = get_backend("crossbar").estimate(graph, card, x=cardio.x_test[:64])
        assert estimate.area_mm2 > 0 and estimate.energy_j > 0
        get_backend("crossbar").lower(graph, card, tmp_path / name)
        result = simulate(graph, card, cardio.x_test, cardio.y_test, instances=1, noise="ideal",
                          ideal_converters=True)
        reference = float(np.mean(execute(graph, cardio.x_test).predictions == cardio.y_test))
        assert result.mean == pytest.approx(reference, abs=0.01), name


@pytest.mark.slow
def test_fpga_takes_ternary_step_networks(step_model, tmp_path) -> None:
    """hls4ml firmware of a ternary network with unit-step activations, bit-exact against the
    integer reference (codesign's FPGA lowering verifies before it writes)."""
    from codesign.backends.base import get_backend
    from codesign.cards import load_card

    graph = load(step_model[1])
    card = load_card("pynq-z2")
    assert get_backend("fpga").estimate(graph, card).area_mm2 > 0
    artifact = get_backend("fpga").lower(graph, card, tmp_path / "fpga", samples=500)
    assert artifact.summary["exact_match_rate"] == 1.0
