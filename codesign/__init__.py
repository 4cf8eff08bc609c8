"""codesign: hardware/model co-design of small quantised networks.

The public API is small on purpose: ``load`` a QONNX model, ``lower`` it with a backend,
``estimate`` what it costs. Heavy dependencies load lazily, on first use.
"""

from __future__ import annotations

# The submodule codesign.estimate is loaded first so that the function below, not the module,
# stays bound to the name ``codesign.estimate`` (a later first import would rebind it).
from codesign import estimate as _estimate_module  # noqa: E402,F401
from codesign.version import __version__

__all__ = ["__version__", "compare", "estimate", "execute", "load", "lower", "simulate"]


def load(source, **kwargs):
    """Load a QONNX model (path or ModelWrapper) into a validated LayerGraph."""
    from codesign.ir import load as _load

    return _load(source, **kwargs)


def compare(graph, cards=None, options=None):
    """Estimates of one graph on several cards (default: one per target family), as one table."""
    from codesign.comparison import compare as _compare

    return _compare(graph, cards, options)


def execute(graph, x, **kwargs):
    """Integer reference execution of a LayerGraph on a batch of inputs."""
    from codesign.ir import execute as _execute

    return _execute(graph, x, **kwargs)


def _target_and_card(card, target: str | None):
    """(backend, Card) from a Card, a card name or path, or None (the target's default card)."""
    from codesign.backends import backend_for, get_backend
    from codesign.backends.base import resolve_card

    if card is None:
        if target is None:
            from codesign.errors import BackendError

            raise BackendError("no card and no target given", hint="pass a card name, a Card, or target=NAME")
        backend = get_backend(target)
        return backend, resolve_card(None, backend)
    card = resolve_card(card)
    return backend_for(target, card), card


def lower(graph, card=None, out_dir=None, *, target: str | None = None, **options):
    """Lower a graph for a target card with its backend; returns the written Artifact.

    ``card``: a Card, a card name or .toml path, or None for the target's default card.
    """
    if out_dir is None:
        from codesign.errors import ParameterError

        raise ParameterError("lower() needs out_dir", hint="pass the directory to write, e.g. out_dir='runs/fpga'")
    backend, card = _target_and_card(card, target)
    return backend.lower(graph, card, out_dir, **options)


def estimate(graph, card=None, *, target: str | None = None, **options):
    """Latency / energy / area estimate of a graph on a target card (a Card, a name or a path)."""
    backend, card = _target_and_card(card, target)
    return backend.estimate(graph, card, **options)


def simulate(graph, card, x, y=None, *, ray_address: str | None = None, **kwargs):
    """Monte-Carlo simulation of chip instances on a crossbar card (see codesign.backends.crossbar).

    With ``ray_address`` the instances are split over a Ray cluster (same result, bit for bit;
    see codesign.dse.distributed_montecarlo).
    """
    if ray_address is not None:
        from codesign.dse.distributed_montecarlo import simulate as _distributed

        return _distributed(graph, card, x, y, ray_address=ray_address, **kwargs)
    from codesign.backends.crossbar.simulator import simulate as _simulate

    return _simulate(graph, card, x, y, **kwargs)
