"""Compare the integer reference with qonnx's own execution of the same graph."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from codesign.ir.graph import LayerGraph
from codesign.ir.onnx_model import data_inputs
from codesign.ir.reference import execute, prepare_inputs, run_layer

AMBIGUOUS_LSB = 1e-3  # float32 evaluation can land on either side of a boundary this close


@dataclass(frozen=True)
class CrossCheck:
    """How the integer reference compares with qonnx on the same inputs."""

    samples: int
    mismatched_samples: int  # samples whose outputs differ beyond float tolerance
    unexplained_mismatches: int  # ... of which no quantiser input sat on a rounding boundary
    max_abs_diff: float
    prediction_agreement: float

    @property
    def agrees(self) -> bool:
        """Equal up to float rounding: every difference traces to a value on a rounding boundary."""
        return self.unexplained_mismatches == 0

    def to_dict(self) -> dict:
        return {**asdict(self), "agrees": self.agrees}

    def describe(self) -> str:
        same = self.samples - self.mismatched_samples
        text = (f"{same}/{self.samples} samples identical to qonnx (max |diff| {self.max_abs_diff:.3g}), "
                f"predictions agree on {self.prediction_agreement:.2%}")
        if self.mismatched_samples:
            text += (f"; {self.mismatched_samples - self.unexplained_mismatches} differ only where float32 "
                     f"rounding sits on a quantiser boundary, {self.unexplained_mismatches} unexplained")
        return text


def rounding_margin(graph: LayerGraph, x: np.ndarray) -> np.ndarray:
    """Per sample, the closest any quantiser input comes to a rounding boundary, in LSBs."""
    values = prepare_inputs(graph, x)
    margin = np.full(len(values), np.inf)
    specs_and_values = []
    if graph.input_quant is not None:
        specs_and_values.append((graph.input_quant, values))
        current = graph.input_quant.quantize(values)
    else:
        current = values
    for layer in graph.layers:
        _, value, codes = run_layer(layer, current)
        if codes is None:
            current = value
        else:
            specs_and_values.append((layer.output_quant, value))
            current = codes
    for spec, value in specs_and_values:
        if spec.bipolar:
            distance = np.abs(value / spec.scale)
        else:
            scaled = value / spec.scale + spec.zero_point
            inside = (scaled > spec._q_min - 0.5) & (scaled < spec._q_max + 0.5)
            offset = 0.0 if spec.rounding in ("FLOOR", "CEIL", "UP", "DOWN") else 0.5
            distance = np.where(inside, np.abs(scaled - np.floor(scaled) - offset), np.inf)
            if offset == 0.0:
                distance = np.minimum(distance, 1.0 - distance)
        margin = np.minimum(margin, distance.reshape(len(values), -1).min(axis=1))
    return margin


def qonnx_execute(graph: LayerGraph, x: np.ndarray) -> np.ndarray:
    """Run the cleaned source graph with qonnx on a whole batch."""
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.util.cleanup import cleanup_model

    x = np.asarray(x, dtype=np.float32)
    shape = (len(x), *graph.input_transform.input_shape)
    # a batch needs ChangeBatchSize and a second cleanup, or shapes stay unspecified
    batched = cleanup_model(graph.source.transform(ChangeBatchSize(len(x))))
    input_name = data_inputs(batched)[0].name
    result = execute_onnx(batched, {input_name: x.reshape(shape)})
    return np.asarray(result[batched.graph.output[0].name], dtype=np.float64).reshape(len(x), -1)


def random_inputs(graph: LayerGraph, samples: int, seed: int = 0) -> np.ndarray:
    """Inputs that exercise the whole input quantiser range (or [0, 1] with pre-processing)."""
    rng = np.random.default_rng(seed)
    features = graph.input_transform.features
    spec = graph.input_quant
    if spec is None or graph.input_transform.ops:
        return rng.uniform(0.0, 1.0, size=(samples, features))
    low = (spec.code_min - 0.5) * spec.scale.reshape(-1)[0]
    high = (spec.code_max + 0.5) * spec.scale.reshape(-1)[0]
    return rng.uniform(low, high, size=(samples, features))


def crosscheck(graph: LayerGraph, x: np.ndarray) -> CrossCheck:
    x = np.asarray(x, dtype=np.float32).astype(np.float64)  # qonnx runs float32: same inputs for both
    prepare_inputs(graph, x)  # validates shape and finiteness with a clear error
    ours = execute(graph, x)
    theirs = qonnx_execute(graph, x)
    diff = np.abs(ours.output - theirs)
    tolerance = 1e-5 * max(float(np.abs(theirs).max()), 1e-6)
    mismatched = diff.max(axis=1) > tolerance
    ambiguous = rounding_margin(graph, x) < AMBIGUOUS_LSB
    if graph.head == "argmax" or graph.out_features == 1:
        agreement = float(np.mean(np.sign(theirs[:, 0]) == np.sign(ours.output[:, 0]))) \
            if graph.head != "argmax" else float(np.mean(theirs[:, 0] == ours.output[:, 0]))
    else:
        agreement = float(np.mean(np.argmax(theirs, axis=1) == np.argmax(ours.output, axis=1)))
    return CrossCheck(samples=len(x), mismatched_samples=int(mismatched.sum()),
                      unexplained_mismatches=int((mismatched & ~ambiguous).sum()),
                      max_abs_diff=float(diff.max()), prediction_agreement=agreement)
