"""QONNX -> validated, backend-neutral layer graph, and its integer reference execution."""

from codesign.ir.graph import DenseLayer, InputTransform, LayerGraph
from codesign.ir.loader import load
from codesign.ir.quantspec import QuantSpec
from codesign.ir.reference import Execution, execute

__all__ = ["DenseLayer", "Execution", "InputTransform", "LayerGraph", "QuantSpec", "execute", "load"]
