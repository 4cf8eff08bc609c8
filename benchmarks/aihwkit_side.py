"""The IBM aihwkit half of the crossbar benchmark: the same chips, configured to do the same work.

Runs a float MLP as an aihwkit analog MLP (``AnalogLinear`` tiles in an ``AnalogSequential``)
for many chip instances and times programming plus inference of every instance.  Both of
aihwkit's inference tiles can be used: its C++ simulator (``InferenceRPUConfig``) and its
batched torch tile (``TorchInferenceRPUConfig``).  Install aihwkit with
``benchmarks/install_aihwkit.sh``; aihwkit is imported lazily.

Every layer gets its own rpu_config (``LayerIO``), so that its converters equal codesign's:

* no noise management and no bound management (``NoiseManagementType.NONE``,
  ``BoundManagementType.NONE``): inputs are not rescaled per vector, saturated outputs are
  not re-run;
* DAC: fixed range ``inp_bound`` and step ``2 * inp_bound * inp_res`` equal to the layer's
  input quantiser (aihwkit rounds and clips the input exactly like the layer's activation
  quantiser, which makes it the inter-layer requantisation too);
* ADC: fixed ``out_bound`` and ``out_res`` equal to codesign's ADC of a tile, in aihwkit's
  normalised units (``weight_scaling_omega = 1``: the largest |weight| of a tile is 1);
* read noise: C++ tile ``w_noise`` with ``ADDITIVE_CONSTANT`` weight noise: a fresh Gaussian
  per output and input vector with std ``w_noise * ||x||``, as codesign's per-read noise.  The
  torch tile rejects ``w_noise`` (``AnalogMVM.check_support``); its per-read noise is
  ``out_noise``, a fresh Gaussian per output and input vector with a fixed std, set to
  ``w_noise`` times the RMS input norm of the layer's tiles (same number of fresh draws,
  same average std);
* programming noise: :func:`gaussian_programming_noise`, additive ``N(0, (sigma g_max)^2)`` on
  each conductance of a differential pair, clipped at 0; no drift, no drift compensation.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Any

import numpy as np
import torch

AIHWKIT_VERSION = "1.2.0"
G_MAX = 25.0
"""Conductance (uS) that the max |weight| of a tile maps to (aihwkit's default)."""
TILES = ("cpp", "torch")


def converter_resolution(bits: int) -> float:
    """aihwkit resolution of a ``bits``-bit converter over [-bound, bound]; ``0`` bits: off (-1).

    aihwkit's step is ``res * 2 * bound``; ``1 / (2**bits - 2)`` is its signed convention."""
    if bits == 0:
        return -1.0
    if bits < 2:
        raise ValueError(f"converter bits must be 0 (off) or >= 2, got {bits}")
    return 1.0 / (2**bits - 2)


@dataclasses.dataclass(frozen=True)
class LayerIO:
    """The forward (IOParameters) settings of one layer's tiles."""

    inp_bound: float  # DAC range [-inp_bound, inp_bound], real input units
    inp_res: float  # DAC step / (2 inp_bound); <= 0: no input quantisation
    out_bound: float  # ADC range in normalised tile units; <= 0: no clipping
    out_res: float  # ADC step / (2 out_bound); <= 0: no output quantisation
    w_noise: float = 0.0  # read noise per weight (normalised units), times ||x|| per read (C++ tile)
    out_noise: float = 0.0  # fixed-std per-read output noise (the torch tile's stand-in for w_noise)
    prog_sigma: float = 0.0  # programming noise per conductance, fraction of g_max


@functools.cache
def _noise_model_class() -> type:
    """The programming-noise model class (built lazily: it subclasses an aihwkit class)."""
    from aihwkit.inference.converter.conductance import SinglePairConductanceConverter
    from aihwkit.inference.noise.base import BaseNoiseModel

    class GaussianProgrammingNoise(BaseNoiseModel):
        """Additive Gaussian programming noise on each conductance of a differential pair
        (the tile's max |w| at ``g_max``), clipped at 0; no drift."""

        def __init__(self, prog_sigma: float, g_max: float = G_MAX) -> None:
            super().__init__(SinglePairConductanceConverter(g_max=g_max, g_min=0.0))
            self.prog_sigma = float(prog_sigma)
            self.g_max = float(g_max)

        def apply_programming_noise_to_conductance(self, g_target: torch.Tensor) -> torch.Tensor:
            if self.prog_sigma <= 0.0:
                return g_target
            noise = torch.randn_like(g_target) * (self.prog_sigma * self.g_max)
            return (g_target + noise).clamp_(min=0.0)

        def apply_drift_noise_to_conductance(self, g_prog: torch.Tensor, drift_noise_param: torch.Tensor | None,
                                             t_inference: float) -> torch.Tensor:
            return g_prog

    return GaussianProgrammingNoise


def gaussian_programming_noise(prog_sigma: float, g_max: float = G_MAX) -> Any:
    """A ``BaseNoiseModel``: additive ``N(0, (prog_sigma * g_max)**2)`` per conductance."""
    return _noise_model_class()(prog_sigma, g_max)


def make_rpu_config(io: LayerIO, *, tile: str, tile_rows: int, tile_cols: int) -> Any:
    """The rpu_config of one layer (see the module docstring)."""
    from aihwkit.simulator.configs import InferenceRPUConfig, TorchInferenceRPUConfig
    from aihwkit.simulator.parameters.enums import (
        BoundManagementType,
        NoiseManagementType,
        WeightNoiseType,
    )

    if tile not in TILES:
        raise ValueError(f"tile must be one of {TILES}, got {tile!r}")
    config = InferenceRPUConfig() if tile == "cpp" else TorchInferenceRPUConfig()
    fwd = config.forward
    fwd.noise_management = NoiseManagementType.NONE
    fwd.bound_management = BoundManagementType.NONE
    fwd.inp_bound, fwd.inp_res = float(io.inp_bound), float(io.inp_res)
    fwd.out_bound, fwd.out_res = float(io.out_bound), float(io.out_res)
    fwd.inp_noise = 0.0
    if tile == "cpp":
        fwd.out_noise = 0.0
        fwd.w_noise_type = WeightNoiseType.ADDITIVE_CONSTANT if io.w_noise > 0 else WeightNoiseType.NONE
        fwd.w_noise = float(io.w_noise)
    else:
        fwd.out_noise = float(io.out_noise)
        fwd.w_noise_type = WeightNoiseType.NONE
        fwd.w_noise = 0.0
    config.noise_model = gaussian_programming_noise(io.prog_sigma)
    config.drift_compensation = None
    config.mapping.digital_bias = True
    config.mapping.weight_scaling_omega = 1.0
    config.mapping.weight_scaling_columnwise = False
    config.mapping.max_input_size = int(tile_rows)
    config.mapping.max_output_size = int(tile_cols)
    return config


def _plain(value: Any) -> Any:
    """Convert aihwkit config values (enums, dataclasses) to plain Python types."""
    if isinstance(value, Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return repr(value)


def describe_settings(configs: Sequence[Any], model: torch.nn.Module) -> dict[str, Any]:
    """The aihwkit settings that matter here, in plain Python types."""
    noise = configs[0].noise_model
    return {
        "rpu_config": type(configs[0]).__name__,
        "forward_per_layer": [_plain(c.forward) for c in configs],
        "mapping": _plain(configs[0].mapping),
        "noise_model": {"class": type(noise).__name__, "prog_sigma_per_layer": [c.noise_model.prog_sigma for c in configs],
                        "g_max": noise.g_converter.g_max, "g_min": noise.g_converter.g_min,
                        "clip_negative_conductance": True, "drift": None},
        "drift_compensation": None,
        "tiles": [{"layer": name, "module": type(layer.analog_module).__name__,
                   "tile_shapes": [[t.out_size, t.in_size] for t in layer.analog_tiles()]}
                  for name, layer in model.named_analog_layers()],
    }


def build_model(layers: Sequence[dict[str, Any]], configs: Sequence[Any]) -> torch.nn.Module:
    """An ``AnalogSequential`` of ``AnalogLinear`` (+ ``ReLU``) with the given float weights."""
    from aihwkit.nn import AnalogLinear, AnalogSequential

    modules: list[torch.nn.Module] = []
    for index, (layer, config) in enumerate(zip(layers, configs, strict=True)):
        weight = torch.as_tensor(np.asarray(layer["weight"], dtype=np.float32))
        bias = layer.get("bias")
        out_features, in_features = weight.shape
        linear = AnalogLinear(in_features, out_features, bias=bias is not None, rpu_config=config)
        linear.set_weights(weight, None if bias is None else torch.as_tensor(np.asarray(bias, dtype=np.float32)))
        modules.append(linear)
        activation = layer.get("activation")
        if activation == "relu":
            modules.append(torch.nn.ReLU())
        elif activation is not None:
            raise ValueError(f"layer {index}: unsupported activation {activation!r}")
    model = AnalogSequential(*modules)
    model.eval()
    return model


def _openblas() -> ctypes.CDLL | None:
    """The OpenBLAS that aihwkit's simulator links against, if it can be found."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_num_threads.restype = ctypes.c_int
        return lib
    except (OSError, AttributeError):
        return None


@contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` torch (and OpenBLAS) threads, restoring the old counts after."""
    if threads is None:
        yield
        return
    blas = _openblas()
    old_torch = torch.get_num_threads()
    old_blas = blas.openblas_get_num_threads() if blas else None
    torch.set_num_threads(threads)
    if blas:
        blas.openblas_set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old_torch)
        if blas and old_blas:
            blas.openblas_set_num_threads(old_blas)


def run_aihwkit(layers: Sequence[dict[str, Any]], x: np.ndarray, *, ios: Sequence[LayerIO], tile: str = "cpp",
                instances: int, tile_rows: int, tile_cols: int, seed: int = 0,
                batch: int = 10000, threads: int | None = None, keep: str = "first") -> dict[str, Any]:
    """Time ``instances`` chip instances of the MLP on all of ``x`` in aihwkit.

    Each instance is programmed anew (programming noise drawn after ``torch.manual_seed(seed +
    instance)``), then all inputs run through it in eval mode in batches of ``batch``.  The timed
    region covers programming and inference of every instance, not model construction.  Read
    noise comes from aihwkit's own generators (the C++ tile's is clock-seeded).  ``keep``:
    'first' returns the first instance's logits, 'predictions' every instance's class indices.
    """
    import aihwkit

    if instances < 1:
        raise ValueError("instances must be >= 1")
    x_np = np.ascontiguousarray(x, dtype=np.float32)
    configs = [make_rpu_config(io, tile=tile, tile_rows=tile_rows, tile_cols=tile_cols)
               for io in ios]
    predictions = []
    with _threads(threads), torch.no_grad():
        model = build_model(layers, configs)
        x_t = torch.from_numpy(x_np)
        batches = [x_t[start:start + batch] for start in range(0, x_np.shape[0], batch)]
        first_logits: np.ndarray | None = None
        start_time = time.perf_counter()
        for instance in range(instances):
            torch.manual_seed(seed + instance)
            model.program_analog_weights()
            outputs = [model(chunk) for chunk in batches]
            if instance == 0:
                first_logits = torch.cat(outputs).numpy()
            if keep == "predictions":
                predictions.append(torch.cat(outputs).argmax(-1).numpy())
        seconds = time.perf_counter() - start_time
        used_threads = torch.get_num_threads()
        blas = _openblas()
        blas_threads = blas.openblas_get_num_threads() if blas else None
    settings = describe_settings(configs, model)
    settings.update(tile=tile, tile_rows=tile_rows, tile_cols=tile_cols, seed=seed,
                    batch=batch, torch_threads=used_threads, openblas_threads=blas_threads,
                    layer_io=[dataclasses.asdict(io) for io in ios])
    return {"seconds": seconds, "instances": instances, "samples": x_np.shape[0],
            "instance_inferences": instances * x_np.shape[0],
            "inferences_per_s": instances * x_np.shape[0] / seconds, "logits": first_logits,
            "predictions": np.stack(predictions) if predictions else None, "settings": settings,
            "aihwkit_version": aihwkit.__version__}
