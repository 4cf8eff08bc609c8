"""The crossbar target: ``lower`` writes conductance maps, the mapping report and the estimate."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from codesign.artifact import Artifact, atomic_directory
from codesign.backends.base import BackendBase, Evaluation, tool_versions
from codesign.cards import Card
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph
from codesign.ir.reference import execute
from codesign.options import Option, OptionSchema

from .cost import estimate_mapping, measured_activity
from .mapping import conductance_tiles, map_graph, stored_levels

if TYPE_CHECKING:  # pragma: no cover
    from codesign.data import Dataset

MAPPING_OPTIONS = ("input_bits", "input_full_scale", "input_signed")
_ALL = frozenset({"estimate", "export", "sweep"})
_CHIPS = frozenset({"export", "sweep"})
OPTIONS = OptionSchema((
    Option("input_bits", "int", None, "DAC resolution for a float model input (default 8; a quantised input keeps its bits)",
           low=1, high=16, commands=_ALL),
    Option("input_full_scale", "float", 1.0, "largest |input| the DAC covers, for a float model input",
           low=0.0, low_open=True, commands=_ALL),
    Option("input_signed", "bool", False, "the DAC range is symmetric around 0 (float model input)", commands=_ALL),
    Option("data", "str", None, "labelled data (CSV, uci:NAME or a scikit-learn set): drive activity on its test "
           "split and, on export, the Monte-Carlo accuracy of the written chip", commands=frozenset({"estimate", "export"})),
    Option("instances", "int", 100, "chip instances of the Monte-Carlo accuracy (export with data, sweeps)",
           low=1, high=1_000_000, commands=_CHIPS, sweep_default=20),
    Option("seed", "int", 0, "seed of the data split and of the simulated chip instances", low=0, high=2**32 - 1,
           commands=frozenset({"estimate", "export"})),
    Option("read_noise_source", "choice", "philox", "fresh read noise of the Monte-Carlo chips: counter-based "
           "Philox (fast) or seeded torch generators (reference)", choices=("philox", "torch"), commands=_CHIPS),
    Option("device", "str", "cpu", "torch device of the Monte-Carlo chip simulation (e.g. cpu, cuda)",
           commands=_CHIPS),
))


def _versions() -> dict[str, str]:
    return tool_versions("codesign", "numpy")


def _mapping_options(options: dict[str, Any]) -> dict[str, Any]:
    return {key: options[key] for key in MAPPING_OPTIONS}


class CrossbarBackend(BackendBase):
    """Resistive crossbar tiles: mapping, conductance maps and an analytical cost estimate."""

    name = "crossbar"
    family = "crossbar"
    default_card = "rram-40nm"
    options = OPTIONS

    def estimate(self, graph: LayerGraph, card: Card, *, x: np.ndarray | None = None, **options: Any) -> Estimate:
        """Per-inference cost; with inputs ``x`` (or ``data``) the drive activity is measured on them."""
        options = self.resolve(options, "estimate")
        if x is None and options["data"]:
            from codesign.data import load_dataset

            x = load_dataset(options["data"], seed=options["seed"]).x_test
        return self._estimate(graph, card, options, x)

    def _estimate(self, graph: LayerGraph, card: Card, options: dict[str, Any], x: np.ndarray | None) -> Estimate:
        mapping = map_graph(graph, card, **_mapping_options(options))
        activities = None
        if x is not None:  # layer inputs on real data: the integer reference of the mapped graph
            mapped = replace(graph, layers=mapping.graph_layers)
            codes = execute(mapped, x).codes[:len(mapping.layers)]
            activities = [measured_activity(c, m) for c, m in zip(codes, mapping.layers, strict=True)]
        return estimate_mapping(graph, mapping, card, activities=activities, versions=_versions())

    def lower(self, graph: LayerGraph, card: Card, out_dir: str | os.PathLike, *, overwrite: bool = False,
              **options: Any) -> Artifact:
        options = self.resolve(options, "export")
        data = None
        if options["data"]:
            from codesign.data import load_dataset, require_fits

            data = load_dataset(options["data"], seed=options["seed"])
            require_fits(data, graph)
        mapping = map_graph(graph, card, **_mapping_options(options))
        estimate = self._estimate(graph, card, options, None if data is None else data.x_test)
        check = _ideal_chip_check(graph, card, mapping, options, None if data is None else data.x_test)
        chips = None
        if data is not None:  # what the written chip design delivers under the card's noise
            from .simulator import simulate

            chips = simulate(graph, card, data.x_test, data.y_test, instances=options["instances"],
                             seed=options["seed"], keep_logits=False, **_simulation_inputs(options))
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
            (staging / "verification.json").write_text(json.dumps(check, indent=2, sort_keys=True) + "\n",
                                                       encoding="utf-8")
            if chips is not None:
                montecarlo = {"data": data.name, "split": "test", **_chip_summary(chips)}
                (staging / "montecarlo.json").write_text(json.dumps(montecarlo, indent=2, sort_keys=True) + "\n",
                                                         encoding="utf-8")
        summary = {"tiles": mapping.tiles, "energy_j": estimate.energy_j, "latency_s": estimate.latency_s,
                   "area_mm2": estimate.area_mm2,
                   "verification": f"the written conductance maps, simulated as an ideal chip (no noise, lossless "
                                   f"converters), equal the integer reference on {check['inputs']}"}
        if chips is not None:
            summary.update(monte_carlo_mean_accuracy=chips.mean, monte_carlo_worst_accuracy=chips.worst,
                           instances=chips.instances)
        return Artifact.from_directory(self.name, Path(out_dir), summary)

    # -- sweeps --------------------------------------------------------------------------------------
    def varies_accuracy(self, knobs: dict[str, tuple]) -> bool:
        return True  # every chip instance carries the card's device noise

    def training_noise(self, card: Card):
        from codesign.noise import named_model

        return named_model("card", card=card)

    def evaluate(self, graph: LayerGraph, card: Card, data: Dataset, *, seed: int,
                 reference_accuracy: float, **options: Any) -> Evaluation:
        from .simulator import simulate

        settings = self.resolve(options, "sweep")
        estimate = self._estimate(graph, card, settings, data.x_test)
        chips = simulate(graph, card, data.x_test, data.y_test, instances=settings["instances"], seed=seed,
                         keep_logits=False, **_simulation_inputs(settings))
        return Evaluation(chips.mean, f"Monte-Carlo mean over {settings['instances']} chip instances under the "
                          "card's noise", estimate,
                          {"options": settings, "monte_carlo": {"seed": seed, **_chip_summary(chips)}})


def _ideal_chip_check(graph: LayerGraph, card: Card, mapping, options: dict[str, Any],
                      x: np.ndarray | None) -> dict[str, Any]:
    """Simulate the mapped design with every non-ideality off: it must compute the integer reference
    of the mapped graph exactly, else the maps would be wrong and nothing is written."""
    from codesign.errors import BackendError
    from codesign.ir.crosscheck import random_inputs

    from .simulator import simulate

    source = "the test split" if x is not None else "256 uniformly random inputs (seed 0)"
    x = random_inputs(graph, 256, seed=0) if x is None else x
    chip = simulate(graph, card, x, instances=1, seed=0, noise="ideal", ideal_converters=True, ir_drop=False,
                    keep_logits=False, **_simulation_inputs(options))
    reference = execute(replace(graph, layers=mapping.graph_layers), x).predictions
    mismatches = int(np.count_nonzero(chip.predictions[0] != reference))
    if mismatches:
        raise BackendError(f"the ideal crossbar simulation of {graph.name} differs from the integer reference on "
                           f"{mismatches} of {len(x)} inputs; nothing was written",
                           hint="this is a bug in the crossbar mapping; please report it with the model")
    return {"check": "ideal chip simulation vs integer reference (predictions)", "inputs": f"{len(x)} inputs "
            f"({source})", "mismatches": mismatches, "passed": True}


def _simulation_inputs(options: dict[str, Any]) -> dict[str, Any]:
    """The DAC options the simulator shares with the mapping (None: the simulator's own default)."""
    chosen = {"input_bits": options["input_bits"]}
    for key in ("read_noise_source", "device"):
        if key in options:
            chosen[key] = options[key]
    if "input_full_scale" in options and options["input_full_scale"] != 1.0:
        chosen["input_full_scale"] = options["input_full_scale"]
    return chosen


def _chip_summary(chips) -> dict[str, Any]:
    return {"instances": chips.instances, "mean": chips.mean, "worst": chips.worst, "std": chips.std,
            "accuracies": list(chips.accuracies)}
