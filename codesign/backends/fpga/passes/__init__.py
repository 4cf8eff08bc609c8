"""Exact graph rewrites applied before hls4ml's QONNX converter, as qonnx transformations.

Each pass is a ``qonnx.transformation.base.Transformation`` (``apply(model) -> (model,
changed)``), one per file, so it mixes with qonnx's own: ``model.transform(StripHead())``.
Every rewrite computes exactly what the original graph computes; each one replaces a construct
that hls4ml's converter gets wrong (see each pass's docstring for the failure it avoids).
"""

from .bias_into_affine import BiasIntoAffine
from .bipolar_thresholds import BipolarThresholds
from .channel_scales import ChannelScalesAfterMatMul
from .fold_constant_quantizers import FoldConstantQuantizers
from .input_affine import InputAffineAfterMatMul
from .strip_head import StripHead

__all__ = ["BiasIntoAffine", "BipolarThresholds", "ChannelScalesAfterMatMul", "FoldConstantQuantizers", "InputAffineAfterMatMul",
           "StripHead"]
