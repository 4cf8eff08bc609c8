"""The integer reference executor: the golden model every backend is verified against.

Dot products are computed on integer codes, exactly; only the requantisation between layers
(scale, bias, batch norm, activation, output quantiser) runs in float64. Outputs equal QONNX
execution up to float32 rounding at quantiser boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.errors import DataError
from codesign.ir.graph import DenseLayer, LayerGraph, accumulator_bound

EXACT_FLOAT64 = 2**53


@dataclass(frozen=True, eq=False)
class Execution:
    """Result of a batched reference run."""

    output: np.ndarray  # float64, what the QONNX graph outputs (after the head)
    logits: np.ndarray  # float64, last layer value before the head
    codes: tuple[np.ndarray, ...]  # int64 input codes of every layer (codes[0]: input), + output codes
    accumulators: tuple[np.ndarray, ...]  # per layer; int64 (float64 where the input is float)

    @property
    def predictions(self) -> np.ndarray:
        return predictions_of(self.logits)


def predictions_of(logits: np.ndarray) -> np.ndarray:
    """Class index per sample (last axis = classes; a single output column is a binary decision
    on its sign)."""
    if logits.shape[-1] == 1:
        return (logits[..., 0] > 0).astype(np.int64)
    return np.argmax(logits, axis=-1)


def integer_matmul(codes: np.ndarray, weight: np.ndarray, bound: int) -> np.ndarray:
    """codes @ weight.T exactly: float64 BLAS when every sum fits 53 bits, int64 otherwise."""
    if bound < EXACT_FLOAT64:
        return (codes.astype(np.float64) @ weight.T.astype(np.float64)).astype(np.int64)
    return codes.astype(np.int64) @ weight.T.astype(np.int64)


def requantize(layer: DenseLayer, accumulator: np.ndarray) -> np.ndarray:
    """Accumulator -> real value after bias, post ops (before the output quantiser)."""
    value = accumulator.astype(np.float64) * layer.acc_scale
    if layer.bias is not None:
        value = value + layer.bias
    for op in layer.post:
        value = op.apply(value)
    return value


def run_layer(layer: DenseLayer, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One layer: returns (accumulator, real value after post ops, output codes or None)."""
    if layer.input_quant is None:
        accumulator = inputs.astype(np.float64) @ layer.weight.T.astype(np.float64)
    else:
        accumulator = integer_matmul(inputs, layer.weight, accumulator_bound(layer.weight, layer.input_quant))
    value = requantize(layer, accumulator)
    if layer.output_quant is None:
        return accumulator, value, None
    return accumulator, value, layer.output_quant.quantize(value)


def _head(head: str, logits: np.ndarray) -> np.ndarray:
    if head == "softmax":
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    if head == "logsoftmax":
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    if head == "argmax":
        return np.argmax(logits, axis=1, keepdims=True).astype(np.float64)
    return logits


def prepare_inputs(graph: LayerGraph, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    features = graph.input_transform.features
    if x.ndim == 1 and x.size == features:
        x = x[None, :]
    if x.size == 0 or x.size % features or x.reshape(len(x), -1).shape[1] != features:
        raise DataError(f"input of shape {x.shape} does not match the model's {features} features",
                        hint=f"pass an array of shape (N, {features})")
    if not np.all(np.isfinite(x)):
        raise DataError("input contains NaN/Inf", hint="clean or impute the data first")
    return graph.input_transform.apply(x)


def input_codes(graph: LayerGraph, x: np.ndarray) -> np.ndarray:
    """Pre-process and quantise raw inputs to the first layer's integer codes."""
    values = prepare_inputs(graph, x)
    spec = graph.input_quant
    return values if spec is None else spec.quantize(values)


def execute(graph: LayerGraph, x: np.ndarray, *, batch_size: int = 65536) -> Execution:
    """Run the integer reference on a batch (any number of samples, processed in chunks)."""
    x = np.asarray(x)
    chunks = [_execute_chunk(graph, x[start:start + batch_size]) for start in range(0, max(len(x), 1), batch_size)]
    if len(chunks) == 1:
        return chunks[0]
    return Execution(
        output=np.concatenate([c.output for c in chunks]),
        logits=np.concatenate([c.logits for c in chunks]),
        codes=tuple(np.concatenate(parts) for parts in zip(*(c.codes for c in chunks), strict=True)),
        accumulators=tuple(np.concatenate(parts) for parts in zip(*(c.accumulators for c in chunks), strict=True)),
    )


def _execute_chunk(graph: LayerGraph, x: np.ndarray) -> Execution:
    current = input_codes(graph, x)
    codes, accumulators = [current], []
    value = current
    for layer in graph.layers:
        accumulator, value, out_codes = run_layer(layer, current)
        accumulators.append(accumulator)
        if out_codes is None:
            current = value  # float activation: the next layer runs in float (see LayerGraph.integer)
        else:
            value = layer.output_quant.dequantize(out_codes)
            current = out_codes
            codes.append(out_codes)
    return Execution(output=_head(graph.head, value), logits=value, codes=tuple(codes),
                     accumulators=tuple(accumulators))
