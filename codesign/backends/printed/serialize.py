"""A bespoke design as plain JSON: what a search stores per candidate and writes per reported
point, so any point can be rebuilt, re-synthesised and re-verified without re-running the search."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from codesign.backends.printed.design import Design, Layer, Neuron
from codesign.backends.printed.requant import ShiftRequant, ThresholdRequant
from codesign.errors import DataError

FORMAT = "codesign.printed.design/1"


def _requant_to_dict(requant) -> dict | None:
    if requant is None:
        return None
    kind = "shift" if isinstance(requant, ShiftRequant) else "thresholds"
    return {"kind": kind, **asdict(requant)}


def _requant_from_dict(data: dict | None):
    if data is None:
        return None
    data = dict(data)
    kind = data.pop("kind")
    if kind == "shift":
        return ShiftRequant(**data)
    return ThresholdRequant(tuple(int(t) for t in data["thresholds"]), int(data["low"]))


def design_to_dict(design: Design) -> dict[str, Any]:
    return {
        "format": FORMAT, "name": design.name, "input_low": design.input_low, "input_high": design.input_high,
        "classes": design.classes, "argmax_drop": design.argmax_drop,
        "layers": [{"name": layer.name, "output_bits": layer.output_bits, "signed_output": layer.signed_output,
                    "neurons": [{"weights": list(n.weights), "requant": _requant_to_dict(n.requant),
                                 "logit": None if n.logit is None else list(n.logit),
                                 "truncation": n.truncation, "output_drop": n.output_drop}
                                for n in layer.neurons]}
                   for layer in design.layers],
    }


def design_from_dict(data: dict[str, Any]) -> Design:
    if data.get("format") != FORMAT:
        raise DataError(f"not a printed design ({data.get('format')!r})", hint=f"expected format {FORMAT}")
    layers = tuple(
        Layer(layer["name"], tuple(Neuron(tuple(int(w) for w in n["weights"]), _requant_from_dict(n["requant"]),
                                          None if n["logit"] is None else tuple(int(v) for v in n["logit"]),
                                          int(n["truncation"]), int(n["output_drop"]))
                                   for n in layer["neurons"]),
              int(layer["output_bits"]), bool(layer["signed_output"]))
        for layer in data["layers"])
    return Design(data["name"], int(data["input_low"]), int(data["input_high"]), layers, int(data["classes"]),
                  int(data["argmax_drop"]))
