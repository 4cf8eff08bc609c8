"""Non-ideality models: validation, determinism, exactness at zero noise, and the physics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from graphs import brevitas_mlp

from codesign.cards import load_card
from codesign.errors import ParameterError
from codesign.ir import execute, load
from codesign.ir.crosscheck import random_inputs
from codesign.noise import (
    BitStuckAt,
    DeviceStuckAt,
    DeviceVariability,
    Drift,
    NoiseModel,
    ProgrammingNoise,
    ReadNoise,
    named_model,
)
from codesign.noise.montecarlo import chip_weights, evaluate, simulate
from codesign.noise.perturb import generator, stuck_bits


@pytest.fixture(scope="module")
def graph():
    return load(brevitas_mlp(sizes=(8, 24, 12, 4), weight_bits=4, act_bits=4))


@pytest.fixture(scope="module")
def labelled(graph):
    x = random_inputs(graph, 400, seed=11)
    return x, execute(graph, x).predictions  # labels = the ideal chip's answers


@pytest.mark.parametrize("make", [lambda: BitStuckAt(-0.1), lambda: BitStuckAt(1.5), lambda: BitStuckAt(0.1, 2.0),
                                  lambda: BitStuckAt(0.1, encoding="gray"), lambda: ProgrammingNoise(-1),
                                  lambda: DeviceVariability(float("nan")), lambda: ReadNoise(-0.01),
                                  lambda: DeviceStuckAt(0.7, 0.5), lambda: Drift(nu=0.1, time_s=0.5)])
def test_bad_parameters_are_one_line_errors(make) -> None:
    with pytest.raises(ParameterError) as info:
        make()
    assert "\n" not in str(info.value) and ";" in str(info.value)


def test_unknown_names() -> None:
    with pytest.raises(ParameterError, match="unknown noise model 'gaussian'"):
        named_model("gaussian")
    with pytest.raises(ParameterError, match="unknown noise parameter"):
        NoiseModel().replace(colour=1)
    with pytest.raises(ParameterError, match="unknown noise component"):
        NoiseModel.from_dict({"shot": {}})


def test_json_round_trip_and_card_defaults() -> None:
    model = NoiseModel(bit_faults=BitStuckAt(0.1, 0.3, "sign_magnitude"), read=ReadNoise(0.02))
    assert NoiseModel.from_json(model.to_json()) == model
    card_model = NoiseModel.from_card(load_card("rram-40nm"), bit_fault_rate=0.05)
    assert card_model.programming.sigma > 0 and card_model.device_faults.gmax_rate > 0
    assert card_model.bit_faults.rate == 0.05


@pytest.mark.parametrize("encoding", ["twos_complement", "sign_magnitude", "offset"])
def test_stuck_bits_rate_and_polarity(encoding: str) -> None:
    codes = torch.zeros(200_000, dtype=torch.int64)
    all_sa1 = stuck_bits(codes, 4, BitStuckAt(1.0, sa1_fraction=1.0, encoding=encoding), generator(0, 0, 0, "b"))
    expected = {"twos_complement": -1, "sign_magnitude": -7, "offset": 7}[encoding]
    assert torch.all(all_sa1 == expected)  # every bit forced to 1
    some = stuck_bits(codes, 4, BitStuckAt(0.1, sa1_fraction=1.0, encoding=encoding), generator(0, 0, 0, "b"))
    changed = (some != codes).float().mean().item()
    # offset binary stores 0 as 1000; in sign-magnitude a stuck sign bit turns 0 into -0 = 0
    zero_bits = 4 if encoding == "twos_complement" else 3
    assert changed == pytest.approx(1 - 0.9**zero_bits, abs=0.01)


def test_zero_noise_is_exactly_the_quantised_model(graph, labelled) -> None:
    x, _ = labelled
    ideal = simulate(graph, x, NoiseModel(bit_faults=BitStuckAt(0.0), variability=DeviceVariability(0.0)),
                     instances=3)
    reference = execute(graph, x).logits
    assert all(np.array_equal(chip, reference) for chip in ideal)


def test_same_seed_same_faults_and_accuracy(graph, labelled) -> None:
    x, y = labelled
    model = NoiseModel(bit_faults=BitStuckAt(0.1), programming=ProgrammingNoise(0.05), read=ReadNoise(0.02),
                       device_faults=DeviceStuckAt(0.01, 0.01))
    first = chip_weights(graph, model, seed=4, instances=range(5))
    again = chip_weights(graph, model, seed=4, instances=range(5))
    other = chip_weights(graph, model, seed=5, instances=range(5))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    one = evaluate(graph, x, y, model, instances=12, seed=4, chunk=5)
    two = evaluate(graph, x, y, model, instances=12, seed=4, chunk=12)
    assert one.accuracies == two.accuracies  # chunking does not change any chip


def test_fault_map_does_not_depend_on_other_components(graph) -> None:
    bits_only = chip_weights(graph, NoiseModel(bit_faults=BitStuckAt(0.2)), 1, range(2))
    with_read = chip_weights(graph, NoiseModel(bit_faults=BitStuckAt(0.2), read=ReadNoise(0.1)), 1, range(2))
    assert all(torch.equal(a, b) for a, b in zip(bits_only, with_read))


@pytest.mark.parametrize("kind, levels", [("bit_faults", [0.0, 0.01, 0.03, 0.1]),
                                          ("variability", [0.0, 0.2, 0.5, 1.0]),
                                          ("read", [0.0, 0.05, 0.2, 0.5])])
def test_accuracy_falls_as_noise_grows(graph, labelled, kind: str, levels: list[float]) -> None:
    x, y = labelled
    build = {"bit_faults": lambda v: NoiseModel(bit_faults=BitStuckAt(v)),
             "variability": lambda v: NoiseModel(variability=DeviceVariability(v)),
             "read": lambda v: NoiseModel(read=ReadNoise(v))}[kind]
    means = [evaluate(graph, x, y, build(v), instances=20, seed=0).mean for v in levels]
    assert means[0] == 1.0
    assert all(later <= earlier + 0.01 for earlier, later in zip(means, means[1:])), means
    assert means[-1] < 0.9


def test_device_faults_push_to_range_ends(graph) -> None:
    stuck_high = chip_weights(graph, NoiseModel(device_faults=DeviceStuckAt(0.0, 1.0)), 0, range(1))[0][0]
    assert torch.all(stuck_high == 0)  # both cells of every pair at Gmax: g+ - g- = 0
    stuck_low = chip_weights(graph, NoiseModel(device_faults=DeviceStuckAt(1.0, 0.0)), 0, range(1))[0][0]
    assert torch.all(stuck_low == 0)


def test_drift_shrinks_weights(graph) -> None:
    drifted = chip_weights(graph, NoiseModel(drift=Drift(nu=0.1, time_s=1e4)), 0, range(1))[0][0]
    original = torch.as_tensor(graph.layers[0].weight, dtype=torch.float64)
    assert torch.allclose(drifted, original * (1e4) ** -0.1)
