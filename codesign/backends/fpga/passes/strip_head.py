"""Drop a trailing Softmax / LogSoftmax / ArgMax / Identity: the firmware outputs logits."""

from __future__ import annotations

from qonnx.transformation.base import Transformation

HEAD_OPS = ("Softmax", "LogSoftmax", "ArgMax", "Identity")


class StripHead(Transformation):
    """The class is the argmax of the logits, which a monotone head does not change; hls4ml's
    table softmax does not take the exact wide logit types, so the head is left to the host."""

    def apply(self, model):
        from onnx import TensorProto, helper

        output = model.graph.output[0]
        producer = model.find_producer(output.name)
        if producer is None or producer.op_type not in HEAD_OPS:
            return model, False
        logits = producer.input[0]
        shape = model.get_tensor_shape(logits)
        model.graph.node.remove(producer)
        model.graph.output.remove(output)
        for info in [v for v in model.graph.value_info if v.name == logits]:
            model.graph.value_info.remove(info)
        model.graph.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, shape))
        return model, True  # a head may sit on a head (ArgMax after Softmax)
