"""QONNX -> hls4ml project: exact graph rewrites, derived types, then hls4ml writes the project.

The model is cleaned and rewritten (``passes``), converted once to discover every constant
hls4ml introduces, given exact types (``types``), converted until the types are stable, and
written. hls4ml's precision inference then sizes accumulators and results from exact inputs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.errors import BackendError, ParameterError
from codesign.ir.graph import LayerGraph

from .types import derive_layer_types

DEFAULT_PRECISION = "fixed<16,6>"
DISCOVERY_ROUNDS = 4
STRATEGIES = ("Latency", "Resource")
IO_TYPES = ("io_parallel", "io_stream")
DEFAULT_PROJECT_NAME = "codesign_mlp"
PROJECT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class HlsSettings:
    """What the user controls; everything else is derived from the graph and the card."""

    part: str
    clock_period_ns: float
    clock_uncertainty: str = "12.5%"
    reuse_factor: int = 1
    strategy: str = "Latency"
    io_type: str = "io_parallel"
    backend: str = "Vitis"
    project_name: str = DEFAULT_PROJECT_NAME  # the top function and file names hls4ml writes
    layer_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # hls4ml LayerName config

    def __post_init__(self) -> None:
        if not isinstance(self.reuse_factor, int) or self.reuse_factor < 1:
            raise ParameterError(f"reuse_factor = {self.reuse_factor!r} must be a positive integer", hint="e.g. 1, 2, 4")
        if self.strategy not in STRATEGIES:
            raise ParameterError(f"strategy {self.strategy!r} is unknown", hint=f"use {' or '.join(STRATEGIES)}")
        if self.io_type not in IO_TYPES:
            raise ParameterError(f"io_type {self.io_type!r} is unknown", hint=f"use {' or '.join(IO_TYPES)}")
        if not isinstance(self.project_name, str) or not PROJECT_NAME.match(self.project_name):
            raise ParameterError(f"project_name {self.project_name!r} is not a C identifier",
                                 hint="letters, digits and _, starting with a letter, e.g. jet_tagger")
        if not self.clock_period_ns > 0:
            raise ParameterError(f"clock period {self.clock_period_ns!r} ns must be positive", hint="e.g. 5")


def prepare_qonnx(graph: LayerGraph):
    """The graph's cleaned QONNX, transformed as hls4ml's converter needs it: head removed,
    channels-last, Gemm -> MatMul + Add, then the exact rewrites of ``passes`` and remaining
    batch norms as Mul + Add (an ApplyAlpha with derived types)."""
    from qonnx.transformation.batchnorm_to_affine import BatchNormToAffine
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    from .passes import (
        BiasIntoAffine,
        BipolarThresholds,
        ChannelScalesAfterMatMul,
        FoldConstantQuantizers,
        InputAffineAfterMatMul,
        StripHead,
    )

    if graph.source is None:
        raise BackendError(f"model {graph.name!r} has no QONNX source", hint="load it with codesign.load(path)")
    model = cleanup_model(graph.source).transform(StripHead(), cleanup=False)
    model = model.transform(ConvertToChannelsLastAndClean())
    model = cleanup_model(model.transform(GemmToMatMul()))  # folds GemmToMatMul's weight Transpose
    for rewrite in (FoldConstantQuantizers(), ChannelScalesAfterMatMul(), BipolarThresholds(),
                    InputAffineAfterMatMul()):
        model = model.transform(rewrite, cleanup=False)
    model = cleanup_model(model)
    model = cleanup_model(model.transform(BatchNormToAffine()))
    return cleanup_model(model.transform(BiasIntoAffine(), cleanup=False))


def _convert(model, config: dict, settings: HlsSettings, out_dir: Path):
    import hls4ml

    return hls4ml.converters.convert_from_onnx_model(
        model, output_dir=str(out_dir), io_type=settings.io_type, backend=settings.backend, part=settings.part,
        clock_period=settings.clock_period_ns, clock_uncertainty=settings.clock_uncertainty, hls_config=config,
        project_name=settings.project_name)


def derive_config(graph: LayerGraph, settings: HlsSettings, scratch: Path) -> tuple[Any, dict]:
    """(prepared QONNX, hls4ml configuration with every non-quantiser type derived)."""
    import hls4ml

    model = prepare_qonnx(graph)
    config = quiet_stdout(lambda: hls4ml.utils.config.config_from_onnx_model(
        model, granularity="name", backend=settings.backend, default_precision=DEFAULT_PRECISION,
        default_reuse_factor=settings.reuse_factor))
    config["Model"]["Strategy"] = settings.strategy
    config["Model"]["ReuseFactor"] = settings.reuse_factor
    layers = config.setdefault("LayerName", {})
    derived: set[tuple[str, str]] = set()  # (layer, weight) types set here, re-derived every round
    # setting a type can change which layers hls4ml fuses (a Dense with a given result type no
    # longer absorbs a following scale), so convert until the derived types are stable
    for _ in range(DISCOVERY_ROUNDS):
        discovered = quiet_stdout(lambda: _convert(model, config, settings, scratch))
        before = repr(sorted((name, repr(entry.get("Precision"))) for name, entry in layers.items()))
        for layer in discovered.get_layers():
            derive_layer_types(layer, layers.setdefault(layer.name, {}), graph, settings.reuse_factor,
                               settings.strategy, derived)
        if repr(sorted((name, repr(entry.get("Precision"))) for name, entry in layers.items())) == before:
            break
    for name, override in settings.layer_overrides.items():
        if name not in layers:
            raise ParameterError(f"no hls4ml layer named {name!r} to override",
                                 hint=f"layers are: {', '.join(sorted(layers))}")
        for key, value in override.items():
            if key == "Precision" and isinstance(value, dict):
                layers[name]["Precision"].update(value)
            else:
                layers[name][key] = value
    return model, config


def quiet_stdout(action):
    """hls4ml prints its whole topology on every conversion; keep the terminal for our output."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return action()


CONVERTER_ERRORS = (RuntimeError, ValueError, KeyError, IndexError, AttributeError, TypeError, AssertionError)


def build_project(graph: LayerGraph, settings: HlsSettings, out_dir: str | os.PathLike,
                  final_dir: str | os.PathLike | None = None):
    """Write the hls4ml project (as hls4ml writes it, buildable by the vendor tools) to out_dir.

    ``final_dir`` is where out_dir will end up (exports are written to a staging directory and
    renamed); the project's ``hls4ml_config.yml`` names it, so hls4ml tools reading the config
    later find the project where it is. hls4ml's ``compile()`` writes the project again: call
    ``point_config_at`` after it."""
    import tempfile

    out_dir = Path(out_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="codesign-hls-discover-") as scratch:
            model, config = derive_config(graph, settings, Path(scratch))
        hls_model = quiet_stdout(lambda: _convert(model, config, settings, out_dir))
        quiet_stdout(hls_model.write)
        if final_dir is not None:
            point_config_at(out_dir, Path(final_dir))
    except CONVERTER_ERRORS as exc:  # hls4ml reports unsupported graphs with assorted exceptions
        message = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise BackendError(f"hls4ml cannot convert {graph.name!r}: {type(exc).__name__}: {message}",
                           hint="report the model; the crossbar and printed targets may still take it") from None
    return hls_model, config


def point_config_at(project: Path, final_dir: Path) -> None:
    """Replace the staging path in the written ``hls4ml_config.yml`` by the project's final one."""
    config = project / "hls4ml_config.yml"
    if not config.is_file():
        return
    staging = str(project)
    text = config.read_text()
    final = str(final_dir.resolve())
    text = re.sub(r"(?m)^OutputDir:.*$", lambda _: f"OutputDir: {final}", text)
    config.write_text(text.replace(staging, final))


def layer_types(hls_model) -> dict[str, dict[str, str]]:
    """Every hls4ml layer's result and constant types, for the report."""
    types = {}
    for layer in hls_model.get_layers():
        entry = {name: str(var.type.precision) for name, var in layer.variables.items()}
        entry.update({f"{name}_t": str(weight.type.precision) for name, weight in layer.weights.items()})
        types[layer.name] = {"class": layer.class_name, **entry}
    return types
