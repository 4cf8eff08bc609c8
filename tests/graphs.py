"""Build small QONNX graphs in the shapes real frontends emit (QKeras, FINN/Brevitas, bad ones)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QONNX_DOMAIN = "qonnx.custom_op.general"


class GraphBuilder:
    """Append nodes to a single data path; constants become initializers."""

    def __init__(self, input_shape: tuple[int | str | None, ...], *, seed: int = 0, opset: int = 13) -> None:
        self.input_shape = input_shape
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.current = "x"
        self.count = 0
        self.rng = np.random.default_rng(seed)
        self.opset = opset

    # -- plumbing ---------------------------------------------------------------------------
    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, value, dtype=np.float32, prefix: str = "c") -> str:
        name = self._name(prefix)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *extra_inputs: str, data_first: bool = True, domain: str = "", **attrs) -> str:
        out = self._name(op_type.lower())
        inputs = [self.current, *extra_inputs] if data_first else [*extra_inputs, self.current]
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self._name(op_type), domain=domain, **attrs))
        self.current = out
        return out

    # -- quantisers -------------------------------------------------------------------------
    def _quant_params(self, scale, zero_point, bits, int64_params: bool) -> list[str]:
        param_type = np.int64 if int64_params else np.float32
        return [self.const(scale), self.const(zero_point, param_type), self.const(bits, param_type)]

    def quant(self, scale=0.25, bits=4, signed=1, narrow=0, zero_point=0.0, rounding="ROUND",
              int64_params: bool = False) -> str:
        return self.op("Quant", *self._quant_params(scale, zero_point, bits, int64_params), domain=QONNX_DOMAIN,
                       signed=signed, narrow=narrow, rounding_mode=rounding)

    def bipolar(self, scale=1.0) -> str:
        return self.op("BipolarQuant", self.const(scale), domain=QONNX_DOMAIN)

    def quantized_weight(self, weight: np.ndarray, scale=0.1, bits=4, signed=1, narrow=1,
                         bipolar: bool = False, int64_params: bool = False) -> str:
        raw = self.const(weight, prefix="w")
        out = self._name("wq")
        if bipolar:
            self.nodes.append(helper.make_node("BipolarQuant", [raw, self.const(scale)], [out],
                                               name=self._name("BipolarQuant"), domain=QONNX_DOMAIN))
        else:
            params = self._quant_params(scale, 0.0, bits, int64_params)
            self.nodes.append(helper.make_node("Quant", [raw, *params], [out], name=self._name("Quant"),
                                               domain=QONNX_DOMAIN, signed=signed, narrow=narrow,
                                               rounding_mode="ROUND"))
        return out

    # -- layers -----------------------------------------------------------------------------
    def matmul(self, weight_tensor: str) -> str:
        return self.op("MatMul", weight_tensor)

    def gemm(self, weight_tensor: str, bias: str | None = None, trans_b: int = 1) -> str:
        extra = [weight_tensor] + ([bias] if bias else [])
        return self.op("Gemm", *extra, transB=trans_b, alpha=1.0, beta=1.0)

    def batchnorm(self, channels: int) -> str:
        gamma = self.rng.uniform(0.5, 1.5, channels)
        beta = self.rng.normal(0, 0.2, channels)
        mean = self.rng.normal(0, 0.5, channels)
        var = self.rng.uniform(0.5, 2.0, channels)
        return self.op("BatchNormalization", self.const(gamma), self.const(beta), self.const(mean),
                       self.const(var), epsilon=1e-5)

    def build(self, *, output_shape=None, output_type=TensorProto.FLOAT, name: str = "test") -> onnx.ModelProto:
        dims = list(self.input_shape)
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims if dims != [None] else None)],
            [helper.make_tensor_value_info(self.current, output_type, output_shape)],
            initializer=self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset),
                                                        helper.make_opsetid(QONNX_DOMAIN, 1)])
        model.ir_version = 8
        return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


# ---------------------------------------------------------------------------------------------
# Frontend-shaped graphs
# ---------------------------------------------------------------------------------------------
def qkeras_mlp(sizes=(16, 64, 32, 32, 5), bits=6, *, quantized_input: bool = False, seed: int = 0) -> onnx.ModelProto:
    """As qonnx's QKeras converter writes it: Quant on [in,out] weights (off-grid, int64 params),
    MatMul, Add of a quantised bias, Relu, Quant(unsigned), ..., Softmax, Identity."""
    b = GraphBuilder((1, sizes[0]), seed=seed, opset=9)
    if quantized_input:
        b.quant(scale=2.0 ** -4, bits=8, signed=1, int64_params=True)
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weight = b.rng.normal(0, 1.2 / np.sqrt(fan_in), (fan_in, fan_out))
        b.matmul(b.quantized_weight(weight, scale=2.0 ** -(bits - 2), bits=bits, narrow=0, int64_params=True))
        bias = b.quantized_weight(b.rng.normal(0, 0.3, fan_out), scale=2.0 ** -(bits - 2), bits=bits, narrow=0,
                                  int64_params=True)
        b.op("Add", bias)
        if index < len(sizes) - 2:
            b.op("Relu")
            b.quant(scale=2.0 ** -(bits - 3), bits=bits, signed=0, int64_params=True)
    b.op("Softmax", axis=-1)
    b.op("Identity")
    return b.build(name="qkeras_mlp")


def finn_tfc(weight_bits=1, act_bits=1, hidden=(32, 32), image=(1, 1, 6, 6), classes=10,
             flatten: str = "reshape", seed: int = 0) -> onnx.ModelProto:
    """FINN TFC as Brevitas exports it: Reshape of an image, Mul/Sub pre-processing, bipolar or
    2-bit quantisers, MatMul + BatchNormalization per layer, and an output normalisation chain."""
    b = GraphBuilder(image, seed=seed)
    features = int(np.prod(image[1:]))
    if flatten == "reshape":
        b.op("Reshape", b.const([1, -1], np.int64))
    else:
        b.op("Flatten", axis=1)
    b.op("Mul", b.const(2.0))
    b.op("Sub", b.const(1.0))
    sizes = (features, *hidden, classes)

    def act_quant() -> None:
        if act_bits == 1:
            b.bipolar(1.0)
        else:
            b.quant(scale=1.0, bits=act_bits, signed=1, narrow=1)

    act_quant()
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weight = b.rng.normal(0, 1, (fan_in, fan_out))
        if weight_bits == 1:
            b.matmul(b.quantized_weight(weight, scale=1.0, bipolar=True))
        else:
            b.matmul(b.quantized_weight(weight, scale=0.5, bits=weight_bits, narrow=1))
        if index < len(sizes) - 2:
            b.batchnorm(fan_out)
            act_quant()
    for op_type, value in (("Sub", 0.1), ("Div", 2.5), ("Mul", 1.5), ("Add", -0.2)):
        b.op(op_type, b.const(value))
    return b.build(name="finn_tfc")


def brevitas_mlp(sizes=(8, 12, 6, 3), weight_bits=4, act_bits=4, *, per_channel=True, batchnorm=True,
                 head: str | None = None, activation: str = "Relu", seed: int = 0,
                 power_of_two: bool = False) -> onnx.ModelProto:
    """As brevitas export_qonnx writes it: input Quant, Gemm(transB=1) with per-channel weight
    scales and an int32 bias Quant, BatchNormalization, activation, Quant."""
    b = GraphBuilder((1, sizes[0]), seed=seed)
    in_scale = 1.0 / 16 if power_of_two else 1.0 / 15
    b.quant(scale=in_scale, bits=4, signed=0)
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        weight = b.rng.normal(0, 1 / np.sqrt(fan_in), (fan_out, fan_in))
        scale = (np.abs(weight).max(axis=1, keepdims=True) / (2 ** (weight_bits - 1) - 1)) if per_channel \
            else np.abs(weight).max() / (2 ** (weight_bits - 1) - 1)
        if power_of_two:
            scale = 2.0 ** np.ceil(np.log2(scale))
        w = b.quantized_weight(weight, scale=scale, bits=weight_bits, narrow=1)
        bias_scale = (in_scale * np.asarray(scale)).reshape(-1)
        bias_raw = b.rng.normal(0, 0.2, fan_out)
        bias = b.quantized_weight(bias_raw, scale=bias_scale, bits=32, narrow=0)
        b.gemm(w, bias)
        if index < len(sizes) - 2:
            if batchnorm:
                b.batchnorm(fan_out)
            if activation == "Clip":
                b.op("Clip", b.const(-1.0), b.const(1.0))
            elif activation == "LeakyRelu":
                b.op("LeakyRelu", alpha=0.1)
            elif activation:
                b.op(activation)
            in_scale = 0.125
            signed = 0 if activation in ("Relu", "Sigmoid") else 1
            b.quant(scale=in_scale, bits=act_bits, signed=signed)
    if head == "softmax":
        b.op("Softmax", axis=1)
    elif head == "argmax":
        b.op("ArgMax", axis=1, keepdims=1)
    elif head == "logsoftmax":
        b.op("LogSoftmax", axis=1)
    if head == "argmax":
        return b.build(name="brevitas_mlp", output_shape=[1, 1], output_type=TensorProto.INT64)
    return b.build(name="brevitas_mlp")
