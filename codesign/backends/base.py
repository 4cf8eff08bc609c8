"""The one interface every backend implements, and the registry that finds them.

A backend declares everything the rest of codesign needs to know about its target: its name, the
card family it takes, its default card, its options (a typed :class:`~codesign.options.OptionSchema`),
the options a design-space sweep may vary per trial (``sweep_knobs``), and whether it can take a
given graph (``accepts``). The CLI, comparisons, sweeps, reports and regression checks read only
this interface, so a third-party backend registered under the ``codesign.backends`` entry-point
group (``name = "module:Class"``) works with every command.

Nothing is imported until a backend is asked for, so the CLI starts fast and a broken optional
backend cannot break the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from codesign.artifact import Artifact
from codesign.cards import Card, load_card
from codesign.errors import BackendError, CodesignError
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph
from codesign.options import OptionSchema

if TYPE_CHECKING:  # pragma: no cover
    from codesign.data import Dataset

ENTRY_POINT_GROUP = "codesign.backends"
REQUIRED = ("name", "family", "default_card", "options", "sweep_knobs", "accepts", "lower", "estimate", "evaluate")


@dataclass(frozen=True)
class Evaluation:
    """One design point of a sweep trial: the accuracy the hardware delivers and what it costs."""

    accuracy: float
    accuracy_source: str  # how the accuracy was measured, in words
    estimate: Estimate
    details: dict[str, Any] = field(default_factory=dict)  # backend-specific extras for the trial record
    # True when the hardware predicts one class for every test input (no logic, majority accuracy):
    # such a point is flagged and kept off the Pareto front; None: the backend runs the graph as is
    constant_classifier: bool | None = None


@runtime_checkable
class Backend(Protocol):
    """Lower a LayerGraph for a card, and estimate what it costs."""

    name: str  # target name used on the CLI: "fpga", "crossbar", "printed"
    family: str  # card family it accepts
    default_card: str  # shipped card name (or .toml path) used when no card is given
    options: OptionSchema
    sweep_knobs: tuple[str, ...]  # option names a sweep may vary per trial

    def accepts(self, graph: LayerGraph) -> str | None:
        """None if the backend can take the graph, else the reason it cannot (one line)."""

    def lower(self, graph: LayerGraph, card: Card, out_dir: str | os.PathLike, **options: Any) -> Artifact:
        """Write the target's artifact (atomically) and return it."""

    def estimate(self, graph: LayerGraph, card: Card, **options: Any) -> Estimate:
        """Per-inference latency, energy, area of the graph on the card."""

    def evaluate(self, graph: LayerGraph, card: Card, data: Dataset, *, seed: int,
                 reference_accuracy: float, **options: Any) -> Evaluation:
        """Accuracy and estimate of one sweep design point on labelled data."""


class BackendBase:
    """Defaults for the parts of the interface most backends share; subclass and fill in."""

    name: ClassVar[str]
    family: ClassVar[str]
    default_card: ClassVar[str]
    options: ClassVar[OptionSchema] = OptionSchema()
    sweep_knobs: ClassVar[tuple[str, ...]] = ()

    def accepts(self, graph: LayerGraph) -> str | None:
        return None

    def resolve(self, options: dict[str, Any], command: str) -> dict[str, Any]:
        """Validated options with defaults (one-line ParameterError otherwise)."""
        return self.options.resolve(self.name, options, command)

    def varies_accuracy(self, knobs: dict[str, tuple]) -> bool:
        """Whether this target's accuracy can differ from the integer reference under these sweep
        choices (then the sweep offers ``<target>.accuracy`` as a default objective)."""
        return False

    def training_noise(self, card: Card):
        """The device noise model fault-aware training should see for this card, if the target has one."""
        return None

    def evaluate(self, graph: LayerGraph, card: Card, data: Dataset, *, seed: int,
                 reference_accuracy: float, **options: Any) -> Evaluation:
        """Bit-exact targets deliver the integer reference's accuracy at the estimated cost."""
        settings = self.resolve(options, "sweep")
        estimate = self.estimate(graph, card, **{k: v for k, v in settings.items()
                                                  if k in self.options.names("estimate")})
        return Evaluation(reference_accuracy, "integer reference on the test split (bit-exact on the target)",
                          estimate, {"options": settings})


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
    missing = [member for member in REQUIRED if not hasattr(backend, member)]
    if missing:
        raise BackendError(f"backend {name!r} ({found[name].value}) does not provide {', '.join(missing)}",
                           hint="derive it from codesign.backends.base.BackendBase, which supplies the defaults")
    if not isinstance(backend.options, OptionSchema):
        raise BackendError(f"backend {name!r} ({found[name].value}): options must be an OptionSchema",
                           hint="declare options = OptionSchema((Option(...), ...))")
    return backend


def all_backends() -> dict[str, Backend]:
    """Every installed backend that loads, by name (a broken one is left out, not fatal)."""
    backends = {}
    for name in installed_backends():
        try:
            backends[name] = get_backend(name)
        except CodesignError:
            continue
    return backends


def resolve_card(card: Card | str | os.PathLike | None, backend: Backend | None = None) -> Card:
    """A Card from a Card, a shipped name or a .toml path; None means the backend's default card."""
    if isinstance(card, Card):
        return card
    if card is None:
        if backend is None:
            raise BackendError("no card and no target given", hint="pass a card (see `codesign cards`) or a target")
        return load_card(backend.default_card)
    return load_card(card)


def backend_for(target: str | None, card: Card) -> Backend:
    """The backend for an explicit target, or the one matching the card's family."""
    if target is None and card.family not in installed_backends():
        matching = [name for name, backend in all_backends().items() if backend.family == card.family]
        target = matching[0] if matching else card.family
    backend = get_backend(target or card.family)
    if backend.family != card.family:
        raise BackendError(f"target {backend.name!r} needs a {backend.family} card, {card.name!r} is a {card.family} card",
                           hint=f"pick a {backend.family} card (codesign cards --family {backend.family})")
    return backend
