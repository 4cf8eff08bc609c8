"""Printed co-design pieces: the area proxy, hardware-aware retraining, design JSON, the sensor
interface, and the report's front (constant classifiers never on it)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from codesign.backends.printed.design import Design, Layer, Neuron, evaluate
from codesign.backends.printed.interface import converted_bits, encoder_verilog, interface_estimate
from codesign.backends.printed.proxy import area_proxy_mm2, breakdown
from codesign.backends.printed.requant import ThresholdRequant
from codesign.backends.printed.retrain import RetrainConfig, pareto_front, retrain, select
from codesign.backends.printed.serialize import design_from_dict, design_to_dict
from codesign.cards import load_card
from codesign.dse.printed import hypervolume
from codesign.dse.printed_report import Anchor, choose, compare, nondominated, selection_accuracy
from codesign.errors import ParameterError


def _gate(weights, threshold, truncation=0):
    return Neuron(tuple(weights), requant=ThresholdRequant((threshold,), 0), truncation=truncation)


def _tnn(seed: int = 0, features: int = 6, hidden: int = 4, classes: int = 3, bits: int = 3) -> Design:
    """A ternary 2-layer threshold-gate network with random weights (3-bit unsigned inputs)."""
    rng = np.random.default_rng(seed)
    gates = tuple(_gate(rng.integers(-1, 2, features), int(rng.integers(-3, 6))) for _ in range(hidden))
    logits = tuple(Neuron(tuple(int(w) for w in rng.integers(-1, 2, hidden)), logit=(2, int(rng.integers(-2, 3))))
                   for _ in range(classes))
    return Design("tnn", 0, (1 << bits) - 1, (Layer("dense0", gates, 1), Layer("dense1", logits, 0, True)), classes)


def _data(design: Design, samples: int = 400, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.integers(design.input_low, design.input_high + 1, (samples, design.in_features))
    # labels from a slightly different network: something to learn, not a copy
    teacher = _tnn(seed + 10, design.in_features, 4, design.classes)
    return x, evaluate(teacher, x).predictions


# -- proxy -----------------------------------------------------------------------------------------
def test_proxy_counts_no_logic_for_constant_neurons_and_unread_inputs() -> None:
    design = _tnn()
    info = breakdown(design)
    assert info.area_mm2 > 0 and info.live_inputs
    # a threshold above every reachable sum: the gate is constant, its inputs unread (if only it reads them)
    never = _gate((1, 1, 0, 0, 0, 0), 100)
    lonely = replace(design, layers=(Layer("dense0", (never, *design.layers[0].neurons[1:]), 1), design.layers[1]))
    dead = breakdown(lonely)
    assert 0 not in dead.live_neurons[0]
    assert dead.area_mm2 < info.area_mm2
    # a design whose every hidden gate is constant is a constant classifier: no logic at all
    constant = replace(design, layers=(Layer("dense0", tuple(_gate((0,) * 6, 0) for _ in range(4)), 1),
                                       design.layers[1]))
    assert area_proxy_mm2(constant) == 0.0 and breakdown(constant).live_inputs == ()
    # pruning a weight never costs more; dropping input bits never costs more
    pruned = replace(design, layers=(Layer("dense0", (_gate((0, *design.layers[0].neurons[0].weights[1:]),
                                                            design.layers[0].neurons[0].requant.thresholds[0]),
                                                      *design.layers[0].neurons[1:]), 1), design.layers[1]))
    assert area_proxy_mm2(pruned) <= area_proxy_mm2(design)
    truncated = replace(design, layers=(Layer("dense0", tuple(replace(n, truncation=1) for n in design.layers[0].neurons),
                                              1), design.layers[1]))
    assert area_proxy_mm2(truncated) < area_proxy_mm2(design)


def _two_comparator_classifier(classes: int = 6) -> Design:
    """Two 1-bit inputs (of 11) through one gate each; the logits pick class 2 or 3 from them."""
    gates = (_gate((0,) * 10 + (1,), 1), _gate((0,) * 9 + (1, 0), 1))
    off = Neuron((0, 0), logit=(1, -5))
    logits = (off, off, Neuron((-1, -1), logit=(2, 0)), Neuron((1, 1), logit=(2, -1)), *(off,) * (classes - 4))
    return Design("tiny", 0, 1, (Layer("dense0", gates, 1), Layer("dense1", logits, 0, True)), classes)


def test_proxy_of_a_design_reading_few_input_bits_comes_from_its_truth_table() -> None:
    from codesign.backends.printed.proxy import GATE_MM2, small_support_mm2

    design = _two_comparator_classifier()
    info = breakdown(design)
    assert info.live_inputs == (9, 10)
    x = np.random.default_rng(0).integers(0, 2, (64, 11))
    assert set(evaluate(design, x).predictions.tolist()) == {2, 3}
    # class 3 iff both comparators fire: bit 0 of the class index is one AND of two wires, the
    # other bits are constant; the structural count (adders, comparators, a 6-way argmax) is far more
    assert small_support_mm2(design, info.live_inputs) == pytest.approx(GATE_MM2)
    assert area_proxy_mm2(design) == pytest.approx(GATE_MM2)
    assert info.area_mm2 / 10 > GATE_MM2
    # one comparator alone: the class-index bit is that wire, no gate
    wire = design.with_layer(0, Layer("dense0", (design.layers[0].neurons[0], _gate((0,) * 11, 1)), 1))
    assert area_proxy_mm2(wire) == 0.0
    # wide supports keep the structural count
    assert small_support_mm2(_tnn(), breakdown(_tnn()).live_inputs) is None


def test_a_two_comparator_classifier_synthesises_to_one_cell() -> None:
    """The area mapping folds the constant logits and the argmax: what is left is the function
    of the two wires (the proxy's truth-table bound holds after synthesis)."""
    from codesign.backends.printed.implement import implement

    design = _two_comparator_classifier()
    x = np.random.default_rng(0).integers(0, 2, (64, 11))
    implementation = implement(design, load_card("egfet-1v"), x, activity_source="random codes", abc_script="area",
                               timeout_s=120)
    assert implementation.verification["passed"]
    assert implementation.estimate.resources["cells"] <= 1
    assert implementation.estimate.resources["area_cm2"] * 100 <= area_proxy_mm2(design) * 1.5


# -- retraining ------------------------------------------------------------------------------------
def test_nsga_selection_keeps_the_first_front() -> None:
    objectives = np.array([[0, 5], [1, 1], [2, 0], [3, 3], [1, 2], [0.5, 4]])
    chosen = set(select(objectives, 3).tolist())
    assert chosen == {0, 1, 2}  # (0,5), (1,1), (2,0) are non-dominated


def test_retraining_is_bit_true_deterministic_and_keeps_the_start() -> None:
    design = _tnn()
    x, y = _data(design)
    config = RetrainConfig(generations=6, population=16, seed=3)
    first = retrain(design, x, y, config)
    again = retrain(design, x, y, config)
    assert list(first.evaluated) == list(again.evaluated)  # same designs in the same order
    assert design in first.evaluated and first.start.design == design
    for candidate, scored in list(first.evaluated.items())[:40]:
        assert scored.accuracy == pytest.approx(float(np.mean(evaluate(candidate, x).predictions == y)))
        assert scored.proxy_mm2 == pytest.approx(area_proxy_mm2(candidate))
    front = first.pareto()
    assert [s.proxy_mm2 for s in front] == sorted(s.proxy_mm2 for s in front)
    assert all(a.accuracy < b.accuracy for a, b in zip(front, front[1:]))
    assert front[-1].accuracy >= first.start.accuracy  # the search never loses the starting design
    assert pareto_front(list(first.evaluated.values())) == front
    with pytest.raises(ParameterError):
        RetrainConfig(population=2)


def test_design_json_round_trip() -> None:
    design = replace(_tnn(), argmax_drop=1)
    design = design.with_layer(0, Layer("dense0", (replace(design.layers[0].neurons[0], truncation=2),
                                                   *design.layers[0].neurons[1:]), 1))
    assert design_from_dict(design_to_dict(design)) == design


# -- sensor interface --------------------------------------------------------------------------------
def test_converted_bits_follow_the_readers() -> None:
    design = _tnn()
    bits = converted_bits(design)
    assert set(bits) == set(breakdown(design).live_inputs)
    assert all(b == design.input_bits for b in bits.values())
    truncated = design.with_layer(0, Layer("dense0", tuple(replace(n, truncation=1) for n in design.layers[0].neurons), 1))
    assert all(b == design.input_bits - 1 for b in converted_bits(truncated).values())


def test_interface_cost_counts_comparators_and_a_working_encoder() -> None:
    from codesign.backends.printed.gatesim import Netlist, simulate
    from codesign.backends.printed.liberty import combinational_cells, liberty
    from codesign.backends.printed.synthesis import synthesize

    card = load_card("egfet-1v")
    design = _tnn(bits=2)
    estimate = interface_estimate(design, card)
    assert estimate.comparators == sum(3 for _ in converted_bits(design))
    assert estimate.area_m2 > estimate.comparators * card.interface.comparator_area.value  # + encoders
    # the encoder maps every thermometer code to its count
    functions = {name: cell.function for name, cell in combinational_cells(card).items()}
    module = synthesize(encoder_verilog(3), liberty(card), "therm2bin").module
    codes = np.array([(1 << k) - 1 for k in range(8)])
    gates = simulate(Netlist.from_yosys(module, functions), functions, {"t": codes})
    assert gates.outputs["code"].tolist() == list(range(8))


# -- front and anchors -------------------------------------------------------------------------------
def test_constant_classifiers_are_never_on_the_front() -> None:
    pool = [{"validation_accuracy": 0.78, "proxy_mm2": 0.0, "constant": True},
            {"validation_accuracy": 0.80, "proxy_mm2": 10.0, "constant": False},
            {"validation_accuracy": 0.79, "proxy_mm2": 20.0, "constant": False},
            {"validation_accuracy": 0.90, "proxy_mm2": 50.0, "constant": False}]
    front = nondominated([c for c in pool if not c["constant"]], "validation_accuracy", "proxy_mm2")
    assert [c["proxy_mm2"] for c in front] == [10.0, 50.0]
    assert choose(front, 1, key="validation_accuracy") in ([front[0]], [front[-1]])
    assert hypervolume(pool, floor=0.78) > hypervolume(pool[:2], floor=0.78) > 0
    assert hypervolume([pool[0]], floor=0.78) == 0.0  # a constant adds nothing


def test_front_is_chosen_on_the_whole_training_split() -> None:
    # 840 search + 280 validation samples: a 0-gate design lucky on validation (170 vs 168 right)
    # but 40 samples worse on the search part no longer hides the 3-gate design
    lucky = {"search_accuracy": 0.54, "validation_accuracy": 170 / 280, "proxy_mm2": 0.0, "constant": False}
    steady = {"search_accuracy": 0.54 + 40 / 840, "validation_accuracy": 168 / 280, "proxy_mm2": 0.8, "constant": False}
    for c in (lucky, steady):
        c["selection_accuracy"] = selection_accuracy(c, 840, 280)
    assert steady["selection_accuracy"] == pytest.approx((0.54 * 840 + 40 + 168) / 1120)
    assert nondominated([lucky, steady], "validation_accuracy", "proxy_mm2") == [lucky]
    assert nondominated([lucky, steady], "selection_accuracy", "proxy_mm2") == [lucky, steady]


def test_chosen_points_spread_over_accuracy_and_area() -> None:
    # a flat front: accuracy levels alone pick the cheap and the dear end and skip the middle decades
    front = [{"selection_accuracy": 0.50 + 0.001 * i, "proxy_mm2": 10.0 ** (i / 4)} for i in range(40)]
    front[-1]["selection_accuracy"] = 0.60
    chosen = choose(front, 9)
    assert len(chosen) == 9 and front[0] in chosen and front[-1] in chosen
    assert [p["proxy_mm2"] for p in chosen] == sorted(p["proxy_mm2"] for p in chosen)
    decades = {int(np.log10(p["proxy_mm2"])) for p in chosen}
    assert len(decades) >= 6  # by accuracy alone: 10 ** 0, 10 ** 5 and 10 ** 9 only
    assert choose(front[:5], 9) == front[:5]


def test_seeded_architectures_cover_both_ends_of_the_space() -> None:
    from codesign.dse.printed import PrintedSpace, seed_params

    space = PrintedSpace(hidden=(1, 2, 4, 8), input_bits=(1, 2, 3, 4), weights=("ternary", "binary", "int3"),
                         activation=("sign", "relu2"), sparsity=(0.0, 0.01, 0.03))
    seeds = seed_params(space)
    cheapest, richest = seeds[0], seeds[-1]
    assert (cheapest["hidden"], cheapest["input_bits"], cheapest["weights"], cheapest["activation"],
            cheapest["sparsity"]) == (1, 1, "ternary", "sign", 0.03)
    assert (richest["hidden"], richest["input_bits"], richest["weights"], richest["activation"],
            richest["sparsity"]) == (8, 4, "int3", "relu2", 0.0)
    for seed in seeds:  # every value is one the space offers (Optuna enqueues them as categorical choices)
        assert all(seed[key] in getattr(space, key) for key in seed)
    assert len({tuple(sorted(s.items())) for s in seeds}) == len(seeds)
    assert len(seed_params(PrintedSpace(hidden=(3,), input_bits=(2,), weights=("ternary",), activation=("sign",),
                                        sparsity=(0.01,)))) == 1


def test_anchor_comparison_uses_the_front_and_half_a_point() -> None:
    points = [{"name": "a", "pareto": True, "test_accuracy": 0.850, "area_cm2": 0.1, "power_mw": 0.2},
              {"name": "b", "pareto": True, "test_accuracy": 0.895, "area_cm2": 1.0, "power_mw": 2.0},
              {"name": "c", "pareto": False, "test_accuracy": 0.95, "area_cm2": 0.05, "power_mw": 0.1}]
    rows = compare(points, [Anchor("x", 0.9013, 1.89, 2.08), Anchor("y", 0.8542, 0.135, 0.141), Anchor("z", 0.99, 9.0)])
    assert rows[0]["reached"] is False  # 0.895 is more than half a point below 0.9013
    assert rows[1]["point"] == "a" and rows[1]["area_ratio"] == pytest.approx(0.1 / 0.135)
    assert rows[2]["reached"] is False and rows[2]["best_test_accuracy"] == 0.895


def test_generic_sweep_front_leaves_constant_classifiers_out() -> None:
    from codesign.dse.evaluate import constant_classifier
    from codesign.dse.results import TrialRecord, is_constant, pareto_front

    assert constant_classifier(np.zeros(10, dtype=int)) and not constant_classifier(np.arange(10) % 2)

    def record(number, accuracy, area, **flags):
        metrics = {"accuracy": accuracy, "printed.area_mm2": area, **flags}
        return TrialRecord(number, {}, {"accuracy": accuracy, "printed.area_mm2": area}, metrics, f"trials/{number}")

    trials = [record(0, 0.779, 0.0, **{"printed.constant_classifier": 1.0}),  # "0 mm^2" at the majority accuracy
              record(1, 0.85, 30.0, constant_classifier=0.0), record(2, 0.88, 80.0), record(3, 0.80, 90.0)]
    front = pareto_front(trials, ["accuracy", "printed.area_mm2"], ["maximize", "minimize"])
    assert [t.number for t in front] == [1, 2]
    assert is_constant(trials[0]) and not is_constant(trials[1])


def test_converter_levels_are_polished_and_written_back(tmp_path) -> None:
    """Moving 1-bit comparator thresholds never lowers the accuracy on the data it is tuned on,
    and the rewritten QONNX model computes exactly the codes the design was scored with."""
    from graphs import GraphBuilder, save

    from codesign.backends.printed.design import build
    from codesign.dse.converter_levels import input_stage, polish, write_offsets
    from codesign.ir import execute, load
    from codesign.ir.reference import input_codes

    b = GraphBuilder((1, 5), seed=2)
    b.op("Mul", b.const(np.array([1.0, 2.0, 1.0, 0.5, 1.0], dtype=np.float32)))
    b.op("Add", b.const(np.array([0.1, -0.6, 0.0, 0.2, -0.1], dtype=np.float32)))
    b.quant(scale=1.0, bits=1, signed=0)
    hidden = np.array([[1, -1, 0, 1, 0], [0, 1, 1, -1, 1], [-1, 0, 1, 1, 0]], dtype=np.float64)
    b.gemm(b.quantized_weight(hidden, scale=1.0, bits=2, narrow=1), b.const(np.array([-0.5, -1.5, 0.5], dtype=np.float32)))
    b.quant(scale=1.0, bits=1, signed=0)
    b.gemm(b.quantized_weight(np.array([[1, -1, 1], [-1, 1, 0]], dtype=np.float64), scale=1.0, bits=2, narrow=1))
    path = save(b.build(), tmp_path / "levels.onnx")
    graph = load(path)
    stage = input_stage(graph)
    assert stage is not None
    rng = np.random.default_rng(0)
    x = rng.random((300, 5))
    labels = (x[:, 0] + 0.5 * x[:, 2] > 0.8).astype(int)
    design = build(graph)
    before = float(np.mean(evaluate(design, input_codes(graph, x)).predictions == labels))
    offsets, after = polish(design, stage, x, labels)
    assert after > before and not np.array_equal(offsets, stage.offset)
    written = load(write_offsets(path, offsets, tmp_path / "polished.onnx"))
    codes = input_codes(written, x)
    assert np.array_equal(codes, stage.codes(x, offsets))
    assert float(np.mean(evaluate(build(written), codes).predictions == labels)) == pytest.approx(after)
    assert np.array_equal(evaluate(build(written), codes).predictions, execute(written, x).predictions)


def test_repricing_a_netlist_with_another_cards_cells() -> None:
    """The same mapped netlist and activity priced with the 0.6 V cells: the 1 V card reproduces
    the implementation's own power, the 0.6 V card (the published points' library) is lower."""
    from codesign.backends.printed.implement import implement
    from codesign.dse.printed_report import _repriced_power

    design = _tnn()
    x, _ = _data(design, samples=128)
    implementation = implement(design, load_card("egfet-1v"), x, activity_source="random")
    same = _repriced_power(implementation, load_card("egfet-1v"), x, design)
    assert same == pytest.approx(implementation.estimate.resources["power_mw"])
    assert 0 < _repriced_power(implementation, load_card("egfet-0.6v"), x, design) < same / 2


@pytest.mark.slow
def test_search_and_report_end_to_end(tmp_path) -> None:
    """Two trials on a small set, then the report: every reported point synthesised, verified on
    the whole test set, with its model, design and converter cost; constants never on the front."""
    import json

    from codesign.dse.printed import PrintedSearchConfig, PrintedSpace, make_splits
    from codesign.dse.printed_report import report
    from codesign.dse.printed_search import search

    config = PrintedSearchConfig(dataset="iris", trials=2, epochs=8,
                                 space=PrintedSpace(hidden=(3,), input_bits=(1, 2), weights=("ternary",),
                                                    activation=("sign",), sparsity=(0.01,), thermometer=(1, 2)),
                                 retrain=RetrainConfig(generations=4, population=12))
    pool = search(config, tmp_path, workers=1, progress=False)
    assert pool and all("validation_accuracy" in c for c in pool)
    again = search(config, tmp_path, workers=1, progress=False)  # resumed: no new trial
    assert len(again) == len(pool)
    result = report(pool, make_splits("iris"), tmp_path, points=3, progress=False)
    assert result["points"] and (tmp_path / "front.png").is_file()
    for point in result["points"]:
        folder = tmp_path / "points" / point["name"]
        assert point["verification"]["passed"] and point["verification"]["samples"] == len(make_splits("iris").y_test)
        assert {"design.v", "design.json", "model.onnx", "netlist.json", "estimate.json"} <= {p.name for p in folder.iterdir()}
        assert not (point["pareto"] and point["constant"])
    assert json.loads((tmp_path / "front.json").read_text())["synthesised"] == len(result["points"])


def test_thermometer_inputs_read_each_feature_through_k_comparators() -> None:
    """k copies of every feature, 1-bit inputs, learned levels starting evenly spread."""
    from codesign.dse.printed import expand, mlp_config, spread_levels
    from codesign.quant import Topology, build_mlp

    x = np.array([[0.1, 0.9], [0.6, 0.2]])
    assert expand(x, 3).tolist() == [[0.1, 0.1, 0.1, 0.9, 0.9, 0.9], [0.6, 0.6, 0.6, 0.2, 0.2, 0.2]]
    params = {"hidden": 3, "input_bits": 4, "weights": "ternary", "activation": "sign", "sparsity": 0.0,
              "input_affine": False, "thermometer": 3}
    config = mlp_config(params)
    assert config.input_bits == 1 and config.input_affine
    model = build_mlp(Topology(6, 2, config), seed=0)
    spread_levels(model, 3)
    import torch

    model.eval()
    with torch.no_grad():
        codes = model[1](model[0](torch.as_tensor(expand(np.array([[0.3, 0.8]]), 3), dtype=torch.float32)))
    # levels 1/4, 2/4, 3/4: 0.3 passes one comparator, 0.8 all three
    assert (codes.value / codes.scale).round().int().tolist() == [[1, 0, 0, 1, 1, 1]]


def _search_record(folder) -> list[tuple]:
    """Per trial number: parameters, objective, and the candidates it wrote."""
    import json

    import optuna

    study = optuna.load_study(study_name="printed-iris-s0", storage=f"sqlite:///{folder / 'study.db'}")
    return [(t.number, t.state.name, tuple(sorted(t.params.items())), t.value,
             json.loads((folder / "trials" / str(t.number) / "candidates.json").read_text())["candidates"])
            for t in sorted(study.trials, key=lambda t: t.number)]


def test_search_trials_do_not_depend_on_workers_timing_or_resume(tmp_path) -> None:
    """The sampler is asked between rounds only, seeded per round: one worker, two workers, and a
    search stopped after 3 trials and resumed to 5 run the same trials with the same results."""
    from codesign.dse.printed import PrintedSearchConfig, PrintedSpace
    from codesign.dse.printed_search import search

    def config(trials: int) -> PrintedSearchConfig:
        return PrintedSearchConfig(dataset="iris", trials=trials, epochs=4,
                                   space=PrintedSpace(hidden=(2, 3), input_bits=(1, 2), weights=("ternary", "int3"),
                                                      activation=("sign",), sparsity=(0.0, 0.01), thermometer=(1,)),
                                   retrain=RetrainConfig(generations=2, population=8), polish_levels=False)

    search(config(5), tmp_path / "one", workers=1, progress=False)
    search(config(5), tmp_path / "two", workers=2, progress=False)
    search(config(3), tmp_path / "resumed", workers=2, progress=False)
    search(config(5), tmp_path / "resumed", workers=2, progress=False)
    one = _search_record(tmp_path / "one")
    assert len(one) == 5 and all(state == "COMPLETE" for _, state, *_ in one)
    assert len({params for _, _, params, _, _ in one}) > 2  # the sampler, not only the seeded corners
    assert _search_record(tmp_path / "two") == one
    assert _search_record(tmp_path / "resumed") == one
