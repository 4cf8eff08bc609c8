"""The IBM aihwkit half of the crossbar throughput benchmark.

Runs a float MLP as an aihwkit analog MLP (``AnalogLinear`` tiles in an
``AnalogSequential``, ``InferenceRPUConfig``) for many simulated chip
instances and times it. Install aihwkit with ``benchmarks/install_aihwkit.sh``;
aihwkit is imported lazily, so this module imports without it.

Non-idealities (everything else is off or ideal):

* DAC: ``forward.inp_res`` for ``dac_bits`` bits, aihwkit's signed convention
  ``1 / (2**bits - 2)`` over ``[-inp_bound, inp_bound]`` (inputs are abs-max
  normalised per vector first); ``0`` turns quantisation off.
* ADC: ``forward.out_res`` likewise over ``[-out_bound, out_bound]``; ``0``
  turns the ADC off (no quantisation and no output clipping).
* read noise: ``forward.w_noise = read_sigma`` with ``ADDITIVE_CONSTANT``
  weight noise, drawn anew for every input vector; with
  ``weight_scaling_omega = 1`` the tile weights span ``[-1, 1]``, so the std is
  ``read_sigma`` times the tile's max ``|w|``. No output noise.
* programming noise: :func:`gaussian_programming_noise`, an additive
  ``N(0, (prog_sigma * g_max)**2)`` on each conductance of a differential pair,
  clipped at 0; no drift and no drift compensation.
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


def converter_resolution(bits: int) -> float:
    """aihwkit resolution (fraction of the full range) of a signed ``bits``-bit converter.

    ``0`` means off: aihwkit reads a resolution ``<= 0`` as infinitely many steps.
    """
    if bits == 0:
        return -1.0
    if bits < 2:
        raise ValueError(f"converter bits must be 0 (off) or >= 2, got {bits}")
    return 1.0 / (2**bits - 2)


@functools.cache
def _noise_model_class() -> type:
    """The programming-noise model class (built lazily: it subclasses an aihwkit class)."""
    from aihwkit.inference.converter.conductance import SinglePairConductanceConverter
    from aihwkit.inference.noise.base import BaseNoiseModel

    class GaussianProgrammingNoise(BaseNoiseModel):
        """Additive Gaussian programming noise on each conductance; no drift.

        Weights map onto a differential pair (g+, g-) in ``[0, g_max]`` with the
        tile's max |w| at ``g_max``; each conductance gets ``N(0, (sigma * g_max)**2)``
        and is clipped at 0 (a conductance cannot be negative).
        """

        def __init__(self, prog_sigma: float, g_max: float = G_MAX) -> None:
            super().__init__(SinglePairConductanceConverter(g_max=g_max, g_min=0.0))
            self.prog_sigma = float(prog_sigma)
            self.g_max = float(g_max)

        def apply_programming_noise_to_conductance(self, g_target: torch.Tensor) -> torch.Tensor:
            if self.prog_sigma <= 0.0:
                return g_target
            noise = torch.randn_like(g_target) * (self.prog_sigma * self.g_max)
            return (g_target + noise).clamp_(min=0.0)

        def apply_drift_noise_to_conductance(
            self, g_prog: torch.Tensor, drift_noise_param: torch.Tensor | None, t_inference: float
        ) -> torch.Tensor:
            return g_prog

    return GaussianProgrammingNoise


def gaussian_programming_noise(prog_sigma: float, g_max: float = G_MAX) -> Any:
    """A ``BaseNoiseModel``: additive ``N(0, (prog_sigma * g_max)**2)`` per conductance."""
    return _noise_model_class()(prog_sigma, g_max)


def make_rpu_config(
    *,
    prog_sigma: float,
    read_sigma: float,
    dac_bits: int,
    adc_bits: int,
    tile_rows: int,
    tile_cols: int,
) -> Any:
    """The ``InferenceRPUConfig`` for the benchmark (see the module docstring)."""
    from aihwkit.simulator.configs import InferenceRPUConfig
    from aihwkit.simulator.parameters.enums import WeightNoiseType

    config = InferenceRPUConfig()
    fwd = config.forward
    fwd.inp_res = converter_resolution(dac_bits)
    fwd.out_res = converter_resolution(adc_bits)
    if adc_bits == 0:
        fwd.out_bound = -1.0  # <= 0: no output clipping
    fwd.out_noise = 0.0
    fwd.w_noise_type = WeightNoiseType.ADDITIVE_CONSTANT if read_sigma > 0 else WeightNoiseType.NONE
    fwd.w_noise = float(read_sigma)
    config.noise_model = gaussian_programming_noise(prog_sigma)
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
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return repr(value)


def describe_settings(config: Any, model: torch.nn.Module) -> dict[str, Any]:
    """The aihwkit settings that matter here, in plain Python types."""
    noise = config.noise_model
    return {
        "rpu_config": type(config).__name__,
        "forward": _plain(config.forward),
        "mapping": _plain(config.mapping),
        "noise_model": {
            "class": type(noise).__name__,
            "prog_sigma": noise.prog_sigma,
            "g_max": noise.g_converter.g_max,
            "g_min": noise.g_converter.g_min,
            "g_converter": type(noise.g_converter).__name__,
            "clip_negative_conductance": True,
            "drift": None,
        },
        "drift_compensation": None if config.drift_compensation is None
        else type(config.drift_compensation).__name__,
        "clip": _plain(config.clip.type),
        "modifier": _plain(config.modifier.type),
        "input_range_learning": bool(config.pre_post.input_range.enable),
        "tiles": [
            {
                "layer": name,
                "module": type(layer.analog_module).__name__,
                "tile_shapes": [[t.out_size, t.in_size] for t in layer.analog_tiles()],
            }
            for name, layer in model.named_analog_layers()
        ],
    }


def build_model(layers: Sequence[dict[str, Any]], config: Any) -> torch.nn.Module:
    """An ``AnalogSequential`` of ``AnalogLinear`` (+ ``ReLU``) with the given float weights."""
    from aihwkit.nn import AnalogLinear, AnalogSequential

    modules: list[torch.nn.Module] = []
    for index, layer in enumerate(layers):
        weight = torch.as_tensor(np.asarray(layer["weight"], dtype=np.float32))
        bias = layer.get("bias")
        out_features, in_features = weight.shape
        linear = AnalogLinear(in_features, out_features, bias=bias is not None, rpu_config=config)
        linear.set_weights(
            weight, None if bias is None else torch.as_tensor(np.asarray(bias, dtype=np.float32))
        )
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


def run_aihwkit(
    layers: Sequence[dict[str, Any]],
    x: np.ndarray,
    *,
    instances: int,
    prog_sigma: float,
    read_sigma: float,
    dac_bits: int,
    adc_bits: int,
    tile_rows: int,
    tile_cols: int,
    seed: int = 0,
    batch: int = 10000,
    threads: int | None = None,
) -> dict[str, Any]:
    """Time ``instances`` chip instances of the MLP on all of ``x`` in aihwkit.

    Each instance is programmed anew (programming noise drawn after
    ``torch.manual_seed(seed + instance)``), then all inputs run through it in
    eval mode in batches of ``batch``. The timed region covers programming and
    inference of every instance, not model construction. The read noise is
    drawn by aihwkit's C++ simulator from its own clock-seeded RNG, so it is
    not reproducible. Returns timing, the first instance's logits and the
    settings used.
    """
    import aihwkit

    if instances < 1:
        raise ValueError("instances must be >= 1")
    x_np = np.ascontiguousarray(x, dtype=np.float32)
    n_samples = x_np.shape[0]
    config = make_rpu_config(
        prog_sigma=prog_sigma, read_sigma=read_sigma, dac_bits=dac_bits, adc_bits=adc_bits,
        tile_rows=tile_rows, tile_cols=tile_cols,
    )
    with _threads(threads), torch.no_grad():
        model = build_model(layers, config)
        x_t = torch.from_numpy(x_np)
        batches = [x_t[start:start + batch] for start in range(0, n_samples, batch)]
        first_logits: np.ndarray | None = None
        start_time = time.perf_counter()
        for instance in range(instances):
            torch.manual_seed(seed + instance)
            model.program_analog_weights()
            outputs = [model(chunk) for chunk in batches]
            if instance == 0:
                first_logits = torch.cat(outputs).numpy()
        seconds = time.perf_counter() - start_time
        used_threads = torch.get_num_threads()
        blas = _openblas()
        blas_threads = blas.openblas_get_num_threads() if blas else None

    settings = describe_settings(config, model)
    settings.update(
        dac_bits=dac_bits, adc_bits=adc_bits, prog_sigma=prog_sigma, read_sigma=read_sigma,
        tile_rows=tile_rows, tile_cols=tile_cols, seed=seed, batch=batch,
        torch_threads=used_threads, openblas_threads=blas_threads,
    )
    return {
        "seconds": seconds,
        "instances": instances,
        "samples": n_samples,
        "instance_inferences": instances * n_samples,
        "inferences_per_s": instances * n_samples / seconds,
        "logits": first_logits,
        "settings": settings,
        "aihwkit_version": aihwkit.__version__,
    }
