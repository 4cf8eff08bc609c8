"""Analytical resources and latency of an hls4ml io_parallel dense MLP, from the integer weights.

hls4ml writes weights as constants, so HLS specialises every multiplication to its weight:
a zero weight disappears, a power of two is a shift, a constant with few non-zero digits of its
canonical signed-digit (CSD) form becomes a few LUT adders, and only constants with many digits
stay multiplier operations (a DSP slice when the input is wide, LUTs otherwise).  hls4ml's
``ALLOCATION`` pragma caps the multiplier operations at ``ceil(n_in*n_out/R) - n_zeros/R`` for a
reuse factor R; Vivado HLS additionally shares multipliers over the initiation interval R.
Register stages are cut into the adder tree wherever the logic reaches a clock period, and
the registers of a cut are the partial sums alive at that depth.

The tool-dependent constants are in ``ModelConstants`` (one set per HLS tool, selected by the
hls4ml backend name); each says where it comes from.  ``benchmarks/fpga_calibration.py`` fits the
fitted ones and reports in-sample and held-out errors; docs/fpga.md lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign.ir.graph import DenseLayer


@dataclass(frozen=True)
class ModelConstants:
    """Tool-behaviour constants of one HLS tool (see docs/fpga.md, "Calibration status")."""

    tool: str
    # A constant with at least this many CSD digits stays a multiplier operation; fewer digits
    # become shift-and-add LUT logic.  Fitted (DSP error) per tool by benchmarks/fpga_calibration.py.
    mul_min_digits: int
    # Vivado HLS shares multipliers over the II = reuse factor; Vitis HLS only honours hls4ml's
    # ALLOCATION limit.  Fitted per tool (the RF=2 points of each tool decide it).
    shares_multipliers_over_ii: bool
    # LUTs per result bit of a two-input add (shift-and-add products, adder tree).  Fitted (LUT error).
    lut_per_adder_bit: float
    # LUTs per output bit of a ReLU (sign test and mux).  Fitted (LUT error).
    relu_lut_per_bit: float
    # LUTs per accumulator bit of a rounding/saturating requantisation to a narrower type.  Fitted (LUT error).
    requant_lut_per_bit: float
    # Flip-flops per register bit at a pipeline cut.  Fitted (FF error).
    ff_per_register_bit: float
    # Carry-chain add incl. routing.  Fitted (latency and FF error).
    adder_delay_ns: float
    # Cycles each layer function adds besides its pipeline cuts.  Fitted (latency error).
    layer_overhead_cycles: int
    # Cycles the top function adds (input/output registers).  Fitted (latency error).
    io_overhead_cycles: int
    # A product goes to a DSP only when its input has at least this many bits (the input is the
    # variable operand; narrower ones are cheaper in LUTs).  Fixed, not fitted: hls4ml/Vivado
    # heuristic used before calibration (narrow quantised inputs map to LUTs in every data point).
    dsp_min_input_bits: int = 11
    # DSP48 multiply without internal pipelining, 7-series/UltraScale class (UG479/UG579 switching
    # characteristics, ~2.5 ns M path).  Fixed, not fitted.
    dsp_delay_ns: float = 2.5
    # Each DSP product absorbs one add of the tree in the DSP48 post-adder / cascade (P = A*B + C,
    # UG479/UG579).  Fixed, not fitted.
    dsp_absorbed_adds: int = 1


# Constants fitted by benchmarks/fpga_calibration.py (grid search minimising mean |log(estimate /
# measured)| per metric) on all in-scope points of the tool, with trained-like random weights
# (the published trained weights are not available); held-out errors in docs/fpga.md.  The
# LUT-per-adder-bit above 1 and the zero requantisation term show that the synthetic weights have
# fewer/lighter constant products than the trained ones: the fit folds that into the adder cost.
# Vitis HLS: 8 points (hls4ml tutorial 2024 jet tagger x4, hls4ml CI Dense(64)+ReLU/identity x4
# with Vitis HLS 2023.1 and 2024.1).
VITIS = ModelConstants(tool="Vitis", mul_min_digits=3, shares_multipliers_over_ii=True, lut_per_adder_bit=2.0,
                       relu_lut_per_bit=2.5, requant_lut_per_bit=0.0, ff_per_register_bit=0.55, adder_delay_ns=0.9,
                       layer_overhead_cycles=0, io_overhead_cycles=5)
# Vivado HLS 2019.1-2020.1: 10 points (hls4ml tutorial 2021 jet tagger x4, tutorial reproductions
# with 2019.1/2019.2 x3, hawq-jet-tagging, hls4ml CI Dense(64)+ReLU/identity with Vivado HLS 2020.1 x2).
VIVADO = ModelConstants(tool="Vivado", mul_min_digits=3, shares_multipliers_over_ii=False, lut_per_adder_bit=2.5,
                        relu_lut_per_bit=1.7, requant_lut_per_bit=0.0, ff_per_register_bit=2.9, adder_delay_ns=0.75,
                        layer_overhead_cycles=0, io_overhead_cycles=6)
TOOLS = {"vitis": VITIS, "vivado": VIVADO, "vivadoaccelerator": VIVADO}
DEFAULT_BACKEND = "Vitis"  # the backend codesign's hls4ml projects use (hls_project.HlsSettings.backend)
DEFAULTS = VITIS


def constants_for(backend: str | None) -> ModelConstants:
    """The constants of an hls4ml backend name ('Vitis', 'Vivado', 'VivadoAccelerator')."""
    key = (backend or DEFAULT_BACKEND).lower()
    if key not in TOOLS:
        from codesign.errors import ParameterError

        raise ParameterError(f"no FPGA cost constants for backend {backend!r}", hint="use Vitis or Vivado")
    return TOOLS[key]


def csd_digits(values: np.ndarray) -> np.ndarray:
    """Non-zero digits of each integer's canonical signed-digit (non-adjacent) form."""
    x = np.abs(np.asarray(values, dtype=np.int64))
    digits = np.zeros_like(x)
    while np.any(x):
        odd = (x & 1) == 1
        digit = np.where(odd, 2 - (x & 3), 0)  # +1 or -1 on odd positions (NAF)
        digits += odd
        x = (x - digit) >> 1
    return digits


@dataclass(frozen=True)
class LayerResources:
    name: str
    products: int  # non-zero weights: multiplications actually built
    dsp: int
    lut: int
    ff: int
    bram_18k: int
    latency_cycles: int
    ii_cycles: int
    accumulator_bits: int
    # raw quantities the constants multiply (benchmarks/fpga_calibration.py fits on them)
    adder_bits: float = 0.0  # result bits of all two-input adds (products + tree), after sharing
    relu_bits: int = 0
    requant_bits: int = 0
    register_bits: int = 0
    pipeline_cuts: int = 0


def _cut_registers(terms: np.ndarray, levels_done: int) -> int:
    """Partial sums alive in every output's adder tree after ``levels_done`` levels."""
    return int(np.ceil(terms / 2.0**levels_done).sum())


def dense_resources(layer: DenseLayer, *, input_bits: int, output_bits: int, reuse_factor: int, strategy: str,
                    clock_period_ns: float, constants: ModelConstants = DEFAULTS, accumulator_bits: int | None = None,
                    relu: bool | None = None, requantise: bool | None = None) -> LayerResources:
    """One hls4ml Dense layer.  ``accumulator_bits`` overrides the exact accumulator width (hls4ml's
    ``accum_t``); ``relu`` / ``requantise`` default to what the layer's ops and output quantiser say."""
    c = constants
    weight = layer.weight
    weight_bits = layer.weight_quant.bits
    nonzero = weight != 0
    products = int(nonzero.sum())
    zeros = int(weight.size - products)
    acc_bits = accumulator_bits or layer.accumulator_bits or (
        weight_bits + input_bits + math.ceil(math.log2(max(2, layer.in_features))))
    product_bits = weight_bits + input_bits  # shift-and-add works at full width before the cast to accum_t
    digits = csd_digits(weight)
    mul_op = nonzero & (digits >= c.mul_min_digits)
    n_mul = int(mul_op.sum())
    wide_input = input_bits >= c.dsp_min_input_bits
    resource = strategy == "Resource" and reuse_factor > 1
    # multiplier instances hls4ml's ALLOCATION pragma allows, and what the tool shares on its own
    limit = math.ceil(weight.size / reuse_factor) - zeros // reuse_factor
    if c.shares_multipliers_over_ii or resource:
        limit = min(limit, math.ceil(n_mul / reuse_factor))
    share = min(1.0, limit / n_mul) if n_mul else 1.0
    dsp = math.ceil(n_mul * share) if wide_input else 0
    dsp_per_row = (mul_op.sum(axis=1) * share) if wide_input else np.zeros(layer.out_features)
    # shift-and-add products (and LUT multipliers of narrow inputs): one add per extra CSD digit
    lut_products = nonzero & (digits >= 2) & ~(mul_op if wide_input else np.zeros_like(mul_op))
    extra = (digits - 1) * lut_products
    product_adds = float(extra[~mul_op].sum() + extra[mul_op].sum() * share) * product_bits
    terms = nonzero.sum(axis=1)
    tree_adds = np.maximum(terms - 1 - c.dsp_absorbed_adds * dsp_per_row, 0).sum() * acc_bits
    adder_bits = product_adds + float(tree_adds)
    if resource:  # Resource strategy: weights in BRAM words, one MAC datapath time-shared R times
        adder_bits /= reuse_factor
    is_relu = ("relu" in layer.activation.lower()) if relu is None else relu
    is_requant = (layer.output_quant is not None and output_bits < acc_bits) if requantise is None else requantise
    relu_bits = layer.out_features * output_bits if is_relu else 0
    requant_bits = layer.out_features * acc_bits if is_requant else 0
    lut = round(c.lut_per_adder_bit * adder_bits + c.relu_lut_per_bit * relu_bits + c.requant_lut_per_bit * requant_bits)
    # timing: multiply stage, then a balanced adder tree, then the activation
    depth = math.ceil(math.log2(max(1, int(terms.max(initial=1)))))
    if dsp:
        mult_ns = c.dsp_delay_ns
    else:
        max_digits = int(digits[lut_products].max(initial=1))
        mult_ns = c.adder_delay_ns * math.ceil(math.log2(max_digits))
    act_ns = c.adder_delay_ns if (is_relu or is_requant) else 0.0
    path_ns = mult_ns + depth * c.adder_delay_ns + act_ns
    cuts = max(0, math.ceil(path_ns / clock_period_ns) - 1)
    register_bits = 0
    for cut in range(1, cuts + 1):
        levels = int(np.clip(math.floor((cut * clock_period_ns - mult_ns) / c.adder_delay_ns), 0, depth))
        register_bits += _cut_registers(terms, levels) * acc_bits
    ff = round(c.ff_per_register_bit * register_bits)
    shared = share < 1.0 or resource
    latency = cuts + c.layer_overhead_cycles + (reuse_factor - 1 if shared else 0)
    bram = 0
    if resource:  # weights move from fabric constants to BRAM words
        bram = math.ceil(layer.weight.size * weight_bits / reuse_factor / 36) * math.ceil(reuse_factor / 512)
    return LayerResources(name=layer.name, products=products, dsp=dsp, lut=lut, ff=ff, bram_18k=bram,
                          latency_cycles=latency, ii_cycles=reuse_factor, accumulator_bits=acc_bits,
                          adder_bits=adder_bits, relu_bits=relu_bits, requant_bits=requant_bits,
                          register_bits=register_bits, pipeline_cuts=cuts)
