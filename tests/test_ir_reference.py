"""The integer reference equals qonnx execution on every supported frontend pattern."""

from __future__ import annotations

import numpy as np
import pytest
from graphs import GraphBuilder, brevitas_mlp, finn_tfc, qkeras_mlp

from codesign.ir import execute, load
from codesign.ir.crosscheck import crosscheck, random_inputs
from codesign.ir.describe import summary

FRONTENDS = {
    "qkeras_float_input": lambda: qkeras_mlp(),
    "qkeras_quantized_input": lambda: qkeras_mlp(quantized_input=True, sizes=(10, 20, 4), bits=8),
    "finn_tfc_w1a1": lambda: finn_tfc(1, 1),
    "finn_tfc_w1a2_flatten": lambda: finn_tfc(1, 2, flatten="flatten"),
    "finn_tfc_w2a2": lambda: finn_tfc(2, 2),
    "brevitas_per_channel_bn": lambda: brevitas_mlp(),
    "brevitas_per_tensor_softmax": lambda: brevitas_mlp(per_channel=False, batchnorm=False, head="softmax"),
    "sigmoid_argmax": lambda: brevitas_mlp(activation="Sigmoid", head="argmax"),
    "tanh_logsoftmax": lambda: brevitas_mlp(activation="Tanh", head="logsoftmax"),
    "clip_hardtanh": lambda: brevitas_mlp(activation="Clip"),
    "leaky_relu": lambda: brevitas_mlp(activation="LeakyRelu"),
    "eight_bit": lambda: brevitas_mlp(weight_bits=8, act_bits=8),
    "two_bit": lambda: brevitas_mlp(weight_bits=2, act_bits=2),
}


@pytest.mark.parametrize("name", sorted(FRONTENDS))
def test_reference_equals_qonnx(name: str) -> None:
    graph = load(FRONTENDS[name]())
    result = crosscheck(graph, random_inputs(graph, 300, seed=1))
    assert result.agrees, result.describe()
    assert result.prediction_agreement >= 0.99
    assert result.mismatched_samples <= 3  # only float32 rounding-boundary cases may differ


def test_layer_structure_of_finn_tfc() -> None:
    graph = load(finn_tfc(1, 1, hidden=(32, 32)))
    assert [layer.weight.shape for layer in graph.layers] == [(32, 36), (32, 32), (10, 32)]
    assert all(layer.weight_quant.bipolar for layer in graph.layers)
    assert set(np.unique(graph.layers[0].weight)) <= {-1, 1}
    assert [layer.activation for layer in graph.layers] == ["sign", "sign", "identity"]
    assert [op.name.split(":")[0] for op in graph.input_transform.ops] == ["mul", "sub"]
    # BatchNormalization folded into an affine post-op, the output normalisation into the last layer
    assert graph.layers[0].post_affine() is not None
    assert graph.layers[-1].output_quant is None


def test_qkeras_weights_are_clipped_to_the_grid() -> None:
    graph = load(qkeras_mlp(bits=6))
    for layer in graph.layers:
        assert layer.weight.dtype == np.int64
        assert layer.weight.min() >= -32 and layer.weight.max() <= 31
        assert layer.weight_quant.bits == 6 and layer.weight_quant.signed
    assert graph.layers[0].input_quant is None  # QKeras feeds float inputs
    assert not graph.integer
    assert graph.head == "softmax"


def test_accumulators_are_exact_integers() -> None:
    graph = load(brevitas_mlp(sizes=(8, 12, 3)))
    x = random_inputs(graph, 50, seed=3)
    run = execute(graph, x)
    layer = graph.layers[0]
    codes = run.codes[0]
    expected = [[sum(int(c) * int(w) for c, w in zip(row, weights)) for weights in layer.weight] for row in codes]
    assert run.accumulators[0].dtype == np.int64
    assert np.array_equal(run.accumulators[0], np.array(expected))
    assert codes.min() >= 0 and codes.max() <= 15  # uint4 input codes


def test_wide_accumulators_use_exact_int64() -> None:
    """30-bit weights x 30-bit inputs overflow float64's 53-bit mantissa; results must stay exact."""
    b = GraphBuilder((1, 4), seed=5)
    b.quant(scale=2.0 ** -20, bits=30, signed=1)
    weight = b.rng.normal(0, 1, (4, 2))
    b.matmul(b.quantized_weight(weight, scale=2.0 ** -27, bits=30, narrow=0))
    graph = load(b.build())
    assert graph.layers[0].accumulator_bits > 53
    x = b.rng.uniform(-500, 500, (6, 4))
    run = execute(graph, x)
    codes, w = run.codes[0], graph.layers[0].weight
    expected = np.array([[sum(int(c) * int(v) for c, v in zip(row, col)) for col in w] for row in codes],
                        dtype=object)
    assert np.array_equal(run.accumulators[0].astype(object), expected)


def test_batched_execution_matches_single_chunks() -> None:
    graph = load(brevitas_mlp())
    x = random_inputs(graph, 1000, seed=2)
    whole = execute(graph, x)
    chunked = execute(graph, x, batch_size=64)
    assert np.array_equal(whole.output, chunked.output)
    assert np.array_equal(whole.codes[-1], chunked.codes[-1])
    assert np.array_equal(whole.predictions, chunked.predictions)


def test_summary_counts() -> None:
    graph = load(brevitas_mlp(sizes=(8, 12, 6, 3)))
    info = summary(graph)
    assert [row["shape"] for row in info["layers"]] == ["8x12", "12x6", "6x3"]
    assert info["totals"]["macs"] == 8 * 12 + 12 * 6 + 6 * 3
    assert info["totals"]["parameters"] == info["totals"]["macs"] + 12 + 6 + 3
    assert info["layers"][0]["weight_scale"] == "per-channel"
    assert info["layers"][0]["input"] == "uint4" and info["layers"][-1]["output"] == "float"
    topology = graph.topology
    assert list(topology.successors("input")) == ["dense0"]
    assert topology.number_of_edges() == 4


def test_loading_a_path_and_a_wrapper_agree(tmp_path) -> None:
    from graphs import save
    from qonnx.core.modelwrapper import ModelWrapper

    path = save(brevitas_mlp(), tmp_path / "m.onnx")
    by_path, by_wrapper = load(path), load(ModelWrapper(str(path)))
    assert by_path.name == "m" and by_path.source_path == str(path)
    for a, b in zip(by_path.layers, by_wrapper.layers):
        assert np.array_equal(a.weight, b.weight)
