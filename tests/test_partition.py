"""Cutting a graph between targets keeps its function exactly."""

from __future__ import annotations

import numpy as np
import pytest
from graphs import brevitas_mlp, save

from codesign.errors import ParameterError
from codesign.ir import execute, load
from codesign.ir.crosscheck import random_inputs
from codesign.ir.partition import split


def test_front_then_back_equals_the_whole_graph(tmp_path):
    graph = load(save(brevitas_mlp((9, 7, 5, 3), seed=4), tmp_path / "m.onnx"))
    x = random_inputs(graph, 500, seed=1)
    for at in (1, 2):
        front, back = split(graph, at)
        assert len(front.layers) == at and len(back.layers) == 3 - at
        middle = execute(front, x).logits  # dequantised codes of the cut layer
        assert np.array_equal(execute(back, middle).logits, execute(graph, x).logits)


def test_cut_needs_a_quantised_boundary_inside_the_graph(tmp_path):
    graph = load(save(brevitas_mlp((6, 4, 3), seed=1), tmp_path / "m.onnx"))
    for at in (0, 2):
        with pytest.raises(ParameterError, match="cut position"):
            split(graph, at)
