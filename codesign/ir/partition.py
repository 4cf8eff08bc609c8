"""Split a layer graph between targets: the front layers on one device, the rest on another.

The cut sits on a quantised activation, so the back graph's input codes are exactly the front
graph's output codes: the two parts together compute what the whole graph computes.
"""

from __future__ import annotations

from dataclasses import replace

from codesign.errors import ParameterError
from codesign.ir.graph import InputTransform, LayerGraph


def split(graph: LayerGraph, at: int) -> tuple[LayerGraph, LayerGraph]:
    """(layers[:at], layers[at:]) as two graphs; the cut must follow a quantised layer."""
    if not 0 < at < len(graph.layers):
        raise ParameterError(f"cut position {at} must be between 1 and {len(graph.layers) - 1}",
                             hint="cut after one of the hidden layers")
    boundary = graph.layers[at - 1]
    if boundary.output_quant is None:
        raise ParameterError(f"{boundary.name} has a float output, so the graph cannot be cut after it",
                             hint="cut after a layer with an activation quantiser")
    front_names = {layer.name for layer in graph.layers[:at]}
    fixed = graph.fixed_random_layers
    front_meta = dict(graph.metadata)
    back_meta = dict(graph.metadata)
    front_meta["codesign.fixed_random_layers"] = ",".join(n for n in fixed if n in front_names)
    back_meta["codesign.fixed_random_layers"] = ",".join(n for n in fixed if n not in front_names)
    front = replace(graph, name=f"{graph.name}[:{at}]", layers=graph.layers[:at], head="none", metadata=front_meta,
                    source=None)
    back = replace(graph, name=f"{graph.name}[{at}:]", layers=graph.layers[at:], metadata=back_meta, source=None,
                   input_transform=InputTransform(input_shape=(boundary.out_features,)))
    return front, back
