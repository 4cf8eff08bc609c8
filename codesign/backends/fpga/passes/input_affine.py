"""A scalar affine pre-processing of the graph input moved behind the first MatMul."""

from __future__ import annotations

import numpy as np
from qonnx.transformation.base import Transformation

SCALAR_OPS = ("Add", "Sub", "Mul", "Div")


def _constant_weight(model, tensor: str) -> np.ndarray | None:
    """The MatMul's weight values: an initializer or a quantiser of one (executed)."""
    value = model.get_initializer(tensor)
    if value is not None:
        return np.asarray(value, dtype=np.float64)
    producer = model.find_producer(tensor)
    if producer is None or producer.op_type not in ("Quant", "BipolarQuant"):
        return None
    if any(model.get_initializer(name) is None for name in producer.input):
        return None
    from qonnx.core.onnx_exec import execute_node

    from .fold_constant_quantizers import opset_of

    context = {name: model.get_initializer(name) for name in producer.input}
    context[producer.output[0]] = None
    execute_node(producer, context, model.graph, opset_version=opset_of(model))
    return np.asarray(context[producer.output[0]], dtype=np.float64)


class InputAffineAfterMatMul(Transformation):
    """MatMul(x * m + a, W) with scalar m, a from Add/Sub/Mul/Div of the graph input becomes
    Add(Mul(MatMul(x, W), m), a * colsum(W)): the same values. hls4ml turns such an input
    pre-processing into a scale with a bias in front of the first Dense and then fails to move
    it ("Unexpected new precision type": the QONNX zoo's UNSW-NB15 MLP, whose input is (x + 1) / 2)."""

    def apply(self, model):
        from onnx import helper

        source = model.graph.input[0].name
        chain, tensor = [], source
        while True:
            consumers = model.find_consumers(tensor) or []
            if len(consumers) != 1 or consumers[0].op_type not in SCALAR_OPS:
                break
            node = consumers[0]
            constant = model.get_initializer(node.input[1])
            if node.input[0] != tensor or constant is None or constant.size != 1:
                return model, False
            chain.append((node.op_type, float(np.asarray(constant).ravel()[0])))
            tensor = node.output[0]
        consumers = model.find_consumers(tensor) or []
        if not chain or len(consumers) != 1 or consumers[0].op_type != "MatMul" or consumers[0].input[0] != tensor:
            return model, False
        matmul = consumers[0]
        weight = _constant_weight(model, matmul.input[1])
        if weight is None or weight.ndim != 2:
            return model, False
        gain, offset = 1.0, 0.0
        for op, value in chain:  # x -> x * gain + offset
            if op == "Add":
                offset += value
            elif op == "Sub":
                offset -= value
            elif op == "Mul":
                gain, offset = gain * value, offset * value
            else:
                gain, offset = gain / value, offset / value
        # drop the chain; the MatMul reads the raw input
        doomed, current = [], source
        while current != tensor:
            node = model.find_consumers(current)[0]
            doomed.append(node)
            current = node.output[0]
        for node in doomed:
            model.graph.node.remove(node)
        matmul.input[0] = source
        product = model.make_new_valueinfo_name()
        scaled = model.make_new_valueinfo_name()
        output = matmul.output[0]
        matmul.output[0] = product
        gain_name, offset_name = model.make_new_valueinfo_name(), model.make_new_valueinfo_name()
        model.set_initializer(gain_name, np.asarray(gain, dtype=np.float32))
        model.set_initializer(offset_name, (offset * weight.sum(axis=0)).astype(np.float32).reshape(1, -1))
        index = list(model.graph.node).index(matmul)
        model.graph.node.insert(index + 1, helper.make_node("Mul", [product, gain_name], [scaled],
                                                            name=f"{matmul.name}_input_gain"))
        model.graph.node.insert(index + 2, helper.make_node("Add", [scaled, offset_name], [output],
                                                            name=f"{matmul.name}_input_offset"))
        return model, False  # the graph input is consumed by the MatMul now: nothing left
