"""Physical resource and latency model of an hls4ml io_parallel Dense layer.

What hls4ml generates, and what it costs, structure first:

* **Products.** Weights are constants, so HLS specialises each product x * w: a zero weight is
  pruned, a power of two (one CSD digit) is a wire, a weight with d CSD digits is d - 1
  shift-and-add adders of the full product width, unless HLS keeps it as a multiplier (d at
  least ``mul_min_digits``, and a DSP is allowed: a wide enough input, or ``multiplier_impl``
  forcing it). Binary and ternary weights are +-x: wires, so their layer is an adder tree
  only (a popcount tree for 1-bit inputs).
* **DSP packing.** One product takes ceil(input bits / DSP A width) x ceil(weight bits / DSP B
  width) DSP slices of the part's family (25x18 DSP48E1, 27x18 DSP48E2, from the card); each
  DSP absorbs one add of the tree in its post-adder. hls4ml's ``ALLOCATION`` limit
  ``ceil(n_in*n_out/R) - n_zeros/R`` caps the multipliers for a reuse factor R.
* **Adder trees.** Each output sums its non-zero products in a balanced binary tree whose adders
  grow one bit per level from the product width, capped at the accumulator type; an adder costs
  ``lut_per_adder_bit`` LUTs per result bit (one LUT6 + carry per bit physically). Above hls4ml's
  unroll limit (n_in * n_out > 4096) the tool keeps the source's sequential accumulation: a chain
  of adds per output, whose depth is its number of non-zero products.
* **Multiplier sharing** (Latency strategy, R > 1): the ``mul`` operations (constants HLS does not
  turn into shifts and adds, whatever their binding) share ``ALLOCATION`` instances, one round
  after another: the layer takes ceil(mul ops / instances) - 1 more cycles, and a layer whose
  schedule is shorter than R accepts its next input when done (II = min(R, latency + 1)).
* **Pipeline.** HLS cuts the path (multiply stage, tree levels of ``adder_delay_ns``, activation)
  into clock periods; the registers of a cut hold the partial sums alive at that depth, and a
  layer with latency registers its outputs: flip-flops follow the latency model.
* **Resource strategy** (R > 1): ``ceil(n_in*n_out/R)`` generic multipliers (weights are data,
  no constant specialisation) time-shared R times, weights in block RAM (or LUT ROM when the
  banks are shallow), accumulators held in registers, latency about R plus the datapath; hls4ml's
  run-time input and (for R > n_in) table-read accumulator indices put a min(R, n_in):1 multiplexer
  in front of each multiplier and a block:1 multiplexer in front of each accumulator (4:1 per LUT6).
* **io_stream**: the same datapath plus one FIFO per layer boundary (hls4ml's default depth 1:
  registers of one output vector).
* **Interface**: the top function registers its input vector once and keeps a two-bit handshake, so a
  combinational design still has flip-flops (``interface_register_bits``).
* **Per layer**: each layer is a function of its own in the reports, with fixed logic whatever its
  size (its control, block handshake and port selection): ``lut_per_layer`` LUTs.

The fitted constants are few, each with a physical meaning and plausible range; they exist once
per HLS tool and come from ``calibration.json`` (written by ``benchmarks/fpga_calibration.py``,
which also measures their held-out error).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .layerstats import DIGIT_CLASSES, LayerStats

CALIBRATION = Path(__file__).with_name("calibration.json")
MULTIPLIER_IMPLS = ("auto", "dsp", "fabric")
# With multipliers forced to DSPs (Vitis ``config_op mul -impl dsp``) HLS still builds constants of
# one or two CSD digits as shifts and adds: measured on the 36 published Vitis HLS 2021.1
# projects of benchmarks/data (DSPs = products with >= 3 digits, within 1-25 %). Not fitted.
FORCED_DSP_MIN_DIGITS = 3
DSP_ABSORBED_ADDS = 1  # each DSP product absorbs one add of its tree in the post-adder (UG479/UG579)
# hls4ml's size limit for a fully unrolled Latency-strategy layer (n_in * n_out): Vivado HLS stops unrolling
# there (XFORM 203-504); Vitis HLS 2021.1 unrolls further but keeps the source's sequential accumulation, one
# add after another per output (measured: 561x20 and 196x56 layers take 192 and 48 cycles, the depth of a
# chain of their 494 and 129 products; 64x64 and smaller layers are balanced trees). Not fitted.
UNROLL_LIMIT = 4096
# a DSP48E1 multiply without internal registers (A/B to P through the multiplier), -2 speed grade: taken as
# 3.5 ns, an approximate reading of the DSP48E1 switching characteristics in DS187 (Zynq-7000) / DS191
# (Zynq-7000 XC7Z030+); ASSUMPTION: check the table for your part and speed grade (-1 is slower). The
# UltraScale(+) DSP48E2 figure is ModelConstants.dsp_delay_ns
DSP48E1_DELAY_NS = 3.5
# The top function's block-level interface: hls4ml's io_parallel top takes its input vector through ap_vld ports,
# which HLS registers once per word, plus the ap_start / ap_done handshake. Six published combinational designs
# (one 16-bit input, no pipeline register: hls4ml CI, Vitis HLS 2023.1 / 2024.1 and Vivado HLS 2020.1) report
# 18 FFs, 16 input bits + 2. Not fitted; the form was read from those reports, so their FF errors are not
# independent of it (docs/fpga.md).
HANDSHAKE_BITS = 2


@dataclass(frozen=True)
class ModelConstants:
    """Tool-behaviour constants of one HLS tool; those named in FITTED are fitted (with their ranges)."""

    tool: str
    lut_per_adder_bit: float  # LUTs per result bit of a two-input add (physically ~1)
    lut_per_activation_bit: float  # LUTs per output bit of ReLU / rounding / saturation logic
    ff_per_register_bit: float  # flip-flops per pipeline-register bit (physically ~1)
    adder_delay_ns: float  # one adder-tree level incl. routing, as the tool's timing model sees it
    mul_min_digits: int  # CSD digits from which a constant product stays a multiplier
    # registered hand-over between layer functions: none, the layers' registers are their pipeline cuts (not
    # fitted: both tools' fits chose 0, and a fold fitting 1 on no evidence registered combinational designs)
    layer_overhead_cycles: int = 0
    io_overhead_cycles: int = 0  # the top function's input/output registers (fitted)
    seven_series_delay: float = 1.0  # 7-series / Zynq-7000 adder and DSP delay relative to UltraScale(+) (fitted)
    register_reuse: float = 0.0  # share of pipeline registers reused across the cycles of an II >= 2 (fitted)
    dsp_min_input_bits: int = 10  # narrower inputs multiply in LUTs under 'auto' (HLS binding default)
    dsp_delay_ns: float = 2.5  # DSP48 multiply without internal pipelining (UG479/UG579 M path)
    rom_max_depth: int = 64  # Resource strategy: weight banks up to a LUT6's depth stay LUT ROM
    # a layer function's fixed logic whatever its size: control, block handshake, port selection (fitted)
    lut_per_layer: float = 0.0


# physical meaning and the range the fit may choose from (benchmarks/fpga_calibration.py)
FITTED = {
    "lut_per_adder_bit": (0.5, 2.5),
    "lut_per_activation_bit": (0.0, 4.0),
    "lut_per_layer": (0.0, 500.0),
    "ff_per_register_bit": (0.5, 2.5),
    "adder_delay_ns": (0.3, 2.5),
    "mul_min_digits": (2, 7),
    "io_overhead_cycles": (0, 10),
    "seven_series_delay": (1.0, 3.0),
    "register_reuse": (0.0, 0.9),
}
DEFAULT_BACKEND = "Vitis"  # the backend codesign's hls4ml projects use


@lru_cache(maxsize=1)
def calibration() -> dict:
    """The committed calibration: constants per tool and their held-out error bands."""
    return json.loads(CALIBRATION.read_text())


def _load_constants(tool: str) -> ModelConstants:
    values = calibration()["tools"][tool]["constants"]
    names = {f.name for f in fields(ModelConstants)}
    return ModelConstants(tool=tool, **{k: v for k, v in values.items() if k in names and k != "tool"})


VITIS = _load_constants("Vitis")  # Vitis HLS (codesign's export backend)
VIVADO = _load_constants("Vivado")  # Vivado HLS 2019-2020
TOOLS = {"vitis": VITIS, "vivado": VIVADO, "vivadoaccelerator": VIVADO}


def constants_for(backend: str | None) -> ModelConstants:
    """The constants of an hls4ml backend name ('Vitis', 'Vivado', 'VivadoAccelerator')."""
    key = (backend or DEFAULT_BACKEND).lower()
    if key not in TOOLS:
        from codesign.errors import ParameterError

        raise ParameterError(f"no FPGA cost constants for backend {backend!r}", hint="use Vitis or Vivado")
    return TOOLS[key]


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
    # the physical quantities the constants multiply (the calibration fits on them)
    adder_bits: float = 0.0  # result bits of every two-input add (shift-and-add products + trees)
    activation_bits: int = 0
    register_bits: int = 0
    pipeline_cuts: int = 0
    multipliers: int = 0  # multiplier operations (DSP or LUT) after sharing


@dataclass(frozen=True)
class Design:
    """How the layer is built: hls4ml options and the part."""

    reuse_factor: int = 1
    strategy: str = "Latency"
    io_type: str = "io_parallel"
    clock_period_ns: float = 5.0  # minus the clock uncertainty
    seven_series: bool = False  # 7-series / Zynq-7000 fabric (DSP48E1), slower than UltraScale(+)
    dsp_a_bits: int = 25
    dsp_b_bits: int = 18
    multiplier_impl: str = "auto"


def _tree(leaves: np.ndarray, leaf_bits: int, cap: int) -> tuple[float, int]:
    """Result bits of all adds of balanced trees over ``leaves`` inputs each, and the depth."""
    n = np.maximum(np.asarray(leaves, dtype=np.int64), 0)
    bits, width, depth = 0.0, leaf_bits, 0
    while np.any(n > 1):
        adds = n // 2
        width += 1
        bits += float(adds.sum()) * min(cap, width)
        n = n - adds
        depth += 1
    return bits, depth


def _alive(leaves: np.ndarray, levels: int) -> int:
    """Partial sums alive in every output's tree after ``levels`` levels."""
    return int(np.ceil(np.maximum(leaves, 0) / 2.0**levels).sum())


def interface_register_bits(first: LayerStats) -> int:
    """Register bits of the top function's interface: the input vector once, plus the handshake."""
    return first.n_in * first.input_bits + HANDSHAKE_BITS


def dense_resources(layer: LayerStats, design: Design, constants: ModelConstants) -> LayerResources:
    if design.strategy == "Resource" and design.reuse_factor > 1:
        return _resource_strategy(layer, design, constants)
    return _latency_strategy(layer, design, constants)


def _timing(design: Design, c: ModelConstants) -> ModelConstants:
    """The constants with the adder delay of the design's fabric."""
    if design.seven_series:  # slower carry chains (fitted); a DSP48E1 multiply from the datasheet, not fitted
        return replace(c, adder_delay_ns=c.adder_delay_ns * c.seven_series_delay, dsp_delay_ns=DSP48E1_DELAY_NS,
                       seven_series_delay=1.0)
    return c


def _latency_strategy(layer: LayerStats, design: Design, c: ModelConstants) -> LayerResources:
    c = _timing(design, c)
    rows = layer.rows
    terms = rows.sum(axis=1)
    products = int(terms.sum())
    zeros = layer.n_in * layer.n_out - products
    r = design.reuse_factor
    weight_bits = layer.magnitude_bits + 1
    # +-x products of a +-1 (1-bit) input and +-1 weights are XNORs: one bit (a popcount tree)
    product_bits = 1 if layer.input_bits == 1 and layer.max_code <= 1 else layer.input_bits + weight_bits
    leaf_bits = min(layer.accum_bits, product_bits)
    digits = np.append(np.arange(1, DIGIT_CLASSES), DIGIT_CLASSES + 0.5)  # the last class is ">= DIGIT_CLASSES"
    # which constant products stay ``mul`` operations: the tool's decomposition, whatever their binding
    threshold = c.mul_min_digits if design.multiplier_impl == "auto" else FORCED_DSP_MIN_DIGITS
    multi = np.arange(1, DIGIT_CLASSES + 1) >= threshold
    dsp_allowed = design.multiplier_impl == "dsp" or (design.multiplier_impl == "auto"
                                                       and layer.input_bits >= c.dsp_min_input_bits)
    mul_rows = rows[:, multi].sum(axis=1)
    n_mul = int(mul_rows.sum())
    # hls4ml's ALLOCATION limit on ``mul`` operations for the reuse factor
    limit = max(1, math.ceil(layer.n_in * layer.n_out / r) - zeros // r)
    shared = r > 1 and n_mul > limit
    units = limit if shared else n_mul  # multiplier instances built
    rounds = math.ceil(n_mul / limit) if shared else 1  # multiplies scheduled one after another per unit
    per_product = math.ceil(layer.input_bits / design.dsp_a_bits) * math.ceil(weight_bits / design.dsp_b_bits)
    dsp = units * per_product if dsp_allowed else 0
    lut_rows = rows.astype(float).copy()
    mult_bits = 0.0
    if dsp_allowed:
        lut_rows[:, multi] = 0.0
    elif shared:  # shared fabric multipliers take any weight: generic array multipliers
        lut_rows[:, multi] = 0.0
        mult_bits = units * max(0, weight_bits - 1) * (layer.input_bits + 1)
    # constant products in fabric: d - 1 shift-and-add adders each, at the full product width
    product_adds = float((lut_rows * (digits - 1.0)).sum()) * product_bits + mult_bits
    absorbed = np.round(DSP_ABSORBED_ADDS * mul_rows * (units / max(n_mul, 1))).astype(np.int64) if dsp else 0
    leaves = terms - np.minimum(absorbed, np.maximum(terms - 1, 0))
    tree_bits, depth = _tree(leaves, leaf_bits, layer.accum_bits)
    # beyond hls4ml's unroll limit the tool keeps the source's sequential accumulation: a chain per output
    chain = layer.n_in * layer.n_out > UNROLL_LIMIT
    levels = int(leaves.max(initial=1)) - 1 if chain else depth
    adder_bits = product_adds + tree_bits
    if shared:  # operand multiplexers in front of each shared multiplier
        adder_bits += units * product_bits * (rounds - 1) / 2.0
    activation_bits = layer.n_out * layer.output_bits if (layer.relu or layer.requantise) else 0
    lut = c.lut_per_adder_bit * adder_bits + c.lut_per_activation_bit * activation_bits + c.lut_per_layer
    # timing: multiply stage, tree levels (or chain), activation; cut every clock period
    if dsp:
        mult_ns = c.dsp_delay_ns
    else:
        used = np.flatnonzero(rows.sum(axis=0))
        deepest = float(digits[used[-1]]) if used.size else 1.0
        mult_ns = c.adder_delay_ns * math.ceil(math.log2(deepest))
    act_ns = c.adder_delay_ns if activation_bits else 0.0
    period = design.clock_period_ns
    path_ns = mult_ns + levels * c.adder_delay_ns + act_ns
    cuts = max(0, math.ceil(path_ns / period) - 1)
    register_bits = 0
    if chain:  # each cut holds every output's running sum; each product is registered once
        register_bits += cuts * layer.n_out * layer.accum_bits + (products if cuts else 0) * leaf_bits
    else:
        for cut in range(1, cuts + 1):
            done = int(np.clip(math.floor((cut * period - mult_ns) / c.adder_delay_ns), 0, depth))
            register_bits += _alive(leaves, done) * min(layer.accum_bits, leaf_bits + done)
    latency = cuts + c.layer_overhead_cycles + rounds - 1
    if latency > 0:
        register_bits += layer.n_out * layer.output_bits  # the layer's registered outputs
    # a layer pipelined at II = R whose schedule is shorter than R accepts a new input when it is done
    ii = min(r, int(latency) + 1)
    # at II = 1 every stage holds its own copy of what it passes on; at II >= 2 the tool reuses part of
    # those registers across the II cycles (measured: the same layers at R = 2 have 58-81 % of the FFs)
    ff = c.ff_per_register_bit * register_bits * (1.0 - c.register_reuse * (1.0 - 1.0 / ii))
    if design.io_type == "io_stream":  # one depth-1 FIFO of the output vector per layer boundary
        ff += c.ff_per_register_bit * layer.n_out * layer.output_bits
        lut += c.lut_per_adder_bit * layer.n_out  # FIFO read/write control per element
    return LayerResources(name=layer.name, products=products, dsp=int(dsp), lut=round(lut), ff=round(ff), bram_18k=0,
                          latency_cycles=int(latency), ii_cycles=ii, accumulator_bits=layer.accum_bits,
                          adder_bits=adder_bits, activation_bits=activation_bits, register_bits=register_bits,
                          pipeline_cuts=cuts, multipliers=units)


def _mux_luts(ways: int) -> int:
    """LUT6s per bit of a ``ways``:1 multiplexer (a tree of 4:1 multiplexers)."""
    return math.ceil((ways - 1) / 3) if ways > 1 else 0


def _resource_strategy(layer: LayerStats, design: Design, c: ModelConstants) -> LayerResources:
    """hls4ml ``dense_resource``: block = ceil(n_in*n_out/R) generic multipliers time-shared R times."""
    c = _timing(design, c)
    r = design.reuse_factor
    block = math.ceil(layer.n_in * layer.n_out / r)
    weight_bits = layer.weight_bits
    product_bits = layer.input_bits + weight_bits
    wide = layer.input_bits >= c.dsp_min_input_bits and weight_bits >= c.dsp_min_input_bits // 2
    if design.multiplier_impl == "dsp":
        wide = True
    elif design.multiplier_impl == "fabric":
        wide = False
    per_product = math.ceil(layer.input_bits / design.dsp_a_bits) * math.ceil(weight_bits / design.dsp_b_bits)
    dsp = block * per_product if wide else 0
    # a LUT multiplier of generic operands: (weight bits - 1) adds of the input width
    mult_bits = 0.0 if wide else block * max(0, weight_bits - 1) * (layer.input_bits + 1)
    accumulate_bits = block * layer.accum_bits  # each product added into its output's accumulator
    adder_bits = mult_bits + accumulate_bits
    # weights: R words of block * weight bits; shallow banks are LUT ROM, deep ones block RAM
    if r <= c.rom_max_depth:
        rom_luts = block * weight_bits * math.ceil(r / 64)
        bram = 0
    else:
        rom_luts = 0
        bram = math.ceil(block * weight_bits / 36) * math.ceil(r / 512)
    # hls4ml walks the weights with running indices that depend on the pipelined loop's counter: each multiplier
    # reads data[ir + offset], one of min(R, n_in) input words (a multiplexer of that many ways), and when R > n_in
    # it adds into acc[outidx[ir] + offset], an index read from a table, which HLS cannot bound: every accumulator
    # selects among the block's products (a block:1 multiplexer; for R <= n_in out_index is static). A LUT6 is a
    # 4:1 multiplexer per bit. Not fitted.
    mux_luts = block * layer.input_bits * _mux_luts(min(r, layer.n_in))
    if r > layer.n_in:
        mux_luts += layer.n_out * layer.accum_bits * _mux_luts(block)
    activation_bits = layer.n_out * layer.output_bits if (layer.relu or layer.requantise) else 0
    lut = (c.lut_per_adder_bit * adder_bits + rom_luts + mux_luts + c.lut_per_activation_bit * activation_bits
           + c.lut_per_layer)
    mult_ns = c.dsp_delay_ns if wide else c.adder_delay_ns * math.ceil(math.log2(max(2, weight_bits)))
    stages = max(1, math.ceil((mult_ns + c.adder_delay_ns) / design.clock_period_ns))
    register_bits = layer.n_out * layer.accum_bits + block * (product_bits + stages * layer.accum_bits)
    register_bits += layer.n_out * layer.output_bits
    latency = r + stages + c.layer_overhead_cycles
    ff = c.ff_per_register_bit * register_bits
    return LayerResources(name=layer.name, products=layer.n_in * layer.n_out, dsp=int(dsp), lut=round(lut),
                          ff=round(ff), bram_18k=int(bram), latency_cycles=int(latency), ii_cycles=r,
                          accumulator_bits=layer.accum_bits, adder_bits=adder_bits, activation_bits=activation_bits,
                          register_bits=register_bits, pipeline_cuts=stages, multipliers=block)
