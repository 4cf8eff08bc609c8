"""The crossbar chip model of the Monte-Carlo engine: programming a chunk of instances, then
running blocks of inputs through all of them.

Exact products.  A chunk's programmed conductances are real numbers; each instance k stores
them on a fixed-point grid of 2**-f_k code units, f_k as fine as keeps every column sum exact
below the mantissa (float32: rows * |largest input digit| * max|w_k| * 2**f_k < 2**23).  Products
and all partial sums are then exact integers in any order, so a column sum does not depend on the
BLAS kernel, the thread count, the device or which instances share a matrix product.  The grid
depends on nothing but the weights, so every kernel gives the same bits: where the CPU has fast
int8 GEMMs (``codesign.backends.crossbar.int8``) and every drive fits int8, the shared first
layer's grid values are split into one or two int8 planes (grid = 128 * high + low) and
multiplied into exact int32 sums; elsewhere the same grid is a float32 operand.  On the benchmark
card the grid is 2**-4 to 2**-8 code units, against a per-weight programming-noise sigma of 0.6
code units (its rounding adds at most 0.1 % to that variance).  Noise-free weights are integers
and stay exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.profiler import record_function

from codesign.cards import Card
from codesign.ir.graph import DenseLayer
from codesign.noise.perturb import instance_generators
from codesign.noise.philox import standard_normals, stream_key

from . import devices
from .converters import AdcModel, adc_for, digit_bound, input_digits
from .mapping import CrossbarMapping, LayerMapping, stored_levels
from .readnoise import ReadNoise
from .requant import folded_requantizer, requantize

MANTISSA = {torch.float32: 24, torch.float64: 53}
MIN_FRACTION_BITS = 4  # float32 products when noise-free weights leave at least a 1/16-code grid
MAX_FRACTION_BITS = 30
INT8_PLANES_MAX = 128 * 127 - 64  # |grid| that two int8 planes hold with |high|, |low| <= 127


@dataclass(eq=False)
class LayerPlan:
    """Per-layer constants of a simulation, computed once."""

    index: int
    layer: DenseLayer
    mapping: LayerMapping
    levels: torch.Tensor  # (polarities, slices, out, in) int64
    codes: torch.Tensor  # (out, in) int64 weight codes
    adcs: list[AdcModel]  # one per row tile
    r: float
    ir_drop: torch.Tensor | None
    resample: bool  # fixed-random layer drawn from the switching distribution
    scale_out: torch.Tensor | None  # per-output factor from device units to weight codes (resampled layers)
    read_sigma: float  # per cell, in weight-code units
    fused: bool  # one product with combined weights (no per-read nonlinearity to model)
    dtype: torch.dtype  # of the products and the accumulator
    x_bound: int  # largest |input| of one product (a DAC digit, or the whole code when fused)
    rows: int  # most rows of one product
    int8: bool = False  # shared products as int8 weight planes where the grid fits (exact int32 sums)


def _input_bound(mapping: LayerMapping) -> int:
    return 2 ** (mapping.input_bits - 1) if mapping.input_signed else 2**mapping.input_bits - 1


def plan_layers(mapping: CrossbarMapping, card: Card, settings, *, int8_products: bool = False) -> list[LayerPlan]:
    """Per-layer constants; ``int8_products``: the first (shared) layer's products as int8 GEMMs
    where every drive fits int8 (CPU)."""
    array = card.array
    g_min, g_max = array.g_min.value, array.g_max.value
    wire = array.wire_resistance.value if (settings.ir_drop and array.wire_resistance is not None) else 0.0
    plans = []
    for index, (layer, lmap) in enumerate(zip(mapping.graph_layers, mapping.layers, strict=True)):
        r = devices.level_offset(g_min, g_max, lmap.level_max)
        resample = lmap.fixed_random
        adcs = [adc_for(lmap, r1 - r0, int(card.adc.bits.value), full_scale_fraction=settings.adc_full_scale,
                        ideal=settings.ideal_converters) for r0, r1 in lmap.row_ranges()]
        static_ideal = settings.noise.static_is_ideal and not resample and not wire
        exact_sums = static_ideal and settings.noise.read.sigma == 0
        fused = settings.ideal_converters or (exact_sums and all(a.lossless for a in adcs))
        if settings.fuse is not None:
            fused = settings.fuse and fused
        scale_out = None
        if resample:  # the exported weights were sample / sqrt(in) quantised with the weight scale
            scale = torch.as_tensor(layer.weight_scale, dtype=torch.float64)
            scale_out = 1.0 / (math.sqrt(layer.in_features) * scale * (r + lmap.level_max))
        if fused:
            x_bound, rows = _input_bound(lmap), lmap.in_features
            w_bound = sum(lmap.cell_code_max * 2**s for s in lmap.slice_shifts()) + lmap.offset
        else:
            x_bound, rows = digit_bound(lmap), max(r1 - r0 for r0, r1 in lmap.row_ranges())
            w_bound = lmap.cell_code_max
        noise_free = rows * x_bound * w_bound
        dtype = torch.float32 if noise_free * 2**MIN_FRACTION_BITS < 2**23 else torch.float64
        plans.append(LayerPlan(
            index=index, layer=layer, mapping=lmap, levels=torch.as_tensor(stored_levels(layer.weight, lmap)),
            codes=torch.as_tensor(layer.weight, dtype=torch.int64), adcs=adcs, r=r,
            ir_drop=devices.ir_drop_factors(lmap, g_max, wire) if wire else None, resample=resample,
            scale_out=scale_out, read_sigma=settings.noise.read.sigma * lmap.level_max / lmap.level_gain,
            fused=fused, dtype=dtype, x_bound=x_bound, rows=rows,
            int8=int8_products and index == 0 and x_bound <= 127 and dtype == torch.float32))
    return plans


def _program(plan: LayerPlan, settings, seed: int, instances: range, switching) -> torch.Tensor:
    """Effective per-slice weights (code units of one slice) of each instance: (K, slices, out, in) float64."""
    lmap = plan.mapping
    noise = settings.noise
    key = stream_key(seed, "programming")
    per_instance = []
    for k in instances:
        if noise.static_is_ideal and not plan.resample and plan.ir_drop is None:
            cells = plan.levels.to(torch.float64)
        else:
            gens = instance_generators(seed, k, plan.index)
            if plan.resample:
                cells = devices.sample_switching(lmap, switching, noise, gens, r=plan.r, ir_drop=plan.ir_drop,
                                                 dtype=torch.float64)
            else:
                spec = plan.layer.weight_quant

                def programming_normals(shape, k=k):  # counter-based: cell index of (seed, instance, layer)
                    return standard_normals(math.prod(shape), k, plan.index, key).view(shape)

                cells = devices.program(plan.levels, plan.codes, lmap, noise, gens, r=plan.r, weight_bits=spec.bits,
                                        weight_signed=spec.signed, weight_bipolar=spec.bipolar,
                                        ir_drop=plan.ir_drop, dtype=torch.float64,
                                        programming_normals=programming_normals)
        per_instance.append(cells[0] - cells[1] if lmap.scheme == "differential" else cells[0])
    weights = torch.stack(per_instance)
    return weights / lmap.level_gain if lmap.level_gain > 1 else weights


def fixed_point(weights: torch.Tensor, rows: int, x_bound: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(round(w * 2**f_k), 2**-f_k) per instance k of (K, ...) weights, f_k from the exactness bound
    (float sums below the mantissa), whatever kernel computes the products."""
    largest = weights.abs().flatten(1).amax(1)
    peak = largest * float(rows * max(x_bound, 1))
    _, exponent = torch.frexp(peak)  # peak < 2**exponent, exactly
    bits = MANTISSA[dtype] - 1 - exponent
    fraction = torch.where(peak > 0, bits, torch.full_like(exponent, MAX_FRACTION_BITS))
    fraction = fraction.clamp(max=MAX_FRACTION_BITS).to(torch.float64)
    grid = torch.pow(2.0, fraction).view(-1, *([1] * (weights.dim() - 1)))
    return torch.round(weights * grid), torch.pow(2.0, -fraction)


def _layout(weight: torch.Tensor, shared: bool) -> torch.Tensor:
    """(K, out, in) -> (in, K*out) for an input shared by all instances, else (K, in, out)."""
    if shared:
        k, out, inputs = weight.shape
        return weight.permute(2, 0, 1).reshape(inputs, k * out).contiguous()
    return weight.transpose(1, 2).contiguous()


@dataclass(eq=False)
class ChunkLayer:
    plan: LayerPlan
    products: list[list[torch.Tensor]]  # [slice][row tile] laid-out grid weights; one entry when fused
    scales: list[torch.Tensor]  # per row tile: (K,) float64, 2**-f_k / ADC step (2**-f_k when fused)
    shared: bool


@dataclass(eq=False)
class Chunk:
    instances: range
    layers: list[ChunkLayer]


class CrossbarChips:
    """The chip model: ``program`` a range of instances, ``logits`` of a block of inputs."""

    block = 512

    def __init__(self, plans: list[LayerPlan], codes: torch.Tensor, settings, seed: int, switching, reads: ReadNoise,
                 exact: bool, device: torch.device) -> None:
        self.plans, self.settings, self.seed, self.switching, self.reads = plans, settings, seed, switching, reads
        self.exact, self.device = exact, device
        self.codes = codes.to(device=device, dtype=plans[0].dtype)
        self.samples = int(codes.shape[0])
        self.requant_dtype = torch.float64 if exact else torch.float32
        self.folded = [None if exact else folded_requantizer(p.layer, p.dtype) for p in plans]
        # requantisation fused with the next layer's drive energies in the compiled kernel
        self.energy_bounds: list[torch.Tensor | None] = []
        for position, plan in enumerate(plans[:-1]):
            following = plans[position + 1]
            fusable = (reads.compiled and self.folded[position] is not None and plan.dtype == torch.float32
                       and following.dtype == torch.float32 and following.mapping.input_cycles == 1
                       and device.type == "cpu")
            ranges = [(0, following.mapping.in_features)] if following.fused else following.mapping.row_ranges()
            bounds = torch.tensor([r[0] for r in ranges] + [ranges[-1][1]], dtype=torch.int64)
            self.energy_bounds.append(bounds if fusable else None)

    def program(self, instances: range) -> Chunk:
        with record_function("crossbar.program"):
            return self._program_chunk(instances)

    def _program_chunk(self, instances: range) -> Chunk:
        layers = []
        for plan in self.plans:
            shared = plan.index == 0
            slices = _program(plan, self.settings, self.seed, instances, self.switching)  # (K, S, out, in)
            lmap = plan.mapping
            if plan.fused:
                combined = sum(slices[:, j] * float(2**shift) for j, shift in enumerate(lmap.slice_shifts()))
                if lmap.offset:
                    combined = combined - float(lmap.offset)
                grid, unit = fixed_point(combined, plan.rows, plan.x_bound, plan.dtype)
                products = [[self._operand(_layout(grid, shared), plan)]]
                scales = [unit.to(self.device)]
            else:
                grid, unit = fixed_point(slices, plan.rows, plan.x_bound, plan.dtype)
                products = [[self._operand(_layout(grid[:, j, :, r0:r1], shared), plan)
                             for r0, r1 in lmap.row_ranges()] for j in range(lmap.slices)]
                scales = [(unit / adc.step).to(self.device) for adc in plan.adcs]
            layers.append(ChunkLayer(plan, products, scales, shared))
        return Chunk(instances, layers)

    def _operand(self, grid: torch.Tensor, plan: LayerPlan):
        """A laid-out grid weight as the product's operand: a float tensor, or int8 planes (one when
        |grid| <= 127, else (high, low) with grid = 128 * high + low) when the grid fits them."""
        if not plan.int8:
            return grid.to(device=self.device, dtype=plan.dtype)
        largest = float(grid.abs().max()) if grid.numel() else 0.0
        if largest > INT8_PLANES_MAX:
            return grid.to(device=self.device, dtype=plan.dtype)
        if largest <= 127:
            return (grid.to(torch.int8),)
        high = torch.round(grid / 128.0)
        return high.to(torch.int8), (grid - 128.0 * high).to(torch.int8)

    def logits(self, chunk: Chunk, start: int, stop: int) -> torch.Tensor:
        h = self.codes[start:stop]
        value = energies = None
        last = len(self.plans) - 1
        for position, step in enumerate(chunk.layers):
            acc = self._layer(step, h, chunk.instances, start, energies)
            energies = None
            layer = step.plan.layer
            fast = None if position == last else self.folded[position]
            with record_function("crossbar.requantize"):
                if fast is not None and self.energy_bounds[position] is not None:
                    h, energies = self._requantize_compiled(fast, acc, self.energy_bounds[position])
                elif fast is not None:
                    h = fast(acc)
                else:
                    value, out_codes = requantize(layer, acc.to(self.requant_dtype))
                    h = value if out_codes is None else out_codes
            if position < last:
                h = h.to(self.plans[position + 1].dtype).contiguous()
        return value

    def _requantize_compiled(self, fast, acc: torch.Tensor, bounds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-layer codes (K, B, out) and drive energies (K, B, tiles) in one compiled pass."""
        acc = acc.contiguous()
        count, batch, columns = acc.shape
        out = torch.empty_like(acc)
        tiles = len(bounds) - 1
        energies = torch.empty((count, batch, tiles), dtype=torch.float32)
        gain, offset = fast.gain.contiguous(), fast.offset.contiguous()
        self.reads.lib.cs_requant(out.data_ptr(), energies.data_ptr(), acc.data_ptr(), gain.data_ptr(),
                                  offset.data_ptr(), bounds.data_ptr(), count * batch, columns, tiles, fast.low,
                                  fast.high, fast.zero_point, torch.get_num_threads())
        return out, energies

    def _layer(self, step: ChunkLayer, h: torch.Tensor, instances: range, first_sample: int,
               energies: torch.Tensor | None) -> torch.Tensor:
        """Accumulators of one layer for a block of inputs: (K, B, out); ``energies`` (K, B, tiles):
        the drive energies of its row tiles when the previous requantisation computed them."""
        plan = step.plan
        lmap = plan.mapping
        count = len(instances)
        batch = h.shape[-2]
        acc = torch.empty((count, batch, lmap.out_features), dtype=plan.dtype, device=h.device)
        cells_per_column = 2 if lmap.scheme == "differential" else 1
        common = {"layer": plan.index, "instances": instances, "first_sample": first_sample, "shared": step.shared}
        digits = input_digits(h, lmap)
        if plan.fused:
            std = None
            if plan.read_sigma:
                energy = energies[..., 0] if energies is not None else \
                    sum(_energy(d) * float(4 ** (lmap.dac_bits * i)) for i, d in enumerate(digits))
                weight_factor = cells_per_column * sum(4.0**shift for shift in lmap.slice_shifts())
                std = _std(energy, plan.read_sigma * math.sqrt(weight_factor))
            sums = _product(h, step.products[0][0], step.shared, count)
            self.reads.read(acc, sums, std, step.scales[0], read=0, code_range=(0, 0), quantize=False, weight=1.0,
                            accumulate=False, **common)
        else:
            first = True
            for cycle, digit in enumerate(digits):
                for t, ((r0, r1), adc) in enumerate(zip(lmap.row_ranges(), plan.adcs, strict=True)):
                    x_tile = digit[..., r0:r1]
                    std = None
                    if plan.read_sigma:
                        energy = energies[..., t] if energies is not None else _energy(x_tile)
                        std = _std(energy, plan.read_sigma * math.sqrt(cells_per_column) / adc.step)
                    for j, shift in enumerate(lmap.slice_shifts()):
                        sums = _product(x_tile, step.products[j][t], step.shared, count)
                        self.reads.read(acc, sums, std, step.scales[t], read=(cycle * lmap.slices + j) * lmap.row_tiles + t,
                                        code_range=adc.code_range, quantize=not adc.ideal,
                                        weight=float(2 ** (lmap.dac_bits * cycle + shift)) * adc.step,
                                        accumulate=not first, **common)
                        first = False
            if lmap.offset:
                input_sum = h.sum(-1, keepdim=True)  # (B, 1) shared, else (K, B, 1)
                acc.sub_(input_sum * float(lmap.offset))
        if plan.scale_out is not None:
            acc = acc * plan.scale_out.to(device=acc.device, dtype=acc.dtype)
        return acc


def _energy(x: torch.Tensor) -> torch.Tensor:
    """Sum of squared integer drives per sample (exact: integers below the mantissa)."""
    with record_function("crossbar.noise_std"):
        return (x * x).sum(-1)


def _std(energy: torch.Tensor, scale: float) -> torch.Tensor:
    """scale * sqrt(energy), float32, through float64 so that every element rounds the same way."""
    with record_function("crossbar.noise_std"):
        return (energy.to(torch.float64).sqrt() * scale).to(torch.float32)


def _product(h: torch.Tensor, weight, shared: bool, instances: int) -> torch.Tensor:
    """Column sums of shared (B, in) inputs as (B, K, out), of per-instance (K, B, in) as (K, B, out);
    int32 sums from int8 weight planes."""
    with record_function("crossbar.matmul"):
        if isinstance(weight, tuple):
            x = h.to(torch.int8)
            sums = _int8_matmul(x, weight[0])
            if len(weight) == 2:
                sums = sums.mul_(128).add_(_int8_matmul(x, weight[1]))
            return sums.view(h.shape[0], instances, -1)
        if shared:
            return (h @ weight).view(h.shape[0], instances, -1)
        return torch.bmm(h, weight)


def _int8_matmul(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x @ w exactly in int32 (int8 GEMM; float64 where the int8 kernel rejects the shape)."""
    try:
        return torch._int_mm(x, w)
    except RuntimeError:
        return (x.to(torch.float64) @ w.to(torch.float64)).to(torch.int32)
