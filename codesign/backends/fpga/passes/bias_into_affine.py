"""A bias Add followed by an affine Mul/Add (a batch norm) folded into that affine."""

from __future__ import annotations

import numpy as np
from qonnx.transformation.base import Transformation


class BiasIntoAffine(Transformation):
    """Add(x, b) -> Mul(., g) -> Add(., c) becomes Mul(x, g) -> Add(., g * b + c), with b, g, c
    constants: the same affine map. hls4ml cannot move a quantiser's scale through a bias Add
    that a batch norm follows ("Failed to propagate quantization bias down Add node", then
    "Unexpected new precision type": the QONNX zoo's UNSW-NB15 MLP)."""

    def apply(self, model):
        for add in list(model.graph.node):
            if add.op_type != "Add":
                continue
            bias = model.get_initializer(add.input[1])
            consumers = model.find_consumers(add.output[0]) or []
            if bias is None or model.get_initializer(add.input[0]) is not None or len(consumers) != 1:
                continue
            mul = consumers[0]
            gain = model.get_initializer(mul.input[1]) if mul.op_type == "Mul" else None
            after = model.find_consumers(mul.output[0]) or []
            if gain is None or len(after) != 1 or after[0].op_type != "Add":
                continue
            shift = model.get_initializer(after[0].input[1])
            if shift is None:
                continue
            folded = (np.asarray(gain, np.float64) * np.asarray(bias, np.float64)
                      + np.asarray(shift, np.float64))
            model.set_initializer(after[0].input[1], folded.astype(np.float32))
            mul.input[0] = add.input[0]
            model.graph.node.remove(add)
        return model, False  # one sweep folds every such bias
