"""Bit-accurate check of a generated hls4ml project against the integer reference.

hls4ml's ``compile()`` builds the firmware with g++ into a shared library that emulates the
fixed-point arithmetic exactly; its outputs are compared with ``codesign.ir.execute`` sample
by sample.  An output "matches" when it equals the reference up to the float32 rounding of
hls4ml's prediction interface (well below one LSB of the last layer's accumulator).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from codesign.errors import BackendError, ParameterError
from codesign.ir.graph import LayerGraph
from codesign.ir.reference import execute, predictions_of

DEFAULT_MAX_MISMATCH = 0.0


@dataclass(frozen=True)
class Verification:
    samples: int
    exact_match_rate: float  # samples whose every output equals the reference
    prediction_match_rate: float  # samples with the same predicted class
    max_abs_error: float
    max_mismatch: float  # allowed fraction of non-matching samples
    compile_s: float

    @property
    def passed(self) -> bool:
        return 1.0 - self.exact_match_rate <= self.max_mismatch + 1e-12

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def compile_and_verify(hls_model, graph: LayerGraph, x: np.ndarray, *,
                       max_mismatch: float = DEFAULT_MAX_MISMATCH) -> Verification:
    if not 0.0 <= max_mismatch <= 1.0:
        raise ParameterError(f"max_mismatch = {max_mismatch} must be in [0, 1]", hint="e.g. 0 or 0.001")
    start = time.perf_counter()
    try:
        hls_model.compile()
    except Exception as exc:  # g++ errors come back as various exception types
        raise BackendError(f"hls4ml C++ emulation did not compile: {str(exc).splitlines()[0][:200]}",
                           hint="check that g++ is installed; the project is left for inspection only on success") from None
    compile_s = time.perf_counter() - start
    x = np.asarray(x, dtype=np.float32).astype(np.float64)  # what the firmware's float32 interface receives
    reference = execute(graph, x)
    shape = tuple(hls_model.get_input_variables()[0].shape)
    inputs = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape((len(x), *shape)))
    outputs = np.asarray(hls_model.predict(inputs), dtype=np.float64).reshape(len(x), -1)
    expected = reference.logits
    last = graph.layers[-1].output_quant
    if last is not None and last.bipolar and np.all((outputs == 0) | (outputs == 1)):
        outputs = 2.0 * outputs - 1.0  # hls4ml's binary_tanh writes +-1 as the xnor bits 1/0
    if outputs.shape != expected.shape:
        raise BackendError(f"hls4ml model outputs shape {outputs.shape}, the reference {expected.shape}",
                           hint="the graph's output head is not supported by the FPGA lowering")
    as_float32 = expected.astype(np.float32).astype(np.float64)
    # float32 output and 24-bit constants give relative errors near 2**-20; a real mismatch moves
    # an output by at least one accumulator LSB (acc_scale) of the last layer
    resolution = np.broadcast_to(graph.layers[-1].acc_scale, (expected.shape[1],))
    tolerance = np.abs(as_float32) * 2.0**-18 + 1e-3 * resolution
    matches = np.all(np.abs(outputs - as_float32) <= tolerance, axis=1)
    return Verification(
        samples=len(x), exact_match_rate=float(matches.mean()),
        prediction_match_rate=float((predictions_of(outputs) == reference.predictions).mean()),
        max_abs_error=float(np.max(np.abs(outputs - expected))) if len(x) else 0.0,
        max_mismatch=max_mismatch, compile_s=compile_s)
