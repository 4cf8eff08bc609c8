"""Brevitas quantisation-aware training and QONNX export (needs the ``train`` extra: torch, brevitas)."""

import codesign.quant.brevitas_import  # noqa: F401  (first: imports brevitas quietly)
from codesign.quant.mlp import MLPConfig, Topology, build_mlp
from codesign.quant.train import TrainConfig, TrainResult, train

__all__ = ["MLPConfig", "Topology", "TrainConfig", "TrainResult", "build_mlp", "train"]
