"""Per-output-channel weight scales moved behind the MatMul."""

from __future__ import annotations

import numpy as np
from qonnx.transformation.base import Transformation


class ChannelScalesAfterMatMul(Transformation):
    """MatMul(x, Quant(W, s)) with a per-output-channel scale s -> Mul(MatMul(x, Quant(W / s, 1)), s).

    The integer codes are those of the original quantiser (round(W / s) either way); hls4ml's
    scale propagation would otherwise leave a layer without inputs."""

    def apply(self, model):
        from onnx import helper

        for node in list(model.graph.node):
            if node.op_type != "Quant" or model.get_initializer(node.input[0]) is None:
                continue
            consumers = model.find_consumers(node.output[0]) or []
            weight = model.get_initializer(node.input[0])
            scale = model.get_initializer(node.input[1])
            zero_point = model.get_initializer(node.input[2])
            if (len(consumers) != 1 or consumers[0].op_type != "MatMul" or consumers[0].input[1] != node.output[0]
                    or weight.ndim != 2 or scale is None or scale.size <= 1 or zero_point is None
                    or np.any(zero_point)):
                continue
            out_channels = weight.shape[1]
            if scale.size != out_channels or scale.shape not in ((out_channels,), (1, out_channels)):
                continue  # only scales along the output channels commute with the MatMul
            matmul = consumers[0]
            scale = scale.astype(np.float32).reshape(1, out_channels)
            model.set_initializer(node.input[0], (weight / scale).astype(np.float32))
            unit = model.make_new_valueinfo_name()
            model.set_initializer(unit, np.asarray(1.0, dtype=np.float32))
            node.input[1] = unit
            channel_scale = model.make_new_valueinfo_name()
            model.set_initializer(channel_scale, scale.reshape(out_channels))
            product = model.make_new_valueinfo_name()
            output = matmul.output[0]
            matmul.output[0] = product
            index = list(model.graph.node).index(matmul)
            model.graph.node.insert(index + 1, helper.make_node("Mul", [product, channel_scale], [output],
                                                                name=f"{matmul.name}_channel_scale"))
        return model, False  # one sweep rewrites every such quantiser; the rewritten ones have a scalar scale
