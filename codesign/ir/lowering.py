"""Lower a cleaned QONNX graph to a LayerGraph of integer dense layers.

The graph must be a chain: every tensor on the data path has one consumer, every node one
data input (the others are constants). Nodes are grouped as

    [pre-processing] Quant  (Gemm | MatMul [Add])  [BN / Mul / Add / Relu / ...]  Quant  ...  [Softmax]

and each group becomes one DenseLayer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codesign.errors import (
    BitWidthError,
    FloatGraphError,
    MissingShapeError,
    TopologyError,
    UnsupportedOpError,
)
from codesign.ir.constants import ConstantResolver, attribute, node_label
from codesign.ir.graph import DenseLayer, InputTransform, LayerGraph
from codesign.ir.onnx_model import data_inputs
from codesign.ir.ops import Affine, Clip, FakeQuant, LeakyRelu, Relu, Sigmoid, Tanh
from codesign.ir.quantspec import QuantSpec, make_spec

SHAPE_OPS = {"Reshape", "Flatten", "Identity", "Dropout", "Squeeze", "Unsqueeze"}
AFFINE_OPS = {"Add", "Sub", "Mul", "Div", "BatchNormalization"}
NONLINEAR_OPS = {"Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu"}
HEAD_OPS = {"Softmax": "softmax", "LogSoftmax": "logsoftmax", "ArgMax": "argmax"}
DENSE_OPS = {"Gemm", "MatMul"}
QUANT_OPS = {"Quant", "BipolarQuant"}
QUANT_INPUTS = {"Quant": ("x", "scale", "zero point", "bit width"), "BipolarQuant": ("x", "scale")}
SUPPORTED = SHAPE_OPS | AFFINE_OPS | NONLINEAR_OPS | set(HEAD_OPS) | DENSE_OPS | QUANT_OPS | {"Transpose"}


@dataclass
class _OpenLayer:
    """A layer being assembled while walking the chain."""

    name: str
    weight: np.ndarray
    weight_quant: QuantSpec
    input_quant: QuantSpec | None
    bias: np.ndarray | None = None
    post: list = field(default_factory=list)
    output_quant: QuantSpec | None = None
    after_output: list = field(default_factory=list)  # ops after the output quantiser
    nodes: list = field(default_factory=list)

    def close(self) -> DenseLayer:
        return DenseLayer(name=self.name, weight=self.weight, weight_quant=self.weight_quant,
                          input_quant=self.input_quant, bias=self.bias, post=tuple(self.post),
                          output_quant=self.output_quant, source_nodes=tuple(self.nodes))


class _Lowering:
    def __init__(self, model) -> None:
        self.model = model
        self.constants = ConstantResolver(model)
        self.consumers: dict[str, list] = {}
        for node in model.graph.node:
            for tensor in node.input:
                self.consumers.setdefault(tensor, []).append(node)
            _check_quant_inputs(node)

    # -- the data path -------------------------------------------------------------------
    def chain(self) -> list:
        tensor = data_inputs(self.model)[0].name
        output = self.model.graph.output[0].name
        nodes = []
        while tensor != output:
            users = [n for n in self.consumers.get(tensor, []) if not self.constants.is_constant(n.output[0])]
            if not users:
                raise TopologyError(f"tensor {tensor!r} does not reach the graph output",
                                    hint="export a single feed-forward chain")
            if len(users) > 1:
                names = ", ".join(node_label(n) for n in users)
                raise TopologyError(
                    f"tensor {tensor!r} feeds {len(users)} nodes ({names}): branches and skip connections are not an MLP",
                    hint="codesign lowers feed-forward MLPs; export the chain without branches",
                )
            node = users[0]
            if node.op_type not in SUPPORTED:
                raise UnsupportedOpError(
                    f"node {node_label(node)!r} ({node.op_type}) is not supported",
                    hint="codesign lowers MLPs built from Gemm/MatMul, Quant/BipolarQuant, "
                         "BatchNormalization, Add/Sub/Mul/Div, Relu/Clip/Sigmoid/Tanh, "
                         "Reshape/Flatten and Softmax/ArgMax",
                )
            dynamic = [t for t in node.input if t and not self.constants.is_constant(t)]
            if len(dynamic) != 1:
                raise TopologyError(
                    f"node {node_label(node)!r} ({node.op_type}) combines {len(dynamic)} data tensors",
                    hint="skip connections and element-wise merges are not an MLP",
                )
            nodes.append(node)
            tensor = node.output[0]
        return nodes

    def shape(self, tensor: str) -> tuple[int, ...]:
        shape = self.model.get_tensor_shape(tensor)
        if shape is None or any((d is None or d <= 0) for d in shape[1:]):
            raise MissingShapeError(f"tensor {tensor!r} has no known shape after shape inference",
                                    hint="export with fixed shapes")
        return tuple(int(d) for d in shape)

    # -- element-wise ops ------------------------------------------------------------------
    def channel_const(self, node, tensor: str, width: int, data_shape: tuple[int, ...],
                      channel_axis: bool = False) -> np.ndarray:
        """A constant broadcast against the data tensor, flattened to one value per feature.

        ``channel_axis``: the constant runs along axis 1 (BatchNormalization), not the last axis.
        """
        values = self.constants.array(tensor)
        if channel_axis:
            values = values.reshape((-1,) + (1,) * (len(data_shape) - 2))
        try:
            full = np.broadcast_to(values, (1,) + data_shape[1:]) if values.ndim <= len(data_shape) else None
        except ValueError:
            full = None
        if full is None:
            raise UnsupportedOpError(
                f"node {node_label(node)!r} ({node.op_type}): constant {tensor!r} of shape {values.shape} "
                f"does not broadcast to the data shape {data_shape}", hint="use per-feature constants")
        flat = full.reshape(-1)
        if flat.size != width:
            raise TopologyError(f"node {node_label(node)!r}: unexpected width {flat.size} (expected {width})",
                                hint="the graph is not a 2-D MLP at this point")
        return flat.astype(np.float64)

    def elementwise(self, node, width: int):
        data = next(t for t in node.input if t and not self.constants.is_constant(t))
        shape = self.shape(data)
        op = node.op_type
        label = node_label(node)
        if op == "BatchNormalization":
            gamma, beta, mean, var = (self.channel_const(node, t, width, shape, channel_axis=True)
                                      for t in node.input[1:5])
            mul = gamma / np.sqrt(var + attribute(node, "epsilon", 1e-5))
            return Affine(mul, beta - mean * mul, name=f"batchnorm:{label}")
        if op in ("Add", "Sub", "Mul", "Div"):
            const_name = next(t for t in node.input if t != data)
            const = self.channel_const(node, const_name, width, shape)
            data_first = node.input[0] == data
            if op == "Add":
                return Affine(np.ones(width), const, name=f"add:{label}")
            if op == "Sub":
                return Affine(np.ones(width), -const, name=f"sub:{label}") if data_first \
                    else Affine(-np.ones(width), const, name=f"sub:{label}")
            if op == "Mul":
                return Affine(const, np.zeros(width), name=f"mul:{label}")
            if not data_first:
                raise UnsupportedOpError(f"node {label!r} (Div) divides a constant by data",
                                         hint="only division by a constant is supported")
            if np.any(const == 0):
                raise UnsupportedOpError(f"node {label!r} (Div) divides by zero", hint="fix the constant")
            return Affine(1.0 / const, np.zeros(width), name=f"div:{label}")
        if op == "Relu":
            return Relu()
        if op == "Sigmoid":
            return Sigmoid()
        if op == "Tanh":
            return Tanh()
        if op == "LeakyRelu":
            return LeakyRelu(float(attribute(node, "alpha", 0.01)))
        # Clip: min/max as inputs (opset >= 11) or attributes
        low = self.constants.array(node.input[1]).item() if len(node.input) > 1 and node.input[1] \
            else attribute(node, "min", -np.inf)
        high = self.constants.array(node.input[2]).item() if len(node.input) > 2 and node.input[2] \
            else attribute(node, "max", np.inf)
        return Clip(float(low), float(high))

    def act_quant(self, node) -> QuantSpec:
        where = f"node {node_label(node)!r} ({node.op_type})"
        for tensor in node.input[1:]:
            if not self.constants.is_constant(tensor):
                raise UnsupportedOpError(f"{where}: quantiser parameters are computed at run time",
                                         hint="export with constant scales (fold them into the graph)")
        if node.op_type == "BipolarQuant":
            return make_spec(where=where, bits=1, signed=True, narrow=False,
                             scale=self.constants.array(node.input[1]), zero_point=np.zeros(1),
                             bipolar=True)
        scale, zero_point, bits = (self.constants.array(t) for t in node.input[1:4])
        return make_spec(where=where, bits=bits, signed=attribute(node, "signed", 1),
                         narrow=attribute(node, "narrow", 0), scale=scale.reshape(-1) if scale.size > 1 else scale,
                         zero_point=zero_point, rounding=attribute(node, "rounding_mode", "ROUND"))

    # -- dense ops ---------------------------------------------------------------------------
    def dense(self, node, index: int, input_quant: QuantSpec | None) -> _OpenLayer:
        label = node_label(node)
        data = next(t for t in node.input if t and not self.constants.is_constant(t))
        if len(self.shape(data)) != 2:
            raise TopologyError(f"node {label!r} ({node.op_type}) multiplies a {len(self.shape(data))}-D tensor",
                                hint="flatten the input before the first dense layer")
        if node.op_type == "MatMul" and node.input[0] != data:
            raise UnsupportedOpError(f"node {label!r} (MatMul) has the weights on the left",
                                     hint="use x @ W with the data as the first operand")
        weight_name = node.input[1]
        weight = self.constants.value(weight_name)
        if weight.spec is None:
            raise FloatGraphError(
                f"node {label!r} ({node.op_type}): weight {weight_name!r} is floating point, not quantised",
                hint="export with a weight quantiser (Brevitas QuantLinear, QKeras quantized_bits)",
            )
        codes = weight.codes.astype(np.int64)
        spec = weight.spec
        transposed = node.op_type == "Gemm" and attribute(node, "transB", 0)
        if node.op_type == "Gemm" and attribute(node, "transA", 0):
            raise UnsupportedOpError(f"node {label!r} (Gemm) has transA=1", hint="export with transA=0")
        out_axis = 0 if transposed else 1
        scale = spec.scale
        if scale.size > 1:
            if scale.ndim != codes.ndim or scale.shape[1 - out_axis] != 1:
                raise UnsupportedOpError(
                    f"node {label!r}: weight scale of shape {scale.shape} varies along the input features",
                    hint="use per-tensor or per-output-channel weight scales")
            scale = scale.reshape(-1)
        alpha = float(attribute(node, "alpha", 1.0)) if node.op_type == "Gemm" else 1.0
        weight_matrix = codes if transposed else codes.T
        spec = QuantSpec(bits=spec.bits, signed=spec.signed, narrow=spec.narrow, scale=scale * alpha,
                         zero_point=np.zeros(1), rounding=spec.rounding, bipolar=spec.bipolar)
        bias = None
        if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
            beta = float(attribute(node, "beta", 1.0))
            bias = np.broadcast_to(self.constants.array(node.input[2]).reshape(-1),
                                   (weight_matrix.shape[0],)) * beta
        return _OpenLayer(name=f"dense{index}", weight=np.ascontiguousarray(weight_matrix),
                          weight_quant=spec, input_quant=input_quant,
                          bias=None if bias is None else np.array(bias, dtype=np.float64),
                          nodes=[label])

    # -- the whole graph ---------------------------------------------------------------------
    def run(self) -> tuple[InputTransform, list[DenseLayer], str]:
        input_name = data_inputs(self.model)[0].name
        input_shape = self.shape(input_name)
        features = int(np.prod(input_shape[1:]))
        pre_ops: list = []
        input_quant: QuantSpec | None = None
        layers: list[DenseLayer] = []
        current: _OpenLayer | None = None
        head = "none"
        for node in self.chain():
            op, label = node.op_type, node_label(node)
            if head != "none" and op not in SHAPE_OPS:
                raise TopologyError(f"node {label!r} ({op}) follows the output {head}",
                                    hint="the output head must be the last operation")
            if op in SHAPE_OPS or op == "Transpose":
                self._check_shape_op(node, current)
            elif op in HEAD_OPS:
                if current is None:
                    raise TopologyError(f"node {label!r} ({op}) comes before any dense layer",
                                        hint="export an MLP")
                head = HEAD_OPS[op]
            elif op in QUANT_OPS:
                spec = self.act_quant(node)
                if current is None:
                    if input_quant is not None:
                        pre_ops.append(FakeQuant(input_quant))
                    input_quant = spec
                else:
                    if current.output_quant is not None:
                        current.post.extend([FakeQuant(current.output_quant), *current.after_output])
                        current.after_output.clear()
                    current.output_quant = spec
                    current.nodes.append(label)
            elif op in DENSE_OPS:
                if current is None:
                    layer_input = input_quant
                else:
                    self._fold_trailing_ops(current)
                    if current.output_quant is not None and current.output_quant.per_channel:
                        raise UnsupportedOpError(
                            f"node {label!r}: per-channel activation scales at a layer input cannot be factored out of the integer dot product",
                            hint="use per-tensor activation scales")
                    layers.append(current.close())
                    layer_input = current.output_quant
                current = self.dense(node, len(layers), layer_input)
            elif op in AFFINE_OPS or op in NONLINEAR_OPS:
                width = features if current is None else current.weight.shape[0]
                operation = self.elementwise(node, width)
                if current is None:
                    if input_quant is not None:
                        pre_ops.append(FakeQuant(input_quant))
                        input_quant = None
                    pre_ops.append(operation)
                elif current.output_quant is not None:
                    current.after_output.append(operation)
                elif (op in ("Add", "Sub") and current.bias is None and not current.post
                      and np.all(operation.mul == 1)):
                    current.bias = np.array(operation.add, dtype=np.float64)
                    current.nodes.append(label)
                else:
                    current.post.append(operation)
                    current.nodes.append(label)
        if current is None:
            raise TopologyError("the graph has no dense (Gemm/MatMul) layer", hint="export an MLP")
        self._fold_trailing_ops(current)
        layers.append(current.close())
        for layer in layers:
            if layer.accumulator_bits is not None and layer.accumulator_bits > 63:
                raise BitWidthError(
                    f"layer {layer.name} ({layer.source_nodes[0]}) needs a {layer.accumulator_bits}-bit accumulator",
                    hint="reduce weight or activation bit widths so sums fit 63 bits")
        if layers[0].in_features != features:
            raise TopologyError(f"the first layer expects {layers[0].in_features} features, the input has {features}",
                                hint="check Reshape/Flatten before the first layer")
        return InputTransform(tuple(input_shape[1:]), tuple(pre_ops)), layers, head

    @staticmethod
    def _fold_trailing_ops(layer: _OpenLayer) -> None:
        """Ops after a layer's quantiser make its output float: keep the quantiser as a post op."""
        if layer.after_output:
            layer.post.extend([FakeQuant(layer.output_quant), *layer.after_output])
            layer.after_output.clear()
            layer.output_quant = None

    def _check_shape_op(self, node, current: _OpenLayer | None) -> None:
        in_shape = self.shape(next(t for t in node.input if t and not self.constants.is_constant(t)))
        out_shape = self.shape(node.output[0])
        if node.op_type == "Transpose":
            perm = attribute(node, "perm", None)
            moved = [d for axis, d in enumerate(perm or []) if d != axis and in_shape[d] != 1]
            if moved:
                raise UnsupportedOpError(f"node {node_label(node)!r} (Transpose) reorders features",
                                         hint="flatten in the model's native layout instead")
        if current is not None and int(np.prod(in_shape[1:])) != int(np.prod(out_shape[1:])):
            raise TopologyError(f"node {node_label(node)!r} ({node.op_type}) changes the feature count",
                                hint="codesign lowers MLPs")


def lower_to_layers(model, *, name: str, metadata: dict[str, str], source_path: str | None) -> LayerGraph:
    lowering = _Lowering(model)
    transform, layers, head = lowering.run()
    return LayerGraph(name=name, input_transform=transform, layers=tuple(layers), head=head,
                      metadata=metadata, source=model, source_path=source_path)


def _check_quant_inputs(node) -> None:
    """A quantiser with missing inputs is a malformed export, not something to guess around."""
    expected = QUANT_INPUTS.get(node.op_type)
    given = [name for name in node.input if name]
    if expected and len(given) != len(expected):
        raise UnsupportedOpError(
            f"node {node_label(node)!r} ({node.op_type}) has {len(given)} inputs, expected {len(expected)} "
            f"({', '.join(expected)})", hint="re-export the model; a QONNX quantiser needs all of its inputs")
