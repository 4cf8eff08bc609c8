"""Analytical resources and latency of an hls4ml io_parallel dense MLP, from the integer weights.

hls4ml writes weights as constants, so HLS specialises every multiplication to its weight:
a zero weight disappears, a power of two is a shift, and a narrow product becomes a few
LUT adders (one per extra non-zero digit of the weight's canonical signed-digit form).  Only
products wider than the DSP threshold are worth a DSP slice.  The reuse factor R time-shares
the multipliers (ceil(products / R)) and multiplies the initiation interval.  The constants
of this model are in ``ModelConstants`` with where they come from; docs/fpga.md lists the
calibration against published synthesis results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign.ir.graph import DenseLayer


@dataclass(frozen=True)
class ModelConstants:
    """Tool-behaviour constants (first-order; see docs/fpga.md for their calibration)."""

    dsp_threshold_bits: int = 10  # a product goes to a DSP when both operands are wider than this (hls4ml/Vivado heuristic, vivado_objectives.py uses 9-bit weights)
    lut_per_adder_bit: float = 1.0  # a 6-LUT ripple adder costs one LUT per result bit (carry chain)
    ff_per_register_bit: float = 1.0
    adder_delay_ns: float = 0.35  # carry-chain add of ~16 bits incl. routing, 7-series/UltraScale class
    dsp_delay_ns: float = 2.5  # DSP48 multiply without internal pipelining
    layer_overhead_cycles: int = 1  # input/output registers hls4ml puts around each layer function


DEFAULTS = ModelConstants()


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


def dense_resources(layer: DenseLayer, *, input_bits: int, output_bits: int, reuse_factor: int, strategy: str,
                    clock_period_ns: float, constants: ModelConstants = DEFAULTS) -> LayerResources:
    weight = layer.weight
    weight_bits = layer.weight_quant.bits
    nonzero = weight != 0
    products = int(nonzero.sum())
    acc_bits = layer.accumulator_bits or (weight_bits + input_bits + math.ceil(math.log2(max(2, layer.in_features))))
    wide = weight_bits > constants.dsp_threshold_bits and input_bits > constants.dsp_threshold_bits
    digits = csd_digits(weight)
    shift_only = digits <= 1  # zero or a power of two: wiring, no multiplier
    multiplied = nonzero & ~shift_only
    product_bits = weight_bits + input_bits
    if wide:
        dsp = math.ceil(int(multiplied.sum()) / reuse_factor)
        multiplier_luts = 0
    else:
        dsp = 0
        multiplier_luts = int(((digits[multiplied] - 1) * product_bits).sum() * constants.lut_per_adder_bit)
        multiplier_luts = math.ceil(multiplier_luts / reuse_factor)
    terms_per_output = nonzero.sum(axis=1)
    adder_luts = int((np.maximum(terms_per_output - 1, 0) * acc_bits).sum() * constants.lut_per_adder_bit)
    adder_luts = math.ceil(adder_luts / reuse_factor)
    activation_luts = layer.out_features * output_bits  # requantise / clip / ReLU per output bit
    depth = math.ceil(math.log2(max(2, int(terms_per_output.max(initial=1)))))
    path_ns = (constants.dsp_delay_ns if wide else constants.adder_delay_ns * 2) + depth * constants.adder_delay_ns
    pipeline = max(1, math.ceil(path_ns / clock_period_ns))
    latency = pipeline + constants.layer_overhead_cycles + reuse_factor - 1
    ff = int((layer.out_features * acc_bits * pipeline + layer.in_features * input_bits) * constants.ff_per_register_bit)
    bram = 0
    if strategy == "Resource" and reuse_factor > 1:  # weights move from fabric constants to BRAM words
        bram = math.ceil(layer.weight.size * weight_bits / reuse_factor / 36) * math.ceil(reuse_factor / 512)
    return LayerResources(name=layer.name, products=products, dsp=dsp,
                          lut=multiplier_luts + adder_luts + activation_luts, ff=ff, bram_18k=bram,
                          latency_cycles=latency, ii_cycles=reuse_factor, accumulator_bits=acc_bits)
