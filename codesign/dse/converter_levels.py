"""Co-design of the converter reference levels with a finished bespoke design.

The learned per-feature gain and offset in front of the input quantiser (``MLPConfig.
input_affine``) are the reference levels of each sensor's converter: free in the digital circuit.
After hardware-aware retraining has pruned a design down to a few inputs, the levels that QAT
chose for the dense network are rarely the best ones for the inputs that remain. This step moves
each remaining input's offset (with 1-bit inputs: its comparator threshold, to any midpoint
between neighbouring training values) by coordinate descent on the search data, and writes the
model with the new offsets, so the QONNX graph keeps computing exactly the codes the design sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.backends.printed.design import Design, evaluate
from codesign.backends.printed.proxy import breakdown
from codesign.ir.graph import LayerGraph
from codesign.ir.ops import Affine

MAX_THRESHOLDS = 24  # candidate comparator thresholds per 1-bit input (quantiles of the data)
FRACTIONS = (-1.0, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1.0)  # offset moves of b-bit inputs, in LSBs


@dataclass(frozen=True)
class InputStage:
    """x -> code = quantise(x * gain + offset) per feature: the graph's affine input pre-processing."""

    gain: np.ndarray
    offset: np.ndarray
    spec: object  # the input QuantSpec

    def codes(self, x: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        return self.spec.quantize(x * self.gain + (self.offset if offset is None else offset))


def input_stage(graph: LayerGraph) -> InputStage | None:
    """The graph's input pre-processing as one per-feature affine map, or None when it is not one
    (no learned levels, a non-affine op, or a per-channel / signed input quantiser)."""
    ops = graph.input_transform.ops
    spec = graph.input_quant
    if not ops or spec is None or spec.per_channel or spec.signed or not all(isinstance(o, Affine) for o in ops):
        return None
    if not np.all(np.asarray(ops[-1].mul) == 1):  # the offset must be the last op (an Add), see write_offsets
        return None
    folded = Affine()
    for op in ops:
        folded = folded.then(op)
    features = graph.in_features
    gain = np.broadcast_to(np.asarray(folded.mul, dtype=np.float64).reshape(-1), (features,)).copy()
    offset = np.broadcast_to(np.asarray(folded.add, dtype=np.float64).reshape(-1), (features,)).copy()
    return InputStage(gain, offset, spec)


def polish(design: Design, stage: InputStage, x: np.ndarray, labels: np.ndarray, *, passes: int = 2,
           seed: int = 0) -> tuple[np.ndarray, float]:
    """Coordinate descent over the offsets of the inputs the design reads; returns (offsets,
    accuracy on (x, labels)). A move is kept only when it raises the accuracy."""
    rng = np.random.default_rng(seed)
    offset = stage.offset.copy()
    codes = stage.codes(x, offset)
    best = float(np.mean(evaluate(design, codes).predictions == labels))
    live = list(breakdown(design).live_inputs)
    lsb = float(np.asarray(stage.spec.scale).reshape(-1)[0])
    for _ in range(passes):
        improved = False
        for i in rng.permutation(live):
            for value in _choices(stage, x[:, i], i, lsb):
                trial = codes.copy()
                trial[:, i] = stage.spec.quantize(x[:, i] * stage.gain[i] + value)
                accuracy = float(np.mean(evaluate(design, trial).predictions == labels))
                if accuracy > best + 1e-12:
                    best, offset[i], codes, improved = accuracy, value, trial, True
        if not improved:
            break
    return offset, best


def _choices(stage: InputStage, column: np.ndarray, i: int, lsb: float) -> list[float]:
    gain, offset = stage.gain[i], stage.offset[i]
    if stage.spec.levels == 2 and gain != 0:
        # one comparator: its threshold at a midpoint between neighbouring data values
        values = np.unique(column)
        midpoints = (values[1:] + values[:-1]) / 2
        if len(midpoints) > MAX_THRESHOLDS:
            midpoints = np.quantile(midpoints, np.linspace(0, 1, MAX_THRESHOLDS))
        values = [0.5 * lsb - gain * t for t in midpoints]  # code 1 from y >= lsb / 2 on
    else:
        values = [offset + f * lsb for f in FRACTIONS]
    return [float(np.float32(v)) for v in values]  # as the written model stores them


def write_offsets(model_path: Path, offsets: np.ndarray, out_path: Path) -> Path:
    """A copy of the QONNX model whose input offset (the Add before the first quantiser) holds
    ``offsets``; its gain is unchanged."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_path))
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    data = next(i.name for i in graph.input if i.name not in initializers)
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    tensor, last_add = data, None
    while True:
        node = consumers[tensor][0]
        if node.op_type in ("Quant", "BipolarQuant"):
            break
        last_add = node if node.op_type == "Add" else None
        tensor = node.output[0]
    if last_add is None:
        raise ValueError("the model has no input offset (Add) right before its first quantiser")
    old = initializers[next(n for n in last_add.input if n in initializers)]
    shape = numpy_helper.to_array(old).shape
    old.CopyFrom(numpy_helper.from_array(np.asarray(offsets, dtype=np.float32).reshape(shape), old.name))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))
    return out_path
