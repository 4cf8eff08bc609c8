"""The Monte-Carlo engine: accuracy statistics of many simulated chip instances, in batches.

One engine serves every chip model (the weight-domain model below and the crossbar simulator
``codesign.backends.crossbar.simulate``).  A chip model implements two methods:

    program(instances: range) -> state          # every instance k drawn from (seed, k) only
    logits(state, start, stop) -> torch.Tensor  # (len(instances), stop - start, classes)

and has ``samples`` (inputs) and ``block`` (inputs per step).  The engine walks chunks of
instances and blocks of inputs, and keeps predictions, optional logits and per-instance
accuracies.

Distribution (bit-identical whatever the split)
-----------------------------------------------
A chip model's results for instance k depend only on (seed, k), never on the other instances
computed with it: every random draw is keyed by the instance index, and the crossbar
simulator's products are exact (see its module docstring).  So a Monte-Carlo run can be split
into contiguous instance ranges, computed anywhere, and merged:

    part = run_range(model, range(a, b), labels=y)   # or, for the crossbar,
    part = codesign.backends.crossbar.simulate_range(graph, card, x, y, instances=range(a, b), seed=s)
    result = merge([part_0, part_1, ...])            # == the single-process result, bit for bit

``run_range`` / ``simulate_range`` are pure functions of their arguments; a partial result
carries ``first_instance``; ``merge`` checks that the parts tile ``[0, n)`` (or any contiguous
range) without gaps or overlaps and concatenates them in instance order, so the final
``mean``/``std``/``worst`` do not depend on the split or on the order parts arrive in.
``seconds`` of a merged result is the sum of the parts' compute times.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import torch

from codesign.errors import DataError, ParameterError
from codesign.ir.graph import LayerGraph
from codesign.ir.reference import input_codes, predictions_of, requantize
from codesign.noise.models import NoiseModel
from codesign.noise.perturb import instance_generators, perturb, weight_range
from codesign.noise.philox import normals, stream_key

DEFAULT_INSTANCES = 20


@dataclass(frozen=True, eq=False)
class MonteCarloResult:
    """Outputs of a contiguous range of chip instances on N inputs, with accuracy statistics
    when labels were given.  A complete run starts at instance 0."""

    predictions: np.ndarray  # (instances, N) int64
    logits: np.ndarray | None  # (instances, N, classes), None when not kept
    accuracies: tuple[float, ...] | None
    seed: int
    seconds: float
    settings: Any = None  # the model's settings (an object with to_dict(), or a dict)
    exact: bool = False  # every chip computes exactly the integer reference
    first_instance: int = 0

    @property
    def instances(self) -> int:
        return int(self.predictions.shape[0])

    @property
    def samples(self) -> int:
        return int(self.predictions.shape[1])

    @property
    def instance_range(self) -> range:
        return range(self.first_instance, self.first_instance + self.instances)

    @property
    def inferences_per_s(self) -> float:
        return self.instances * self.samples / self.seconds if self.seconds > 0 else float("inf")

    def _need_labels(self) -> tuple[float, ...]:
        if self.accuracies is None:
            raise DataError("accuracy needs labels", hint="pass y (labels) to the simulation")
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
        settings = self.settings.to_dict() if hasattr(self.settings, "to_dict") else self.settings
        data = {"instances": self.instances, "first_instance": self.first_instance, "samples": self.samples,
                "seed": self.seed, "exact": self.exact, "settings": settings, "seconds": self.seconds,
                "inferences_per_s": self.inferences_per_s}
        if self.accuracies is not None:
            data.update(accuracies=list(self.accuracies), mean=self.mean, std=self.std, worst=self.worst)
        return data


class ChipModel(Protocol):
    samples: int
    block: int

    def program(self, instances: range) -> Any: ...

    def logits(self, state: Any, start: int, stop: int) -> torch.Tensor: ...


def check_instances(instances: range) -> range:
    if not isinstance(instances, range) or instances.step != 1 or len(instances) < 1 or instances.start < 0:
        raise ParameterError(f"instances = {instances!r} must be a non-empty range(start, stop) with start >= 0",
                             hint="use e.g. range(0, 100)")
    return instances


def run_range(model: ChipModel, instances: range, *, seed: int, labels: np.ndarray | None = None,
              chunk: int = 16, keep_logits: bool = True, progress: bool = False, description: str = "chips",
              settings: Any = None, exact: bool = False) -> MonteCarloResult:
    """Run the chip instances ``instances`` (a contiguous range) of ``model`` on all its inputs."""
    from tqdm.auto import tqdm

    check_instances(instances)
    if chunk < 1:
        raise ParameterError(f"instance chunk = {chunk} must be >= 1", hint="use e.g. 16")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != model.samples:
            raise DataError(f"{len(labels)} labels for {model.samples} inputs", hint="pass one label per input row")
    count, samples = len(instances), model.samples
    predictions = np.empty((count, samples), dtype=np.int64)
    logits: np.ndarray | None = None
    start_time = time.perf_counter()
    with tqdm(total=count * samples, desc=description, unit="inf", unit_scale=True, disable=not progress,
              leave=False) as bar:
        for first in range(instances.start, instances.stop, chunk):
            part = range(first, min(first + chunk, instances.stop))
            rows = slice(first - instances.start, part.stop - instances.start)
            state = model.program(part)
            for b0 in range(0, samples, model.block):
                b1 = min(b0 + model.block, samples)
                block = model.logits(state, b0, b1).detach().cpu().numpy()
                if keep_logits:
                    if logits is None:
                        logits = np.empty((count, samples, block.shape[-1]), dtype=block.dtype)
                    logits[rows, b0:b1] = block
                predictions[rows, b0:b1] = predictions_of(block)
                bar.update(len(part) * (b1 - b0))
    seconds = time.perf_counter() - start_time
    accuracies = None
    if labels is not None:
        accuracies = tuple(float(a) for a in (predictions == labels[None, :]).mean(axis=1))
    return MonteCarloResult(predictions=predictions, logits=logits, accuracies=accuracies, seed=seed, seconds=seconds,
                            settings=settings, exact=exact, first_instance=instances.start)


def merge(parts: list[MonteCarloResult]) -> MonteCarloResult:
    """One result from partial results of disjoint, contiguous instance ranges (any order)."""
    if not parts:
        raise ParameterError("nothing to merge", hint="pass at least one partial result")
    parts = sorted(parts, key=lambda p: p.first_instance)
    first = parts[0]
    for before, after in zip(parts, parts[1:]):
        if after.first_instance != before.instance_range.stop:
            raise ParameterError(f"partial results leave a gap or overlap at instance {before.instance_range.stop}",
                                 hint="merge parts whose instance ranges tile one contiguous range")
        if after.seed != first.seed or after.samples != first.samples:
            raise ParameterError("partial results come from different seeds or inputs", hint="merge parts of one run")
        if (after.logits is None) != (first.logits is None) or (after.accuracies is None) != (first.accuracies is None):
            raise ParameterError("partial results differ in kept logits or labels", hint="run every part alike")
    logits = None if first.logits is None else np.concatenate([p.logits for p in parts])
    accuracies = None if first.accuracies is None else tuple(a for p in parts for a in p.accuracies)
    return replace(first, predictions=np.concatenate([p.predictions for p in parts]), logits=logits,
                   accuracies=accuracies, seconds=sum(p.seconds for p in parts),
                   exact=all(p.exact for p in parts))


# -- the weight-domain chip model ------------------------------------------------------------------
def _stored_range(spec) -> int:
    return weight_range(spec.bits, spec.signed, spec.bipolar, spec.narrow)


def chip_weights(graph: LayerGraph, model: NoiseModel, seed: int, instances: range) -> list[torch.Tensor]:
    """Per layer, the effective weight codes of each chip instance: (K, out, in) float64."""
    stacks = []
    for index, layer in enumerate(graph.layers):
        codes = torch.as_tensor(layer.weight, dtype=torch.float64)
        spec = layer.weight_quant
        if model.static_is_ideal:
            stacks.append(codes.unsqueeze(0).expand(len(instances), *codes.shape))
            continue
        w_max = _stored_range(spec)
        stacks.append(torch.stack([
            perturb(codes, bits=spec.bits, w_max=w_max, model=model, gens=instance_generators(seed, k, index),
                    signed=spec.signed, bipolar=spec.bipolar)
            for k in instances]))
    return stacks


class WeightChips:
    """Chips as perturbed weight codes (no crossbar mapping): a differential pair per weight,
    static non-idealities per instance, read noise N(0, sigma w_max sqrt(2 sum x^2)) per column
    and inference from counter-based Philox normals.  Float64, the reference's requantisation."""

    block = 4096

    def __init__(self, graph: LayerGraph, x: np.ndarray, model: NoiseModel, seed: int) -> None:
        self.graph, self.model, self.seed = graph, model, seed
        self.codes = torch.as_tensor(np.asarray(input_codes(graph, x), dtype=np.float64))
        self.samples = int(self.codes.shape[0])
        self.key = stream_key(seed, "weight-read")

    def program(self, instances: range) -> tuple[range, list[torch.Tensor]]:
        return instances, chip_weights(self.graph, self.model, self.seed, instances)

    def logits(self, state: tuple[range, list[torch.Tensor]], start: int, stop: int) -> torch.Tensor:
        instances, weights = state
        current = self.codes[start:stop].expand(len(instances), -1, -1)
        chips = torch.arange(instances.start, instances.stop).view(-1, 1, 1)
        value = None
        for index, layer in enumerate(self.graph.layers):
            accumulator = torch.matmul(current, weights[index].transpose(1, 2))
            if self.model.read.sigma:
                power = 2.0 * (current * current).sum(-1, keepdim=True)
                std = self.model.read.sigma * _stored_range(layer.weight_quant) * torch.sqrt(power)
                out = accumulator.shape[-1]
                linear = torch.arange(start, stop).view(1, -1, 1) * out + torch.arange(out).view(1, 1, -1)
                accumulator = accumulator + std * normals(linear, chips, index, self.key).to(torch.float64)
            value = requantize(layer, accumulator.numpy())
            if layer.output_quant is not None:
                codes = layer.output_quant.quantize(value)
                value = layer.output_quant.dequantize(codes)
                current = torch.as_tensor(codes, dtype=torch.float64)
            else:
                current = torch.as_tensor(value)
        return torch.as_tensor(value)


def simulate(graph: LayerGraph, x: np.ndarray, model: NoiseModel, *, instances: int = DEFAULT_INSTANCES,
             seed: int = 0, first_instance: int = 0) -> np.ndarray:
    """Logits of chips ``first_instance ..``: array (instances, samples, classes)."""
    if instances < 1:
        raise ParameterError(f"instances = {instances} must be >= 1", hint="use e.g. 20")
    chips = WeightChips(graph, x, model, seed)
    return run_range(chips, range(first_instance, first_instance + instances), seed=seed).logits


def evaluate(graph: LayerGraph, x: np.ndarray, y: np.ndarray, model: NoiseModel, *,
             instances: int = DEFAULT_INSTANCES, seed: int = 0, chunk: int = 10,
             progress: bool = False, description: str = "chips") -> MonteCarloResult:
    """Accuracy of ``instances`` chips (mean, std, worst), evaluated ``chunk`` chips at a time."""
    if instances < 1:
        raise ParameterError(f"instances = {instances} must be >= 1", hint="use e.g. 20")
    chips = WeightChips(graph, x, model, seed)
    return run_range(chips, range(instances), seed=seed, labels=y, chunk=chunk, keep_logits=False,
                     progress=progress, description=description, settings={"noise": model.to_dict()},
                     exact=model.is_ideal)
