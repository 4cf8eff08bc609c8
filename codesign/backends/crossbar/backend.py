"""The crossbar target: ``lower`` writes conductance maps, the mapping report and the estimate."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from codesign.artifact import Artifact, atomic_directory
from codesign.cards import Card
from codesign.errors import ParameterError
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph

from .cost import estimate_mapping, measured_activity
from .mapping import conductance_tiles, map_graph, stored_levels

MAPPING_OPTIONS = ("input_bits", "input_full_scale", "input_signed")


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"codesign": version("codesign"), "numpy": np.__version__}


def _check_options(options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ParameterError(f"unknown crossbar option {unknown[0]!r}", hint=f"use {', '.join(allowed)}")


def _mapping_options(options: dict[str, Any]) -> dict[str, Any]:
    return {key: options[key] for key in MAPPING_OPTIONS if key in options}


class CrossbarBackend:
    """Resistive crossbar tiles: mapping, conductance maps and an analytical cost estimate."""

    name = "crossbar"
    family = "crossbar"

    def estimate(self, graph: LayerGraph, card: Card, *, x: np.ndarray | None = None, **options: Any) -> Estimate:
        """Per-inference cost; with inputs ``x`` the drive activity is measured on them."""
        _check_options(options, MAPPING_OPTIONS)
        mapping = map_graph(graph, card, **_mapping_options(options))
        activities = None
        if x is not None:
            from codesign.ir.reference import prepare_inputs

            codes = _layer_inputs(mapping, prepare_inputs(graph, x))
            activities = [measured_activity(c, m) for c, m in zip(codes, mapping.layers, strict=True)]
        return estimate_mapping(graph, mapping, card, activities=activities, versions=_versions())

    def lower(self, graph: LayerGraph, card: Card, out_dir: str | os.PathLike, *, overwrite: bool = False,
              **options: Any) -> Artifact:
        _check_options(options, MAPPING_OPTIONS)
        mapping = map_graph(graph, card, **_mapping_options(options))
        estimate = estimate_mapping(graph, mapping, card, versions=_versions())
        g_min, g_max = card.array.g_min.value, card.array.g_max.value
        with atomic_directory(out_dir, overwrite=overwrite) as staging:
            maps = staging / "conductance"
            maps.mkdir()
            for layer, lmap in zip(mapping.graph_layers, mapping.layers, strict=True):
                levels = stored_levels(layer.weight, lmap)
                np.savez_compressed(maps / f"{lmap.name}.npz", levels=levels.astype(np.int8),
                                    **conductance_tiles(levels, lmap, g_min, g_max))
            report = {"model": graph.name, "card": card.name, "card_hash": card.content_hash,
                      "units": {"conductance": "S", "area": "mm^2"}, **mapping.to_dict()}
            (staging / "mapping.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            estimate.save(staging / "estimate.json")
        summary = {"tiles": mapping.tiles, "energy_j": estimate.energy_j, "latency_s": estimate.latency_s,
                   "area_mm2": estimate.area_mm2}
        return Artifact.from_directory(self.name, Path(out_dir), summary)


def _layer_inputs(mapping, values: np.ndarray) -> list[np.ndarray]:
    """Integer input codes of every layer on real data (the integer reference's activations)."""
    from codesign.ir.reference import run_layer

    current = mapping.graph_layers[0].input_quant.quantize(values)
    codes = []
    for layer in mapping.graph_layers:
        codes.append(current)
        _, value, out = run_layer(layer, current)
        current = out if out is not None else value
    return codes
