"""Physical structure of the FPGA cost model: what must hold whatever the fitted constants are."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.backends.fpga.layerstats import LayerStats, csd_digits, digit_rows
from codesign.backends.fpga.resources import TOOLS, Design, dense_resources

VITIS = TOOLS["vitis"]


def _layer(codes, *, input_bits=8, output_bits=8, relu=True, accum_bits=None) -> LayerStats:
    return LayerStats.from_codes("dense", np.asarray(codes), weight_bits=8, input_bits=input_bits,
                                 accum_bits=accum_bits, output_bits=output_bits, relu=relu)


def test_digit_rows_count_products_by_csd_digits() -> None:
    codes = np.array([[0, 1, 3, 7, 11, 0], [2, -2, 0, 0, 0, 0]])
    assert csd_digits(codes[0]).tolist() == [0, 1, 2, 2, 3, 0]
    assert digit_rows(codes).tolist() == [[1, 2, 1, 0, 0, 0], [2, 0, 0, 0, 0, 0]]


def test_binary_popcount_tree_grows_from_one_bit() -> None:
    rng = np.random.default_rng(0)
    codes = rng.choice([-1, 1], size=(64, 784))
    row = dense_resources(_layer(codes, input_bits=1, output_bits=1, relu=False), Design(), VITIS)
    per_product = row.adder_bits / codes.size
    assert 2.5 < per_product < 3.5  # sum over levels of (width = level + 1) / 2**level ~ 3 bits per leaf
    wide = dense_resources(_layer(codes, input_bits=8, output_bits=8, relu=False), Design(), VITIS)
    assert wide.adder_bits > 2.5 * row.adder_bits  # 8-bit inputs: wider leaves, not more levels


def test_trees_are_capped_at_the_accumulator_width() -> None:
    codes = np.ones((4, 256), dtype=np.int64)
    narrow = dense_resources(_layer(codes, accum_bits=10), Design(), VITIS)
    exact = dense_resources(_layer(codes), Design(), VITIS)
    assert narrow.adder_bits < exact.adder_bits


def test_flip_flops_follow_the_latency() -> None:
    rng = np.random.default_rng(1)
    codes = rng.integers(-100, 100, size=(32, 64))
    fast = dense_resources(_layer(codes), Design(clock_period_ns=50.0), VITIS)
    slow = dense_resources(_layer(codes), Design(clock_period_ns=1.0), VITIS)
    assert slow.latency_cycles > fast.latency_cycles and slow.ff > fast.ff
    if fast.latency_cycles == 0:
        assert fast.ff == 0


@pytest.mark.parametrize("impl, expect_dsp", [("dsp", True), ("fabric", False)])
def test_forced_multiplier_binding(impl: str, expect_dsp: bool) -> None:
    codes = np.full((8, 16), 0b1010101)  # four CSD digits: a multiplier when DSPs are allowed
    row = dense_resources(_layer(codes, input_bits=8), Design(multiplier_impl=impl), VITIS)
    assert (row.dsp > 0) == expect_dsp


def test_dsp_packing_follows_the_part_family() -> None:
    codes = np.full((4, 4), 0b1011011011)
    layer = _layer(codes, input_bits=26)
    ultrascale = dense_resources(layer, Design(dsp_a_bits=27), VITIS)
    seven = dense_resources(layer, Design(dsp_a_bits=25), VITIS)
    assert seven.dsp == 2 * ultrascale.dsp  # 26-bit operand: two DSP48E1, one DSP48E2


def test_resource_strategy_shares_multipliers_and_stores_weights() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(-2000, 2000, size=(64, 128))
    layer = _layer(codes, input_bits=16, output_bits=16)
    latency = dense_resources(layer, Design(reuse_factor=128, strategy="Latency"), VITIS)
    resource = dense_resources(layer, Design(reuse_factor=128, strategy="Resource"), VITIS)
    assert resource.multipliers == 64 and resource.bram_18k > 0 and resource.latency_cycles >= 128
    shallow = dense_resources(layer, Design(reuse_factor=8, strategy="Resource"), VITIS)
    assert shallow.bram_18k == 0 and shallow.dsp > resource.dsp  # 8-deep banks are LUT ROM
    assert latency.ii_cycles == resource.ii_cycles == 128


def test_io_stream_adds_fifos() -> None:
    codes = np.ones((16, 16), dtype=np.int64)
    parallel = dense_resources(_layer(codes), Design(), VITIS)
    stream = dense_resources(_layer(codes), Design(io_type="io_stream"), VITIS)
    assert stream.ff > parallel.ff and stream.lut > parallel.lut


def test_layers_beyond_the_unroll_limit_accumulate_in_a_chain() -> None:
    rng = np.random.default_rng(3)
    design = Design(clock_period_ns=4.0)
    tree = dense_resources(_layer(rng.integers(-20, 20, size=(16, 256))), design, VITIS)  # 4096 products
    chain = dense_resources(_layer(rng.integers(-20, 20, size=(16, 512))), design, VITIS)  # 8192: past the limit
    longer = dense_resources(_layer(rng.integers(-20, 20, size=(16, 1024))), design, VITIS)
    assert chain.latency_cycles > 4 * tree.latency_cycles  # a chain, not one more tree level
    assert 1.6 < (longer.latency_cycles + 1) / (chain.latency_cycles + 1) < 2.4  # depth ~ products per output


def test_shared_mul_operations_take_rounds_and_set_the_interval() -> None:
    codes = np.full((8, 16), 0b1010101)  # 128 four-digit constants: all ``mul`` operations
    for impl in ("dsp", "fabric"):
        full = dense_resources(_layer(codes), Design(multiplier_impl=impl), VITIS)
        shared = dense_resources(_layer(codes), Design(reuse_factor=100, multiplier_impl=impl), VITIS)
        assert shared.multipliers == 2 < full.multipliers  # ALLOCATION: ceil(128 / 100)
        assert shared.latency_cycles >= full.latency_cycles + 63  # 64 rounds on two instances
        assert shared.ii_cycles == min(100, shared.latency_cycles + 1)
    short = dense_resources(_layer(np.ones((4, 4), dtype=np.int64)), Design(reuse_factor=8), VITIS)
    assert short.ii_cycles == short.latency_cycles + 1 < 8  # done before R cycles: takes the next input


def test_registers_are_partly_reused_at_an_interval_of_two() -> None:
    rng = np.random.default_rng(4)
    codes = rng.integers(-3, 3, size=(32, 64))  # few-digit constants: nothing to share at R = 2
    one = dense_resources(_layer(codes), Design(clock_period_ns=1.0), VITIS)
    two = dense_resources(_layer(codes), Design(clock_period_ns=1.0, reuse_factor=2), VITIS)
    assert two.register_bits == one.register_bits and two.ii_cycles == 2
    assert two.ff == pytest.approx(one.ff * (1 - VITIS.register_reuse / 2), abs=1)


def test_a_combinational_design_keeps_its_interface_registers() -> None:
    from codesign.backends.fpga.resources import HANDSHAKE_BITS, interface_register_bits

    layer = _layer(np.array([[3, -5, 7]]), input_bits=16, output_bits=16, relu=False)
    row = dense_resources(layer, Design(clock_period_ns=50.0), VITIS)
    assert row.latency_cycles == 0 and row.ff == 0  # no pipeline register in the datapath
    assert interface_register_bits(layer) == 3 * 16 + HANDSHAKE_BITS  # the input vector once, plus handshake


def test_resource_strategy_pays_operand_and_accumulator_multiplexers() -> None:
    rng = np.random.default_rng(5)
    layer = _layer(rng.integers(-20, 20, size=(64, 16)), input_bits=16)  # n_in = 16
    design = Design(reuse_factor=64, strategy="Resource", multiplier_impl="fabric")
    row = dense_resources(layer, design, VITIS)
    block = 16 * 64 // 64
    # R > n_in: a 16:1 operand multiplexer per multiplier (5 LUT6 per bit) and a 16:1 one per accumulator
    muxes = block * 16 * 5 + 64 * layer.accum_bits * 5
    without = (VITIS.lut_per_adder_bit * row.adder_bits + VITIS.lut_per_activation_bit * row.activation_bits
               + VITIS.lut_per_layer)
    rom = block * layer.weight_bits  # 64-deep weight banks: one LUT6 per bit
    assert row.lut == round(without + rom + muxes)
    small = dense_resources(layer, Design(reuse_factor=4, strategy="Resource", multiplier_impl="fabric"), VITIS)
    block = 16 * 64 // 4  # R <= n_in: 4:1 operand multiplexers (one LUT6 per bit), static accumulator indices
    without = (VITIS.lut_per_adder_bit * small.adder_bits + VITIS.lut_per_activation_bit * small.activation_bits
               + VITIS.lut_per_layer)
    assert small.lut == round(without + block * layer.weight_bits + block * 16 * 1)
