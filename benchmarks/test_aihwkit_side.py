"""Sanity checks of the aihwkit benchmark side (needs aihwkit: benchmarks/install_aihwkit.sh).

Not part of the default suite (testpaths = tests); run with
``.venv/bin/python -m pytest benchmarks/test_aihwkit_side.py``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("aihwkit")


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
side = importlib.import_module("benchmarks.aihwkit_side")

Layers = list[dict[str, Any]]


def float_forward(layers: Layers, x: np.ndarray) -> np.ndarray:
    """Plain float torch forward of the layer list."""
    h = torch.from_numpy(x)
    for layer in layers:
        h = h @ torch.from_numpy(layer["weight"]).T
        if layer["bias"] is not None:
            h = h + torch.from_numpy(layer["bias"])
        if layer["activation"] == "relu":
            h = torch.relu(h)
    return h.numpy()


def random_mlp(sizes: list[int], rng: np.random.Generator) -> Layers:
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = index == len(sizes) - 2
        layers.append({
            "weight": (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32),
            "bias": None if index == 1 else (0.1 * rng.standard_normal(n_out)).astype(np.float32),
            "activation": None if last else "relu",
        })
    return layers


def trained_mlp(rng: np.random.Generator) -> tuple[Layers, np.ndarray]:
    """A small 16-32-32-5 MLP trained on noisy class prototypes in [0, 1]^16, and test inputs."""
    n_classes, n_in = 5, 16
    prototypes = rng.random((n_classes, n_in)).astype(np.float32)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, n_classes, n)
        x = prototypes[labels] + 0.25 * rng.standard_normal((n, n_in)).astype(np.float32)
        return np.clip(x, 0.0, 1.0).astype(np.float32), labels

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(n_in, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, n_classes),
    )
    x_train, y_train = sample(2000)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(300):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x_train)),
                                                 torch.from_numpy(y_train))
        loss.backward()
        optimizer.step()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = [
        {
            "weight": m.weight.detach().numpy().copy(),
            "bias": m.bias.detach().numpy().copy(),
            "activation": None if i == len(linears) - 1 else "relu",
        }
        for i, m in enumerate(linears)
    ]
    return layers, sample(2000)[0]


def _ios(layers: Layers, x: np.ndarray, **values: float) -> list:
    """Per-layer settings: a DAC range covering each layer's inputs, everything else from ``values``."""
    ios, h = [], x
    for layer in layers:
        bound = float(np.abs(h).max()) or 1.0
        ios.append(side.LayerIO(**{"inp_bound": bound, "inp_res": -1.0, "out_bound": -1.0, "out_res": -1.0,
                                   **values}))
        h = float_forward([layer], h)
    return ios


@pytest.mark.parametrize("tile", side.TILES)
def test_ideal_settings_match_float_forward(tile: str) -> None:
    rng = np.random.default_rng(1)
    # 300 inputs on 128-row tiles and 40 outputs on 32-column tiles: a mapped tile array.
    layers = random_mlp([300, 40, 24, 7], rng)
    x = rng.random((500, 300), dtype=np.float32)
    result = side.run_aihwkit(layers, x, ios=_ios(layers, x), tile=tile, instances=2, tile_rows=128, tile_cols=32,
                              batch=128, threads=1)
    expected = float_forward(layers, x)
    assert result["logits"].shape == expected.shape
    rel = np.abs(result["logits"] - expected).max() / np.abs(expected).max()
    assert rel < 1e-4
    assert result["instance_inferences"] == 2 * 500
    assert result["inferences_per_s"] == pytest.approx(1000 / result["seconds"])
    assert result["aihwkit_version"] == side.AIHWKIT_VERSION
    shapes = result["settings"]["tiles"][0]["tile_shapes"]
    assert len(shapes) == 3 * 2  # ceil(300 / 128) x ceil(40 / 32)
    forward = result["settings"]["forward_per_layer"][0]
    assert forward["noise_management"] == "NONE" and forward["bound_management"] == "NONE"


def test_fixed_dac_range_quantises_and_clips_like_an_activation_quantiser() -> None:
    """inp_bound and inp_res give the grid step 2 * bound * res and clip at the bound."""
    layers = [{"weight": np.eye(4, dtype=np.float32), "bias": None, "activation": None}]
    x = np.array([[0.0, 0.26, 0.74, 3.0]], dtype=np.float32)
    io = side.LayerIO(inp_bound=1.0, inp_res=1 / 8, out_bound=-1.0, out_res=-1.0)  # step 0.25, range [-1, 1]
    out = side.run_aihwkit(layers, x, ios=[io], tile="cpp", instances=1, tile_rows=8, tile_cols=8, threads=1)
    np.testing.assert_allclose(out["logits"], [[0.0, 0.25, 0.75, 1.0]], atol=1e-6)


@pytest.mark.parametrize("tile", side.TILES)
def test_noisy_predictions_mostly_agree(tile: str) -> None:
    rng = np.random.default_rng(2)
    layers, x = trained_mlp(rng)
    clean = float_forward(layers, x).argmax(1)
    noisy = _ios(layers, x, w_noise=0.01 if tile == "cpp" else 0.0, out_noise=0.0 if tile == "cpp" else 0.05,
                 prog_sigma=0.058)
    result = side.run_aihwkit(layers, x, ios=noisy, tile=tile, instances=3, tile_rows=256, tile_cols=256, seed=5)
    agreement = (result["logits"].argmax(1) == clean).mean()
    assert agreement >= 0.9
    assert np.abs(result["logits"] - float_forward(layers, x)).max() > 1e-3  # noise is on

    # Programming noise is drawn from torch's seeded RNG: same seed, same chip.
    prog_only = _ios(layers, x, prog_sigma=0.058)
    first = side.run_aihwkit(layers, x, ios=prog_only, tile=tile, instances=1, tile_rows=256, tile_cols=256, seed=5)
    again = side.run_aihwkit(layers, x, ios=prog_only, tile=tile, instances=1, tile_rows=256, tile_cols=256, seed=5)
    other = side.run_aihwkit(layers, x, ios=prog_only, tile=tile, instances=1, tile_rows=256, tile_cols=256, seed=6)
    np.testing.assert_array_equal(first["logits"], again["logits"])
    assert np.abs(first["logits"] - other["logits"]).max() > 1e-3
