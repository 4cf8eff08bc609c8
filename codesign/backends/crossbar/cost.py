"""Latency, energy and area of a mapped graph, from the card's constants (analytical model).

Per layer and input cycle: the DAC drives the rows for one read pulse, every column
integrates, then each ADC converts the columns multiplexed onto it one after the other; the
digital periphery shifts and adds the results across cycles, slices and row tiles.  Layers run
one after the other for one inference; with a layer pipeline a new inference starts every
slowest-layer latency (the throughput figure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign.cards import Card
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph

from .mapping import CrossbarMapping, LayerMapping, stored_levels

PUBLISHED_TOPS_PER_W = (10.0, 200.0)  # RRAM compute-in-memory macros, see docs/crossbar.md


@dataclass(frozen=True)
class LayerCost:
    name: str
    latency_s: float
    cycle_s: float
    array_energy_j: float
    adc_energy_j: float
    dac_energy_j: float
    digital_energy_j: float
    cell_area_mm2: float
    adc_area_mm2: float
    dac_area_mm2: float
    digital_area_mm2: float
    adcs: int
    dacs: int
    drive_activity: float

    @property
    def energy_j(self) -> float:
        return self.array_energy_j + self.adc_energy_j + self.dac_energy_j + self.digital_energy_j

    @property
    def area_mm2(self) -> float:
        return self.cell_area_mm2 + self.adc_area_mm2 + self.dac_area_mm2 + self.digital_area_mm2


def default_activity(mapping: LayerMapping) -> float:
    """E[(drive / full drive)^2] per row and cycle without data: a bit is 1 half of the time;
    a multi-level drive uniform over its levels has mean square 1/3."""
    return 0.5 if mapping.dac_bits == 1 and mapping.input_cycles > 1 or mapping.input_bits == 1 else 1.0 / 3.0


def measured_activity(codes: np.ndarray, mapping: LayerMapping) -> float:
    """E[(drive / full drive)^2] over a layer's real input codes, per DAC chunk."""
    import torch

    from .converters import digit_bound, input_digits

    digits = input_digits(torch.as_tensor(codes, dtype=torch.float64), mapping)
    full = float(digit_bound(mapping))
    return float(np.mean([((d / full) ** 2).mean().item() for d in digits]))


def layer_cost(layer, mapping: LayerMapping, card: Card, activity: float) -> LayerCost:
    array, adc, dac, periphery = card.array, card.adc, card.dac, card.periphery
    g_min, g_max = array.g_min.value, array.g_max.value
    levels = stored_levels(layer.weight, mapping)
    conductance = float(np.sum(g_min + levels * ((g_max - g_min) / mapping.level_max)))  # used cells, siemens
    adc_share = int(adc.shared_by.value) if adc.shared_by is not None else 1
    dac_share = int(dac.shared_by.value) if dac.shared_by is not None else 1
    adcs_per_tile = math.ceil(mapping.cols / adc_share)
    dacs_per_tile = math.ceil(mapping.rows / dac_share)
    converted_per_tile = min(mapping.converted_columns, mapping.cols // mapping.columns_per_weight * mapping.slices)
    conversions_per_adc = math.ceil(converted_per_tile / adcs_per_tile)
    drive_time = max(array.read_time.value, dac.time.value) * dac_share  # rows sharing a DAC: one after another
    cycle = drive_time + conversions_per_adc * adc.time.value
    tree_depth = math.ceil(math.log2(mapping.row_tiles * mapping.slices)) if mapping.row_tiles * mapping.slices > 1 else 0
    digital_steps = tree_depth + 1  # adder tree across tiles and slices, then requantisation
    latency = mapping.input_cycles * cycle + digital_steps * periphery.digital_time_per_op.value
    array_energy = mapping.input_cycles * activity * array.read_voltage.value**2 * array.read_time.value * conductance
    digital_ops = mapping.adc_conversions + mapping.out_features * (mapping.row_tiles * mapping.slices) + mapping.out_features
    tiles = mapping.tiles
    return LayerCost(
        name=mapping.name, latency_s=latency, cycle_s=cycle, array_energy_j=array_energy,
        adc_energy_j=mapping.adc_conversions * adc.energy.value,
        dac_energy_j=mapping.dac_drives * dac.energy.value,
        digital_energy_j=digital_ops * periphery.digital_energy_per_op.value,
        cell_area_mm2=tiles * mapping.rows * mapping.cols * array.cell_area.value * 1e6,
        adc_area_mm2=tiles * adcs_per_tile * adc.area.value * 1e6,
        dac_area_mm2=tiles * dacs_per_tile * dac.area.value * 1e6,
        digital_area_mm2=tiles * periphery.digital_area_per_tile.value * 1e6,
        adcs=tiles * adcs_per_tile, dacs=tiles * dacs_per_tile, drive_activity=activity)


def estimate_mapping(graph: LayerGraph, mapping: CrossbarMapping, card: Card, *,
                     activities: list[float] | None = None, versions: dict[str, str] | None = None) -> Estimate:
    activities = activities or [default_activity(m) for m in mapping.layers]
    costs = [layer_cost(layer, m, card, a)
             for layer, m, a in zip(mapping.graph_layers, mapping.layers, activities, strict=True)]
    latency = sum(c.latency_s for c in costs)
    energy = sum(c.energy_j for c in costs)
    area = sum(c.area_mm2 for c in costs)
    parts_energy = {"array": sum(c.array_energy_j for c in costs), "adc": sum(c.adc_energy_j for c in costs),
                    "dac": sum(c.dac_energy_j for c in costs), "digital": sum(c.digital_energy_j for c in costs)}
    parts_area = {"cells": sum(c.cell_area_mm2 for c in costs), "adc": sum(c.adc_area_mm2 for c in costs),
                  "dac": sum(c.dac_area_mm2 for c in costs), "digital": sum(c.digital_area_mm2 for c in costs)}
    macs = sum(layer.macs for layer in mapping.graph_layers)
    tops_per_w = 2 * macs / energy / 1e12 if energy else 0.0
    breakdown = {
        "latency_s": {c.name: c.latency_s for c in costs},
        "energy_j": parts_energy,
        "area_mm2": parts_area,
        "share": {"adc_energy": parts_energy["adc"] / energy if energy else 0.0,
                  "adc_area": parts_area["adc"] / area if area else 0.0},
    }
    for c in costs:
        breakdown[f"layer.{c.name}"] = {
            "latency_s": c.latency_s, "cycle_s": c.cycle_s, "energy_j": c.energy_j, "area_mm2": c.area_mm2,
            "array_energy_j": c.array_energy_j, "adc_energy_j": c.adc_energy_j, "dac_energy_j": c.dac_energy_j,
            "digital_energy_j": c.digital_energy_j, "drive_activity": c.drive_activity}
    resources = {
        "tiles": float(mapping.tiles), "adcs": float(sum(c.adcs for c in costs)), "dacs": float(sum(c.dacs for c in costs)),
        "cells_used": float(sum(m.cells_used for m in mapping.layers)),
        "cells_allocated": float(sum(m.cells_allocated for m in mapping.layers)),
        "adc_conversions": float(sum(m.adc_conversions for m in mapping.layers)),
        "macs": float(macs), "ops_per_inference": float(2 * macs), "efficiency_tops_per_w": tops_per_w,
        "throughput_tops": 2 * macs / max(c.latency_s for c in costs) / 1e12,
    }
    resources["adc_energy_share"] = breakdown["share"]["adc_energy"]
    resources["adc_area_share"] = breakdown["share"]["adc_area"]
    resources["utilisation"] = resources["cells_used"] / resources["cells_allocated"]
    return Estimate(
        target="crossbar", card=card.name, card_hash=card.content_hash, method="analytical",
        latency_s=latency, energy_j=energy, area_mm2=area, power_w=energy / latency,
        throughput_inf_per_s=1.0 / max(c.latency_s for c in costs), breakdown=breakdown, resources=resources,
        assumptions=_assumptions(mapping, card, activities, tops_per_w), tool_versions=versions or {},
        model=graph.name)


def _assumptions(mapping: CrossbarMapping, card: Card, activities: list[float], tops_per_w: float) -> list[str]:
    low, high = PUBLISHED_TOPS_PER_W
    first = mapping.layers[0]
    notes = [
        f"{card.array.mapping} weight mapping; {first.bits_per_cell} bits per cell, weights bit-sliced where wider; "
        "g_min baseline and offsets removed digitally",
        f"inputs applied by {card.dac.bits.value:g}-bit {card.dac.mode} DACs, one read pulse of "
        f"{card.array.read_time.value * 1e9:g} ns per input cycle",
        "a differential pair is subtracted in the analog domain and converted once; each ADC converts its "
        "multiplexed columns one after the other within a cycle",
        "array energy = activity x V_read^2 x t_read x sum of the programmed conductances of used cells, per cycle; "
        f"drive activity E[(v/v_max)^2] per layer: {', '.join(f'{a:.3f}' for a in activities)}",
        "area counts whole tiles (cells, ADCs, DACs, shift-and-add periphery); no buffers, interconnect or control",
        "layers run one after another for one inference (latency); throughput assumes a layer pipeline",
        "no weight reuse across inferences is needed: weights stay in the array (programming energy excluded)",
        f"efficiency {tops_per_w:.1f} TOPS/W (2 ops per MAC); published RRAM macros report about {low:g}-{high:g} TOPS/W",
    ]
    if mapping.inserted_input_quant:
        notes.append(f"the graph input is floating point: quantised by the DAC to {first.input_bits} bits")
    fixed = [m.name for m in mapping.layers if m.fixed_random]
    if fixed:
        notes.append(f"fixed-random layers {', '.join(fixed)}: one un-verified SET pulse per cell, no program-and-verify")
    return notes
