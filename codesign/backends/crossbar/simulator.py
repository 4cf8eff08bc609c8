"""Batched Monte-Carlo simulation of a mapped graph on many chip instances at once.

Every chip instance is programmed from its own seeded streams (stuck cells, programming noise,
variability, drift, or the switching distribution of a fixed-random layer), then all inputs
are run through it in blocks: per input cycle, weight slice and row tile a column sum, read
noise, the ADC, digital shift-and-add, and the layer's requantisation.  The first layer's
input is the same for every instance, so it is one wide matrix product over all instances
of a chunk.  With every non-ideality off and lossless converters the logits equal the integer
reference of ``codesign.ir`` bit for bit (products in float32 only where sums stay below 2**24).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from codesign.cards import Card, load_card
from codesign.errors import DataError, ParameterError
from codesign.ir.graph import LayerGraph, accumulator_bound
from codesign.ir.reference import predictions_of, prepare_inputs
from codesign.noise.models import NoiseModel, named_model
from codesign.noise.perturb import instance_generators
from codesign.quant.fixed_random import SwitchingDistribution

from . import devices
from .converters import AdcModel, adc_for, input_digits
from .mapping import CrossbarMapping, LayerMapping, map_graph, stored_levels
from .readnoise import BLOCK, SOURCES, ReadNoiseSource
from .requant import folded_requantizer, quantize, requantize

FIXED_RANDOM_MODES = ("resample", "stored")
EXACT_FLOAT32 = 2**24


@dataclass(frozen=True)
class SimulationSettings:
    """Everything besides the card and the seed that changes a simulation's result."""

    noise: NoiseModel = field(default_factory=NoiseModel)
    ideal_converters: bool = False
    adc_full_scale: float = 1.0  # fraction of the worst-case column sum the ADC range covers
    ir_drop: bool = False
    fixed_random: str = "resample"
    read_noise_source: str = "table"
    fuse: bool | None = None  # None: one product per layer whenever per-read effects cannot matter

    def __post_init__(self) -> None:
        if not 0 < self.adc_full_scale <= 1 or not math.isfinite(self.adc_full_scale):
            raise ParameterError(f"adc_full_scale = {self.adc_full_scale} must be in (0, 1]",
                                 hint="1.0 covers the worst-case column sum")
        if self.fixed_random not in FIXED_RANDOM_MODES:
            raise ParameterError(f"fixed_random = {self.fixed_random!r} is unknown",
                                 hint=f"use one of {', '.join(FIXED_RANDOM_MODES)}")
        if self.read_noise_source not in SOURCES:
            raise ParameterError(f"read_noise_source = {self.read_noise_source!r} is unknown",
                                 hint=f"use one of {', '.join(SOURCES)}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["noise"] = self.noise.to_dict()
        return data


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Outputs of ``instances`` chips on N inputs, with accuracy statistics when labels were given."""

    predictions: np.ndarray  # (instances, N) int64
    logits: np.ndarray | None  # (instances, N, classes), None when not kept
    accuracies: tuple[float, ...] | None
    seed: int
    settings: SimulationSettings
    exact: bool  # True when every chip computes exactly the integer reference (no inserted input quantiser)
    seconds: float

    @property
    def instances(self) -> int:
        return int(self.predictions.shape[0])

    @property
    def samples(self) -> int:
        return int(self.predictions.shape[1])

    @property
    def inferences_per_s(self) -> float:
        return self.instances * self.samples / self.seconds if self.seconds > 0 else float("inf")

    def _need_labels(self) -> tuple[float, ...]:
        if self.accuracies is None:
            raise DataError("accuracy needs labels", hint="pass y to simulate()")
        return self.accuracies

    @property
    def mean(self) -> float:
        return float(np.mean(self._need_labels()))

    @property
    def std(self) -> float:
        return float(np.std(self._need_labels()))

    @property
    def worst(self) -> float:
        return float(np.min(self._need_labels()))

    def to_dict(self) -> dict:
        data = {"instances": self.instances, "samples": self.samples, "seed": self.seed, "exact": self.exact,
                "settings": self.settings.to_dict(), "seconds": self.seconds,
                "inferences_per_s": self.inferences_per_s}
        if self.accuracies is not None:
            data.update(accuracies=list(self.accuracies), mean=self.mean, std=self.std, worst=self.worst)
        return data


@dataclass(eq=False)
class _LayerPlan:
    """Per-layer constants of a simulation, computed once."""

    index: int
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


def _noise_model(noise, card: Card) -> NoiseModel:
    if noise is None or noise in ("card", "ideal"):
        return named_model(noise or "card", card=card)
    if isinstance(noise, NoiseModel):
        return noise
    if isinstance(noise, dict):
        return NoiseModel.from_dict(noise)
    raise ParameterError(f"noise = {noise!r} is not a noise model", hint="use 'card', 'ideal', a NoiseModel or a dict")


def _switching(graph: LayerGraph) -> SwitchingDistribution:
    text = graph.metadata.get("codesign.fixed_random_distribution")
    if not text:
        return SwitchingDistribution()
    import json

    return SwitchingDistribution(**json.loads(text))


def _plan(graph: LayerGraph, mapping: CrossbarMapping, card: Card, settings: SimulationSettings) -> list[_LayerPlan]:
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
        plans.append(_LayerPlan(
            index=index, mapping=lmap, levels=torch.as_tensor(stored_levels(layer.weight, lmap)),
            codes=torch.as_tensor(layer.weight, dtype=torch.int64), adcs=adcs, r=r,
            ir_drop=devices.ir_drop_factors(lmap, g_max, wire) if wire else None, resample=resample,
            scale_out=scale_out, read_sigma=settings.noise.read.sigma * lmap.level_max / lmap.level_gain,
            fused=fused))
    return plans


def _program_chunk(plan: _LayerPlan, layer, settings: SimulationSettings, seed: int, chunk: range,
                   switching: SwitchingDistribution, dtype: torch.dtype) -> torch.Tensor:
    """Effective per-slice weights (code units of one slice) of each instance: (K, slices, out, in)."""
    lmap = plan.mapping
    noise = settings.noise
    per_instance = []
    for k in chunk:
        if noise.static_is_ideal and not plan.resample and plan.ir_drop is None:
            cells = plan.levels.to(dtype)
        else:
            gens = instance_generators(seed, k, plan.index)
            if plan.resample:
                cells = devices.sample_switching(lmap, switching, noise, gens, r=plan.r, ir_drop=plan.ir_drop,
                                                 dtype=torch.float64)
            else:
                spec = layer.weight_quant
                cells = devices.program(plan.levels, plan.codes, lmap, noise, gens, r=plan.r, weight_bits=spec.bits,
                                        weight_signed=spec.signed, weight_bipolar=spec.bipolar,
                                        ir_drop=plan.ir_drop, dtype=torch.float64)
        per_instance.append(cells[0] - cells[1] if lmap.scheme == "differential" else cells[0])
    weights = torch.stack(per_instance)
    if lmap.level_gain > 1:
        weights = weights / lmap.level_gain  # level units -> weight-code units
    return weights.to(dtype)


def _layout(weight: torch.Tensor, shared: bool) -> torch.Tensor:
    """(K, out, in) -> (in, K*out) for an input shared by all instances, else (K, in, out)."""
    if shared:
        k, out, inputs = weight.shape
        return weight.permute(2, 0, 1).reshape(inputs, k * out).contiguous()
    return weight.transpose(1, 2).contiguous()


def _product(h: torch.Tensor, weight: torch.Tensor, shared: bool, instances: int) -> torch.Tensor:
    """Column sums of shared (B, in) inputs as (B, K, out), of per-instance (K, B, in) as (K, B, out)."""
    if shared:
        return (h @ weight).view(h.shape[0], instances, -1)
    return torch.bmm(h, weight)


@dataclass(eq=False)
class _ChunkLayer:
    plan: _LayerPlan
    tiles: list[list[torch.Tensor]]  # [slice][row tile] laid-out weights / ADC step (general path)
    combined: torch.Tensor | None  # laid-out combined weights (fused path)
    shared: bool


def _prepare_chunk(plans: list[_LayerPlan], layers, settings, seed, chunk, switching, dtype) -> list[_ChunkLayer]:
    prepared = []
    for plan, layer in zip(plans, layers, strict=True):
        shared = plan.index == 0
        slices = _program_chunk(plan, layer, settings, seed, chunk, switching, torch.float64)  # (K, S, out, in)
        lmap = plan.mapping
        if plan.fused:
            combined = sum(slices[:, j] * float(2**shift) for j, shift in enumerate(lmap.slice_shifts()))
            if lmap.offset:
                combined = combined - float(lmap.offset)
            prepared.append(_ChunkLayer(plan, [], _layout(combined, shared).to(dtype), shared))
        else:
            tiles = [[_layout(slices[:, j, :, r0:r1] / adc.step, shared).to(dtype)
                      for (r0, r1), adc in zip(lmap.row_ranges(), plan.adcs, strict=True)]
                     for j in range(lmap.slices)]
            prepared.append(_ChunkLayer(plan, tiles, None, shared))
    return prepared


def _run_layer(step: _ChunkLayer, h: torch.Tensor, chunk: range, block: int, reads: ReadNoiseSource) -> torch.Tensor:
    """Accumulators of one layer for a block: (B, K, out) for the first layer, else (K, B, out)."""
    plan = step.plan
    lmap = plan.mapping
    instances = len(chunk)
    cells_per_column = 2 if lmap.scheme == "differential" else 1
    if step.combined is not None:
        acc = _product(h, step.combined, step.shared, instances)
        if plan.read_sigma:
            digits = input_digits(h, lmap)
            energy = sum((d * d).sum(-1) * float(4 ** (lmap.dac_bits * i)) for i, d in enumerate(digits))
            weight_factor = cells_per_column * sum(4.0**shift for shift in lmap.slice_shifts())
            _add_noise(acc, energy, plan.read_sigma * math.sqrt(weight_factor), step, chunk, block, 0, reads)
    else:
        acc = None
        digits = input_digits(h, lmap)
        for cycle, digit in enumerate(digits):
            for t, ((r0, r1), adc) in enumerate(zip(lmap.row_ranges(), plan.adcs, strict=True)):
                x_tile = digit[..., r0:r1]
                energy = (x_tile * x_tile).sum(-1) if plan.read_sigma else None
                for j, shift in enumerate(lmap.slice_shifts()):
                    sums = _product(x_tile, step.tiles[j][t], step.shared, instances)
                    if energy is not None:
                        scale = plan.read_sigma * math.sqrt(cells_per_column) / adc.step
                        read = (cycle * lmap.slices + j) * lmap.row_tiles + t
                        _add_noise(sums, energy, scale, step, chunk, block, read, reads)
                    sums = adc.digitize_(sums)
                    weight = float(2 ** (lmap.dac_bits * cycle + shift)) * adc.step
                    if acc is None:
                        acc = sums if weight == 1.0 else sums.mul_(weight)
                    else:
                        acc.add_(sums, alpha=weight)
        if lmap.offset:
            input_sum = h.sum(-1)
            acc = acc - float(lmap.offset) * (input_sum[:, None, None] if step.shared else input_sum.unsqueeze(-1))
    if plan.scale_out is not None:
        acc = acc * plan.scale_out.to(acc.dtype)
    return acc


def _add_noise(sums: torch.Tensor, energy: torch.Tensor, scale: float, step: _ChunkLayer, chunk: range, block: int,
               read: int, reads: ReadNoiseSource) -> None:
    """Read noise of one read, in place: std = scale * sqrt(sum of squared drives) per (instance, sample)."""
    std = torch.sqrt(energy).mul_(scale).unsqueeze(-1)  # (B, 1) shared input, (K, B, 1) per instance
    batch = sums.shape[0] if step.shared else sums.shape[1]
    for start, noise in reads.windows(chunk, step.plan.index, block, read, (batch, sums.shape[-1])):
        run = noise.shape[0]
        if step.shared:  # sums (B, K, out)
            sums[:, start:start + run].addcmul_(noise.transpose(0, 1), std.unsqueeze(1))
        else:
            sums[start:start + run].addcmul_(noise, std[start:start + run])


def simulate(graph: LayerGraph, card: Card, x: np.ndarray, y: np.ndarray | None = None, *, instances: int = 20,
             seed: int = 0, noise: NoiseModel | dict | str | None = "card", ideal_converters: bool = False,
             adc_full_scale: float = 1.0, ir_drop: bool | None = None, fixed_random: str = "resample",
             read_noise_source: str = "table", input_bits: int | None = None, input_full_scale: float | None = None,
             fuse: bool | None = None, instance_chunk: int = 16, keep_logits: bool = True,
             progress: bool = False) -> SimulationResult:
    """Run ``instances`` chip instances of ``graph`` on ``card`` over inputs ``x``.

    ``noise``: 'card' (the card's [noise] section), 'ideal', a NoiseModel or its dict.
    ``card``: a Card or a card name/path.  ``ir_drop``: None follows the card (on when it gives
    a wire resistance).  ``fuse=False`` simulates every read separately even where one combined
    product gives the same result (a check of the per-read path).
    A float graph input is quantised by the DAC to ``input_bits`` over ``input_full_scale``
    (default: the largest |x| after the graph's pre-processing).
    """
    from tqdm.auto import tqdm

    if not isinstance(instances, int) or instances < 1:
        raise ParameterError(f"instances = {instances!r} must be a positive integer", hint="use e.g. 100")
    if instance_chunk < 1:
        raise ParameterError(f"instance_chunk = {instance_chunk} must be >= 1", hint="use e.g. 16")
    if not isinstance(card, Card):
        card = load_card(card)
    model = _noise_model(noise, card)
    wants_ir = card.array.wire_resistance is not None and card.array.wire_resistance.value > 0
    settings = SimulationSettings(noise=model, ideal_converters=ideal_converters, adc_full_scale=adc_full_scale,
                                  ir_drop=wants_ir if ir_drop is None else bool(ir_drop) and wants_ir,
                                  fixed_random="stored" if model.is_ideal else fixed_random,
                                  read_noise_source=read_noise_source, fuse=fuse)
    values = prepare_inputs(graph, x)
    if graph.input_quant is None and input_full_scale is None:
        input_full_scale = float(np.max(np.abs(values))) or 1.0
    mapping = map_graph(graph, card, input_bits=input_bits, input_full_scale=input_full_scale or 1.0,
                        input_signed=bool(np.any(values < 0)),
                        switched_fixed_random=settings.fixed_random == "resample")
    layers = mapping.graph_layers
    plans = _plan(graph, mapping, card, settings)
    exact = not mapping.inserted_input_quant and model.is_ideal and all(
        p.fused or all(a.lossless for a in p.adcs) for p in plans) and not settings.ir_drop and not any(p.resample for p in plans)
    dtype = torch.float64 if exact else torch.float32
    product_dtype = dtype
    if exact and all(accumulator_bound(layer.weight, layer.input_quant) < EXACT_FLOAT32 for layer in layers):
        product_dtype = torch.float32
    codes = quantize(layers[0].input_quant, torch.as_tensor(values)).to(product_dtype)  # as QuantSpec.quantize
    switching = _switching(graph)
    folded = [folded_requantizer(layer, product_dtype) for layer in layers]
    reads = ReadNoiseSource(seed, read_noise_source, product_dtype)
    samples = codes.shape[0]
    classes = layers[-1].out_features
    logits = np.empty((instances, samples, classes), dtype=np.float64 if exact else np.float32) if keep_logits else None
    predictions = np.empty((instances, samples), dtype=np.int64)
    blocks = range(0, samples, BLOCK)
    start = time.perf_counter()
    with tqdm(total=instances * samples, desc=f"{graph.name} on {card.name}", unit="inf", unit_scale=True,
              disable=not progress, leave=False) as bar:
        for first in range(0, instances, instance_chunk):
            chunk = range(first, min(first + instance_chunk, instances))
            prepared = _prepare_chunk(plans, layers, settings, seed, chunk, switching, product_dtype)
            for block_index, b0 in enumerate(blocks):
                h = codes[b0:b0 + BLOCK]
                value = None
                for position, (step, layer) in enumerate(zip(prepared, layers, strict=True)):
                    acc = _run_layer(step, h, chunk, block_index, reads)
                    last = position == len(layers) - 1
                    fast = None if (exact or last) else folded[position]
                    if fast is not None:
                        out_codes = fast(acc)
                    else:
                        value, out_codes = requantize(layer, acc.to(dtype))
                    h = value if out_codes is None else out_codes
                    h = h.to(product_dtype)
                    if step.shared:  # (B, K, features) -> (K, B, features) for the per-instance layers
                        h = h.transpose(0, 1)
                        value = None if value is None else value.transpose(0, 1)
                    h = h.contiguous()
                block_logits = value.numpy()
                if logits is not None:
                    logits[chunk.start:chunk.stop, b0:b0 + BLOCK] = block_logits
                predictions[chunk.start:chunk.stop, b0:b0 + BLOCK] = predictions_of(block_logits)
                bar.update(len(chunk) * min(BLOCK, samples - b0))
    seconds = time.perf_counter() - start
    accuracies = None
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != samples:
            raise DataError(f"{len(y)} labels for {samples} inputs", hint="pass one label per input row")
        accuracies = tuple(float(a) for a in (predictions == y[None, :]).mean(axis=1))
    return SimulationResult(predictions=predictions, logits=logits, accuracies=accuracies, seed=seed,
                            settings=settings, exact=exact, seconds=seconds)
