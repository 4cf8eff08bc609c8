"""Resistive-crossbar backend: tile mapping, a batched stochastic chip simulator, cost estimates.

Imports are lazy so that estimating (numpy only) does not pay for importing torch.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "CrossbarBackend": "backend", "CrossbarMapping": "mapping", "LayerMapping": "mapping", "map_graph": "mapping",
    "SimulationResult": "simulator", "SimulationSettings": "simulator", "simulate": "simulator",
    "simulate_range": "simulator",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
