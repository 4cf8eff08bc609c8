"""The crossbar target: ``lower`` writes conductance maps, the mapping report and the estimate."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from codesign.artifact import Artifact, atomic_directory
from codesign.backends.base import check_options, tool_versions
from codesign.cards import Card
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph
from codesign.ir.reference import execute

from .cost import estimate_mapping, measured_activity
from .mapping import conductance_tiles, map_graph, stored_levels

MAPPING_OPTIONS = ("input_bits", "input_full_scale", "input_signed")


def _versions() -> dict[str, str]:
    return tool_versions("codesign", "numpy")


def _mapping_options(options: dict[str, Any]) -> dict[str, Any]:
    return {key: options[key] for key in MAPPING_OPTIONS if key in options}


class CrossbarBackend:
    """Resistive crossbar tiles: mapping, conductance maps and an analytical cost estimate."""

    name = "crossbar"
    family = "crossbar"

    def estimate(self, graph: LayerGraph, card: Card, *, x: np.ndarray | None = None, **options: Any) -> Estimate:
        """Per-inference cost; with inputs ``x`` the drive activity is measured on them."""
        check_options(self.name, options, MAPPING_OPTIONS)
        mapping = map_graph(graph, card, **_mapping_options(options))
        activities = None
        if x is not None:  # layer inputs on real data: the integer reference of the mapped graph
            mapped = replace(graph, layers=mapping.graph_layers)
            codes = execute(mapped, x).codes[:len(mapping.layers)]
            activities = [measured_activity(c, m) for c, m in zip(codes, mapping.layers, strict=True)]
        return estimate_mapping(graph, mapping, card, activities=activities, versions=_versions())

    def lower(self, graph: LayerGraph, card: Card, out_dir: str | os.PathLike, *, overwrite: bool = False,
              **options: Any) -> Artifact:
        check_options(self.name, options, MAPPING_OPTIONS)
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

