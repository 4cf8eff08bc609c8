"""Printed backend: exact integer design, yosys synthesis, gate-level verification, estimates,
approximations and their search."""

from __future__ import annotations

import json

import numpy as np
import pytest
from graphs import brevitas_mlp, qkeras_mlp, save

from codesign.backends.printed.approximate import Approximation, NeuronKnobs, apply, cost_proxy
from codesign.backends.printed.csd import cheapest_near, csd, digit_count
from codesign.backends.printed.design import build, evaluate
from codesign.backends.printed.gatesim import Netlist, simulate
from codesign.backends.printed.implement import implement
from codesign.backends.printed.liberty import combinational_cells, liberty
from codesign.backends.printed.requant import ShiftRequant, ThresholdRequant, fit
from codesign.backends.printed.search import search
from codesign.cards import load_card, parse_card
from codesign.cli import main
from codesign.errors import BackendError, CardError, FloatGraphError, ParameterError
from codesign.ir import execute, load
from codesign.ir.crosscheck import random_inputs
from codesign.ir.reference import input_codes


@pytest.fixture(scope="module")
def card():
    return load_card("egfet-1v")


def _graph(tmp_path_factory, name: str, model):
    return load(save(model, tmp_path_factory.mktemp(name) / f"{name}.onnx"))


@pytest.fixture(scope="module")
def per_tensor(tmp_path_factory):
    return _graph(tmp_path_factory, "pt", brevitas_mlp((10, 6, 4), weight_bits=8, act_bits=4, per_channel=False,
                                                        batchnorm=False, seed=3))


@pytest.fixture(scope="module")
def power_of_two(tmp_path_factory):
    return _graph(tmp_path_factory, "po2", brevitas_mlp((12, 5, 4), weight_bits=8, act_bits=6, per_channel=False,
                                                         batchnorm=False, seed=8, power_of_two=True))


@pytest.fixture(scope="module")
def batchnorm(tmp_path_factory):
    return _graph(tmp_path_factory, "bn", brevitas_mlp((9, 5, 4, 3), weight_bits=6, act_bits=3, per_channel=False,
                                                        batchnorm=True, seed=5))


# -- constants ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, 1, -1, 3, 7, -7, 57, -128, 127, 255, 1000, -4135])
def test_csd_digits_rebuild_the_value_without_adjacent_digits(value):
    digits = csd(value)
    assert sum(sign << shift for shift, sign in digits) == value
    shifts = [shift for shift, _ in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))


def test_cheapest_near_never_costs_more_and_stays_in_tolerance():
    for value in range(-130, 130):
        for tolerance in (0, 1, 3, 8):
            near = cheapest_near(value, tolerance)
            assert abs(near - value) <= tolerance
            assert digit_count(near) <= digit_count(value)
    assert cheapest_near(5, 2) == 4 and cheapest_near(3, 3) == 0


# -- exact integer requantisation -------------------------------------------------------------------
def test_line_fit_reproduces_a_rounded_scaled_relu_exactly():
    acc = np.arange(-3000, 3001)
    codes = np.clip(np.round(acc * 0.0123 + 4.4), 0, 15).astype(np.int64)
    form, negate = fit(codes, -3000)
    assert isinstance(form, ShiftRequant) and not negate
    assert np.array_equal(form.apply(acc), codes)


def test_decreasing_map_is_fitted_on_negated_accumulators():
    acc = np.arange(-500, 501)
    codes = np.clip(np.round(-acc * 0.03 + 2), 0, 7).astype(np.int64)
    form, negate = fit(codes, -500)
    assert negate and np.array_equal(form.apply(-acc), codes)


def test_power_of_two_requantisation_is_a_shift_with_ties_to_even():
    acc = np.arange(-400, 3000)
    codes = np.clip(np.round((acc + 37) / 8), 0, 255).astype(np.int64)  # numpy rounds ties to even
    form, _ = fit(codes, -400)
    assert isinstance(form, ShiftRequant) and form.half_even and form.multiplier == 1 and form.shift == 3
    assert np.array_equal(form.apply(acc), codes)


def test_threshold_form_when_no_line_fits():
    acc = np.arange(-200, 201)
    codes = np.clip(np.round(15 / (1 + np.exp(-acc / 40.0))), 0, 15).astype(np.int64)  # sigmoid: not a line
    form, _ = fit(codes, -200)
    assert np.array_equal(form.apply(acc), codes)
    assert isinstance(form, ThresholdRequant | ShiftRequant)


# -- design vs integer reference -----------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["per_tensor", "batchnorm", "power_of_two"])
def test_design_is_bit_exact_with_the_integer_reference(fixture, request):
    graph = request.getfixturevalue(fixture)
    design = build(graph)
    x = random_inputs(graph, 3000, seed=1)
    reference = execute(graph, x)
    evaluation = evaluate(design, input_codes(graph, x))
    assert np.array_equal(evaluation.predictions, reference.predictions)
    for mine, theirs in zip(evaluation.codes[1:], reference.codes[1:-1], strict=False):
        assert np.array_equal(mine, theirs)


def test_float_graph_is_refused(tmp_path):
    graph = load(save(qkeras_mlp((6, 4, 3), bits=6), tmp_path / "q.onnx"))  # float input
    with pytest.raises(FloatGraphError, match="quantised activations"):
        build(graph)


# -- synthesis and gate-level verification ---------------------------------------------------------
@pytest.fixture(scope="module")
def exact_implementation(per_tensor, card):
    x = random_inputs(per_tensor, 512, seed=2)
    return implement(build(per_tensor), card, input_codes(per_tensor, x), activity_source="random inputs",
                     reference_predictions=execute(per_tensor, x).predictions)


def test_mapped_netlist_matches_reference_and_uses_only_card_cells(exact_implementation, card):
    verification = exact_implementation.verification
    assert verification["passed"] and verification["gate_vs_reference_mismatches"] == 0
    kinds = {c["type"] for c in exact_implementation.synthesis.module["cells"].values()}
    assert kinds and kinds <= set(combinational_cells(card))


def test_power_of_two_design_synthesises_bit_exact(power_of_two, card):
    x = random_inputs(power_of_two, 800, seed=9)
    implementation = implement(build(power_of_two), card, input_codes(power_of_two, x), activity_source="random",
                               reference_predictions=execute(power_of_two, x).predictions)
    assert implementation.verification["gate_vs_reference_mismatches"] == 0
    assert "ties to even" in implementation.verilog


def test_signed_inputs_synthesise_bit_exact(tmp_path, card):
    graph = load(save(qkeras_mlp((6, 5, 3), bits=6, quantized_input=True), tmp_path / "sgn.onnx"))
    design = build(graph)
    assert design.input_signed
    x = random_inputs(graph, 500, seed=3)
    implementation = implement(design, card, input_codes(graph, x), activity_source="random",
                               reference_predictions=execute(graph, x).predictions)
    assert implementation.verification["gate_vs_reference_mismatches"] == 0


def test_estimate_comes_from_the_netlist_with_units(exact_implementation, card):
    estimate = exact_implementation.estimate
    cells = estimate.breakdown["cells"]
    area = sum(card.cells[k].area.value * n for k, n in cells.items())
    leakage = sum(card.cells[k].leakage.value * n for k, n in cells.items())
    assert estimate.area_mm2 == pytest.approx(area * 1e6)
    assert estimate.breakdown["power_w"]["static"] == pytest.approx(leakage)
    assert estimate.breakdown["power_w"]["dynamic"] > 0  # activity was measured
    assert estimate.resources["area_cm2"] == pytest.approx(estimate.area_mm2 / 100)
    # critical path: at least one cell delay, at most every cell in series
    delays = [card.cells[k].delay.value for k in cells]
    assert min(delays) <= estimate.latency_s <= sum(card.cells[k].delay.value * n for k, n in cells.items())
    assert estimate.energy_j == pytest.approx(estimate.breakdown["energy_j"]["static"] + estimate.breakdown["energy_j"]["dynamic"])
    assert any("battery" in a for a in estimate.assumptions)


def test_gate_simulation_catches_a_corrupted_netlist(exact_implementation, per_tensor, card):
    functions = {n: c.function for n, c in combinational_cells(card).items()}
    module = json.loads(json.dumps(exact_implementation.synthesis.module))
    for cell in module["cells"].values():  # swap every NAND for a NOR: the circuit must now differ
        if cell["type"] == "NAND2X1":
            cell["type"] = "NOR2X1"
    x = input_codes(per_tensor, random_inputs(per_tensor, 256, seed=4))
    ports = {f"x{i}": x[:, i] for i in range(x.shape[1])}
    good = simulate(Netlist.from_yosys(exact_implementation.synthesis.module, functions), functions, ports)
    bad = simulate(Netlist.from_yosys(module, functions), functions, ports)
    expected = evaluate(build(per_tensor), x).predictions
    assert np.array_equal(good.outputs["class_id"], expected)
    assert not np.array_equal(bad.outputs["class_id"], expected)


def test_approximate_design_is_cheaper_and_its_gates_match_its_model(batchnorm, card):
    exact = build(batchnorm)
    knobs = tuple(tuple(NeuronKnobs(coefficient_tolerance=4, truncation=2, output_drop=1) for _ in layer.neurons)
                  for layer in exact.layers)
    approx = apply(exact, Approximation(knobs, argmax_drop=2))
    assert cost_proxy(approx) < cost_proxy(exact)
    x = input_codes(batchnorm, random_inputs(batchnorm, 400, seed=6))
    small = implement(approx, card, x, activity_source="random")
    big = implement(exact, card, x, activity_source="random")
    assert small.verification["gate_vs_design_mismatches"] == 0
    assert small.estimate.area_mm2 < big.estimate.area_mm2
    assert small.estimate.power_w < big.estimate.power_w


def test_search_respects_the_budget_and_is_deterministic(batchnorm):
    exact = build(batchnorm)
    x = random_inputs(batchnorm, 600, seed=7)
    codes, labels = input_codes(batchnorm, x), execute(batchnorm, x).predictions  # labels = exact predictions
    first = search(exact, codes, labels, trials=120, seed=3)
    second = search(exact, codes, labels, trials=120, seed=3)
    assert first.exact_accuracy == 1.0
    for loss in (0.0, 0.05):
        pick = first.within(loss)
        assert pick.accuracy >= 1.0 - loss - 1e-12
        assert pick == second.within(loss)
    assert first.within(0.05).proxy <= first.within(0.0).proxy <= first.exact_proxy
    front = first.pareto()
    assert all(a.proxy <= b.proxy and a.accuracy < b.accuracy for a, b in zip(front, front[1:]))


# -- cell library, errors, CLI -------------------------------------------------------------------
def test_module_names_are_legal_verilog():
    from codesign.backends.printed.verilog import module_name

    assert module_name("cardio") == "cardio"
    assert module_name("signed") == "m_signed" and module_name("3x") == "m_3x" and module_name("a-b") == "a_b"


def test_liberty_uses_scaled_units(card):
    text = liberty(card)
    assert "cell (NAND2X1)" in text and "area : 0.247860;" in text
    assert 'values ("1.953900")' in text  # 1.9539 ms written as 1.9539 "ns"


def test_card_without_inverter_is_refused():
    text = """
name = "no-inv"
family = "printed"
description = "test"
[process]
technology = "EGFET"
supply_voltage = { value = 1.0, unit = "V", source = "test" }
battery_power = { value = 30, unit = "mW", source = "test" }
[cells.NAND2X1]
function = "!(A&B)"
area = { value = 0.25, unit = "mm^2", source = "test" }
leakage = { value = 5, unit = "uW", source = "test" }
delay = { value = 2, unit = "ms", source = "test" }
"""
    with pytest.raises(CardError, match="no inverter"):
        combinational_cells(parse_card(text))


def test_synthesis_time_limit_is_enforced(per_tensor, card):
    x = input_codes(per_tensor, random_inputs(per_tensor, 16, seed=0))
    with pytest.raises(BackendError, match="did not finish within"):
        implement(build(per_tensor), card, x, activity_source="random", timeout_s=0.01)


def test_cli_export_writes_verified_artifact_and_is_deterministic(per_tensor, tmp_path, capsys):
    model = per_tensor.source_path
    for out in ("a", "b"):
        assert main(["export", model, "--target", "printed", "--card", "egfet-1v", "--out", str(tmp_path / out),
                     "-O", "samples=300", "-O", "proof_timeout=0"]) == 0  # the proof: test_printed_verification
    files = {p.name for p in (tmp_path / "a").iterdir()}
    assert {"design.v", "netlist.json", "synthesis.log", "verification.json", "estimate.json", "cells.lib"} <= files
    assert json.loads((tmp_path / "a" / "verification.json").read_text())["passed"]
    assert (tmp_path / "a" / "estimate.json").read_text() == (tmp_path / "b" / "estimate.json").read_text()
    verilog = (tmp_path / "a" / "design.v").read_text()
    assert "module pt (" in verilog and "// card: egfet-1v" in verilog and "// synthesis: " in verilog


def test_cli_approximation_needs_data_and_leaves_nothing(per_tensor, tmp_path, capsys):
    out = tmp_path / "x"
    code = main(["export", per_tensor.source_path, "--target", "printed", "--card", "egfet-1v", "--out", str(out),
                 "--accuracy-loss", "0.01"])
    assert code == 2 and not out.exists()
    assert "labelled data" in capsys.readouterr().err


def test_bad_accuracy_loss_is_one_line_error(per_tensor, tmp_path):
    from codesign.backends.printed.backend import PrintedBackend

    with pytest.raises(ParameterError, match="accuracy_loss must be .* in \\[0, 1\\)"):
        PrintedBackend().lower(per_tensor, load_card("egfet-1v"), tmp_path / "y", accuracy_loss=1.5, data="iris")
