"""Monte-Carlo robustness: accuracy of one LayerGraph over many simulated chip instances.

Chip instances are evaluated in vectorised batches (instances x samples); each instance's
faults and noise come from its own seeded streams. With an ideal NoiseModel the result is
exactly the integer reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from codesign.errors import ParameterError
from codesign.ir.graph import LayerGraph
from codesign.ir.reference import input_codes, predictions_of, requantize
from codesign.noise.models import NoiseModel
from codesign.noise.perturb import generator, instance_generators, perturb, read_noise, weight_range

DEFAULT_INSTANCES = 20


@dataclass(frozen=True)
class MonteCarloResult:
    accuracies: tuple[float, ...]
    noise: dict
    seed: int

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies))

    @property
    def worst(self) -> float:
        return float(np.min(self.accuracies))

    def to_dict(self) -> dict:
        return {**asdict(self), "mean": self.mean, "std": self.std, "worst": self.worst,
                "instances": len(self.accuracies)}


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


def simulate(graph: LayerGraph, x: np.ndarray, model: NoiseModel, *, instances: int = DEFAULT_INSTANCES,
             seed: int = 0, first_instance: int = 0) -> np.ndarray:
    """Logits of every chip instance: array (instances, samples, classes)."""
    if instances < 1:
        raise ParameterError(f"instances = {instances} must be >= 1", hint="use e.g. 20")
    chips = range(first_instance, first_instance + instances)
    weights = chip_weights(graph, model, seed, chips)
    current = torch.as_tensor(np.asarray(input_codes(graph, x), dtype=np.float64)).expand(instances, -1, -1)
    value = None
    for index, layer in enumerate(graph.layers):
        accumulator = torch.matmul(current, weights[index].transpose(1, 2))
        if model.read.sigma:
            w_max = _stored_range(layer.weight_quant)
            gens = [generator(seed, k, index, "read") for k in chips]
            accumulator = torch.stack([read_noise(accumulator[i], current[i], model.read.sigma, w_max, g)
                                       for i, g in enumerate(gens)])
        value = requantize(layer, accumulator.numpy())
        if layer.output_quant is not None:
            codes = layer.output_quant.quantize(value)
            value = layer.output_quant.dequantize(codes)
            current = torch.as_tensor(codes, dtype=torch.float64)
        else:
            current = torch.as_tensor(value)
    return value


def evaluate(graph: LayerGraph, x: np.ndarray, y: np.ndarray, model: NoiseModel, *,
             instances: int = DEFAULT_INSTANCES, seed: int = 0, chunk: int = 10,
             progress: bool = False, description: str = "chips") -> MonteCarloResult:
    """Accuracy of ``instances`` chips (mean, std, worst), evaluated ``chunk`` chips at a time."""
    from tqdm.auto import tqdm

    y = np.asarray(y)
    accuracies: list[float] = []
    with tqdm(total=instances, desc=description, unit="chip", disable=not progress, leave=False) as bar:
        for start in range(0, instances, chunk):
            count = min(chunk, instances - start)
            logits = simulate(graph, x, model, instances=count, seed=seed, first_instance=start)
            predictions = predictions_of(logits)
            accuracies.extend(float(v) for v in (predictions == y[None, :]).mean(axis=1))
            bar.update(count)
    return MonteCarloResult(tuple(accuracies), model.to_dict(), seed)
