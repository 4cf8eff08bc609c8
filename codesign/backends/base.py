"""The one interface every backend implements, and the registry that finds them.

Backends register through the ``codesign.backends`` entry-point group (``name = "module:Class"``);
nothing is imported until a backend is asked for, so the CLI starts fast and a broken optional
backend cannot break the others.
"""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

from codesign.artifact import Artifact
from codesign.cards import Card
from codesign.errors import BackendError, ParameterError
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph

ENTRY_POINT_GROUP = "codesign.backends"


@runtime_checkable
class Backend(Protocol):
    """Lower a LayerGraph for a card, and estimate what it costs."""

    name: str  # target name used on the CLI: "fpga", "crossbar", "printed"
    family: str  # card family it accepts

    def lower(self, graph: LayerGraph, card: Card, out_dir: str | os.PathLike, **options: Any) -> Artifact:
        """Write the target's artifact (atomically) and return it."""

    def estimate(self, graph: LayerGraph, card: Card, **options: Any) -> Estimate:
        """Per-inference latency, energy, area of the graph on the card."""


def check_options(target: str, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Reject an option a backend does not know, naming the ones it does."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ParameterError(f"unknown {target} option {unknown[0]!r}", hint=f"use {', '.join(allowed)}")


def tool_versions(*packages: str) -> dict[str, str]:
    """Installed versions of the packages an estimate or artifact depends on."""
    from importlib.metadata import version

    return {package: version(package) for package in packages}


def installed_backends() -> dict[str, EntryPoint]:
    """{target name: entry point}, without importing any backend."""
    return {ep.name: ep for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)}


def get_backend(name: str) -> Backend:
    found = installed_backends()
    if name not in found:
        names = ", ".join(found) or "none"
        raise BackendError(f"no backend named {name!r} is installed (installed: {names})",
                           hint="install the package that provides it, or choose an installed target")
    try:
        backend = found[name].load()()
    except ImportError as exc:
        raise BackendError(f"backend {name!r} cannot be imported: {exc}",
                           hint="install its dependencies (pip install 'codesign[dev]')") from None
    if not isinstance(backend, Backend):
        raise BackendError(f"backend {name!r} ({found[name].value}) does not implement lower() and estimate()",
                           hint="fix the backend class")
    return backend


def backend_for(target: str | None, card: Card) -> Backend:
    """The backend for an explicit target, or the one matching the card's family."""
    backend = get_backend(target or card.family)
    if backend.family != card.family:
        raise BackendError(f"target {backend.name!r} needs a {backend.family} card, {card.name!r} is a {card.family} card",
                           hint=f"pick a {backend.family} card (codesign cards --family {backend.family})")
    return backend
