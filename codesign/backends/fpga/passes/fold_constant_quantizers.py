"""Quantisers of constants (bias quantisers, bipolar weight quantisers) as plain initialisers."""

from __future__ import annotations

import numpy as np
from qonnx.transformation.base import Transformation


def opset_of(model) -> int:
    return next((o.version for o in model.model.opset_import if o.domain in ("", "ai.onnx")), 13)


class FoldConstantQuantizers(Transformation):
    """A Quant feeding only Adds (a quantised bias) and every BipolarQuant of a constant become
    initialisers holding the quantised values. hls4ml cannot propagate a quantised bias through
    ``Add``, and it re-binarises already binarised xnor weights, making them all +1."""

    def apply(self, model):
        from qonnx.core.onnx_exec import execute_node

        for node in list(model.graph.node):
            if node.op_type not in ("Quant", "BipolarQuant") or model.get_initializer(node.input[0]) is None:
                continue
            consumers = model.find_consumers(node.output[0]) or []
            if node.op_type == "BipolarQuant" or (consumers and all(c.op_type == "Add" for c in consumers)):
                context = {name: model.get_initializer(name) for name in node.input}
                context[node.output[0]] = None
                execute_node(node, context, model.graph, opset_version=opset_of(model))
                model.set_initializer(node.output[0], np.asarray(context[node.output[0]], dtype=np.float32))
                model.graph.node.remove(node)
        return model, False  # one sweep folds every such node: nothing left for a second one
