"""Batched Monte-Carlo simulation of a mapped graph on many chip instances at once.

Every chip instance is programmed from its own seeded streams (stuck cells, programming noise,
variability, drift, or the switching distribution of a fixed-random layer), then all inputs
are run through it in blocks: per input cycle, weight slice and row tile a column sum, fresh
read noise, the ADC, digital shift-and-add, and the layer's requantisation.  The first layer's
input is the same for every instance, so it is one wide matrix product over all instances of a
chunk.  With every non-ideality off and lossless converters the logits equal the integer
reference of ``codesign.ir`` bit for bit.  The Monte-Carlo loop and the statistics are those
of ``codesign.noise.montecarlo`` (one engine for every chip model).

Distribution API
----------------
``simulate_range(graph, card, x, y, instances=range(a, b), seed=s, ...)`` computes chip
instances a..b-1 only; the result of instance k depends on (seed, k) alone, bit for bit:
programming draws are keyed by (seed, k, layer), read noise by (seed, k, layer, read, sample,
column), and matrix products are exact (chips.py), so neither the split, nor the chunk size,
nor the thread count, nor the BLAS kernel changes a single bit.  Partial results combine with
``codesign.noise.montecarlo.merge(parts)``; ``simulate(..., instances=n)`` is
``simulate_range(..., instances=range(n))``.  (Transcendental activations such as sigmoid are
evaluated by torch element-wise kernels whose last bit may depend on the tensor's size.)
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from codesign.cards import Card, load_card
from codesign.errors import ParameterError
from codesign.ir.graph import LayerGraph
from codesign.ir.reference import prepare_inputs
from codesign.noise.models import NoiseModel, named_model
from codesign.noise.montecarlo import MonteCarloResult, check_instances, run_range
from codesign.quant.fixed_random import SwitchingDistribution

from .chips import CrossbarChips, plan_layers
from .int8 import fast_int8_matmul
from .mapping import map_graph
from .readnoise import FRESH, IMPLEMENTATIONS, SOURCES, ReadNoise
from .requant import quantize

FIXED_RANDOM_MODES = ("resample", "stored")
SimulationResult = MonteCarloResult  # the crossbar's results are the engine's


@dataclass(frozen=True)
class SimulationSettings:
    """Everything besides the card and the seed that changes a simulation's result."""

    noise: NoiseModel = field(default_factory=NoiseModel)
    ideal_converters: bool = False
    adc_full_scale: float = 1.0  # fraction of the worst-case column sum the ADC range covers
    ir_drop: bool = False
    fixed_random: str = "resample"
    read_noise_source: str = "philox"
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

    @property
    def fresh_read_noise(self) -> bool:
        return FRESH[self.read_noise_source]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["noise"] = self.noise.to_dict()
        data["fresh_read_noise"] = self.fresh_read_noise
        return data


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
    return SwitchingDistribution(**json.loads(text)) if text else SwitchingDistribution()


@dataclass(eq=False)
class PreparedSimulation:
    """What a simulation computes before its first chip instance (mapping, layer plans, the
    quantised inputs): it depends on the graph, card, inputs, seed and options, never on the
    instance range, so one object runs any number of ranges (``run``)."""

    chips: CrossbarChips
    settings: SimulationSettings
    exact: bool
    description: str
    labels: np.ndarray | None
    instance_chunk: int
    keep_logits: bool

    def run(self, instances: range, *, progress: bool = False) -> MonteCarloResult:
        """Chip instances ``instances``: the same bits as ``simulate_range`` with these arguments."""
        return run_range(self.chips, instances, seed=self.chips.seed, labels=self.labels, chunk=self.instance_chunk,
                         keep_logits=self.keep_logits, progress=progress, description=self.description,
                         settings=self.settings, exact=self.exact)


def prepare(graph: LayerGraph, card: Card | str, x: np.ndarray, y: np.ndarray | None = None, *, seed: int = 0,
            noise: NoiseModel | dict | str | None = "card", ideal_converters: bool = False, adc_full_scale: float = 1.0,
            ir_drop: bool | None = None, fixed_random: str = "resample", read_noise_source: str = "philox",
            input_bits: int | None = None, input_full_scale: float | None = None, fuse: bool | None = None,
            instance_chunk: int = 16, keep_logits: bool = True, device: str | torch.device | None = None,
            implementation: str = "auto") -> PreparedSimulation:
    """The instance-independent part of ``simulate_range`` (see ``simulate`` for the options)."""
    if instance_chunk < 1:
        raise ParameterError(f"instance_chunk = {instance_chunk} must be >= 1", hint="use e.g. 16")
    if implementation not in IMPLEMENTATIONS:
        raise ParameterError(f"implementation = {implementation!r} is unknown",
                             hint=f"use one of {', '.join(IMPLEMENTATIONS)}")
    if not isinstance(card, Card):
        card = load_card(card)
    try:
        device = torch.device(device or "cpu")
    except RuntimeError as exc:
        raise ParameterError(f"device = {device!r} is not a torch device ({exc})", hint="use e.g. 'cpu' or 'cuda'") from None
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
    plans = plan_layers(mapping, card, settings, int8_products=device.type == "cpu" and fast_int8_matmul())
    exact = not mapping.inserted_input_quant and model.is_ideal and all(
        p.fused or all(a.lossless for a in p.adcs) for p in plans) and not settings.ir_drop and not any(p.resample for p in plans)
    codes = quantize(mapping.graph_layers[0].input_quant, torch.as_tensor(values))  # float64 codes, as QuantSpec.quantize
    reads = ReadNoise(seed, read_noise_source, implementation, device)
    chips = CrossbarChips(plans, codes, settings, seed, _switching(graph), reads, exact, device)
    return PreparedSimulation(chips, settings, exact, f"{graph.name} on {card.name}", y, instance_chunk, keep_logits)


def simulate_range(graph: LayerGraph, card: Card | str, x: np.ndarray, y: np.ndarray | None = None, *,
                   instances: range, seed: int = 0, progress: bool = False, **options) -> MonteCarloResult:
    """Chip instances ``instances`` (a range) of ``graph`` on ``card`` over inputs ``x``: a partial
    result for ``codesign.noise.montecarlo.merge``; see ``simulate`` for the options
    (``prepare(...).run(instances)``)."""
    check_instances(instances)
    return prepare(graph, card, x, y, seed=seed, **options).run(instances, progress=progress)


def simulate(graph: LayerGraph, card: Card | str, x: np.ndarray, y: np.ndarray | None = None, *, instances: int = 20,
             seed: int = 0, **options) -> MonteCarloResult:
    """Run ``instances`` chip instances of ``graph`` on ``card`` over inputs ``x``.

    ``noise``: 'card' (the card's [noise] section), 'ideal', a NoiseModel or its dict.
    ``card``: a Card or a card name/path.  ``ir_drop``: None follows the card (on when it gives
    a wire resistance).  ``fuse=False`` simulates every read separately even where one combined
    product gives the same result (a check of the per-read path).
    A float graph input is quantised by the DAC to ``input_bits`` over ``input_full_scale``
    (default: the largest |x| after the graph's pre-processing).
    ``read_noise_source``: 'philox' (default; counter-based, fresh for every read) or 'torch'
    (fresh normals from seeded torch generators; a slower reference).  ``device``: the torch
    device of the products (default CPU).  ``implementation``: 'auto' (compiled CPU kernel when
    available), 'compiled' or 'torch' (both give the same bits).  ``instance_chunk``: instances
    programmed and run together (changes speed only, never results).
    """
    if not isinstance(instances, int) or isinstance(instances, bool) or instances < 1:
        raise ParameterError(f"instances = {instances!r} must be a positive integer", hint="use e.g. 100")
    return simulate_range(graph, card, x, y, instances=range(instances), seed=seed, **options)
