"""Area, power, delay and energy of a mapped printed netlist, from the card's cell figures.

area    = sum of cell areas
power   = leakage of every cell (dominant in resistor-load EGFET logic)
          + switching energy x measured output transitions per inference / period
latency = longest input-to-output path through the mapped cells
energy  = static power x latency + switching energy of one inference
"""

from __future__ import annotations

from collections import Counter

from codesign.backends.printed.gatesim import GateSimulation, Netlist, critical_path
from codesign.cards import Card
from codesign.estimate import Estimate


def netlist_estimate(netlist: Netlist, card: Card, activity: GateSimulation, *, model: str,
                     activity_source: str, versions: dict[str, str], layer_cells: dict[str, int] | None = None) -> Estimate:
    cells = card.cells
    counts = Counter(cell.kind for cell in netlist.cells)
    area_m2 = sum(cells[kind].area.value * n for kind, n in counts.items())
    static_w = sum(cells[kind].leakage.value * n for kind, n in counts.items())
    transitions = max(activity.samples - 1, 1)
    dynamic_j = sum(_switching(card, cell.kind) * activity.toggles.get(cell.name, 0)
                    for cell in netlist.cells) / transitions
    latency_s, path = critical_path(netlist, {kind: cell.delay.value for kind, cell in cells.items()})
    clock = card.process.clock_period
    period_s = max(latency_s, clock.value if clock is not None else 0.0)
    power_w = static_w + (dynamic_j / period_s if period_s > 0 else 0.0)
    energy_j = static_w * latency_s + dynamic_j
    battery = card.process.battery_power.value
    breakdown = {
        "cells": {kind: float(n) for kind, n in sorted(counts.items())},
        "area_mm2": {kind: cells[kind].area.value * n * 1e6 for kind, n in sorted(counts.items())},
        "power_w": {"static": static_w, "dynamic": power_w - static_w},
        "energy_j": {"static": static_w * latency_s, "dynamic": dynamic_j},
        "critical_path": {"cells": float(len(path)), "delay_s": latency_s},
    }
    if layer_cells:
        breakdown["layer_terms"] = {name: float(n) for name, n in layer_cells.items()}
    missing_energy = sorted({kind for kind in counts if cells[kind].switching_energy is None})
    assumptions = [
        f"area: sum of the areas of {sum(counts.values())} mapped cells ({card.name} card, from its Liberty source)",
        "static power: state-averaged leakage of every cell (resistor-load EGFET logic burns it continuously)",
        f"dynamic power: switching energy per output transition x transitions measured by gate-level simulation "
        f"of {activity.samples} {activity_source}, one inference per {period_s:.4g} s "
        f"({'the card clock period' if clock is not None and period_s == clock.value else 'the critical path'})",
        "latency: longest path of worst-corner cell delays through the mapped netlist (no wire delay)",
        "energy per inference: static power x latency + switching energy of one inference",
        f"battery: fits a {battery * 1e3:g} mW printed battery" if power_w <= battery
        else f"battery: DOES NOT fit a {battery * 1e3:g} mW printed battery ({power_w * 1e3:.1f} mW)",
    ]
    if missing_energy:
        assumptions.append(f"no switching energy in the card for {', '.join(missing_energy)}: counted as 0")
    return Estimate(
        target="printed", card=card.name, card_hash=card.content_hash, method="synthesis",
        latency_s=latency_s, energy_j=energy_j, area_mm2=area_m2 * 1e6, power_w=power_w,
        throughput_inf_per_s=1.0 / period_s if period_s > 0 else None,
        breakdown=breakdown,
        resources={"cells": float(sum(counts.values())), "area_cm2": area_m2 * 1e4, "power_mw": power_w * 1e3,
                   "static_power_mw": static_w * 1e3, "fits_battery": float(power_w <= battery),
                   "critical_path_cells": float(len(path))},
        assumptions=tuple(assumptions), tool_versions=versions, model=model,
    )


def _switching(card: Card, kind: str) -> float:
    energy = card.cells[kind].switching_energy
    return 0.0 if energy is None else energy.value
