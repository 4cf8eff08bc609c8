"""A minimal custom backend: a toy analytical FPGA model, used directly (no entry point).

    python examples/custom_backend.py                # trains a tiny breast_cancer model first
    python examples/custom_backend.py MODEL.onnx

The class below implements the ``codesign.backends.base.Backend`` interface: ``name``, ``family``,
``default_card``, a typed option schema, the options a sweep may vary, ``lower()`` and
``estimate()`` (``BackendBase`` supplies ``accepts()`` and the sweep ``evaluate()``);
docs/extending.md explains each piece and how to register it under the ``codesign.backends``
entry-point group so that ``codesign estimate --target toy-fpga``, ``--target all``,
``codesign sweep`` and ``codesign report`` find it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import codesign
from codesign.artifact import Artifact, atomic_directory
from codesign.backends.base import Backend, BackendBase, tool_versions
from codesign.cards import Card, load_card
from codesign.estimate import Estimate
from codesign.ir.graph import LayerGraph
from codesign.options import Option, OptionSchema


class ToyFpgaBackend(BackendBase):
    """Every non-zero weight costs one adder of (input bits + weight bits) LUTs; one layer per
    ``cycles_per_layer`` clock cycles. Deliberately crude: it shows the interface, not a model."""

    name = "toy-fpga"  # the --target name
    family = "fpga"  # the card family it accepts
    default_card = "pynq-z2"  # used when no --card is given
    # Typed options: the CLI (-O cycles_per_layer=2), the Python API and sweep configs are all
    # validated against this, and `codesign backends --options toy-fpga` prints it.
    options = OptionSchema((
        Option("cycles_per_layer", "int", 1, "clock cycles each layer takes", low=1, high=1024),
    ))
    sweep_knobs = ("cycles_per_layer",)  # a sweep may vary it per trial ([space] cycles_per_layer = [1, 2])

    def accepts(self, graph: LayerGraph) -> str | None:
        """Why this target cannot take a graph (None: it can); `estimate --target all` shows the reason."""
        return None if graph.integer else "its LUT count needs quantised inputs"

    def estimate(self, graph: LayerGraph, card: Card, **options: Any) -> Estimate:
        options = self.resolve(options, "estimate")  # wrong name, type or range -> one-line error, exit 2
        cycles = options["cycles_per_layer"]
        graph.require_integer(f"the {self.name} backend")  # FloatGraphError names the float layers

        period = card.clock.period.value  # card constants are SI: seconds, watts, m^2
        breakdown: dict[str, dict[str, float]] = {}
        total_luts = 0
        for layer in graph.layers:
            luts = layer.nonzero_weights * (layer.input_quant.bits + layer.weight_quant.bits)
            total_luts += luts
            breakdown[f"layer.{layer.name}"] = {"lut": luts, "latency_s": cycles * period,
                                                "area_mm2": luts * card.area.lut.value * 1e6}
        latency = len(graph.layers) * cycles * period
        dynamic = total_luts * card.power.lut_dynamic.value
        power = card.power.static.value + dynamic
        breakdown["power_w"] = {"static": card.power.static.value, "lut": dynamic}
        return Estimate(
            target=self.name, card=card.name, card_hash=card.content_hash, method="analytical",
            latency_s=latency, energy_j=power * latency, area_mm2=total_luts * card.area.lut.value * 1e6,
            power_w=power, throughput_inf_per_s=1.0 / (cycles * period), breakdown=breakdown,
            resources={"lut": float(total_luts), "macs": float(sum(layer.macs for layer in graph.layers))},
            assumptions=(f"one adder of (input bits + weight bits) LUTs per non-zero weight, "
                         f"{cycles} cycle(s) of {period * 1e9:g} ns per layer",
                         "power = static + LUTs x per-LUT dynamic power; energy = power x latency"),
            tool_versions=tool_versions("codesign"), model=graph.name)

    def lower(self, graph: LayerGraph, card: Card, out_dir: str | os.PathLike, *, overwrite: bool = False,
              **options: Any) -> Artifact:
        estimate = self.estimate(graph, card, **self.resolve(options, "export"))  # validates first
        with atomic_directory(out_dir, overwrite=overwrite) as staging:  # all or nothing
            weights = {layer.name: layer.weight.tolist() for layer in graph.layers}
            (staging / "weights.json").write_text(json.dumps(weights) + "\n", encoding="utf-8")
            estimate.save(staging / "estimate.json")
        return Artifact.from_directory(self.name, Path(out_dir), {"lut": estimate.resources["lut"]})


def tiny_model(folder: Path) -> Path:
    from codesign.data import load_dataset
    from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
    from codesign.quant.export import export_qonnx

    data = load_dataset("breast_cancer")
    model = build_mlp(Topology(data.features, data.num_classes, MLPConfig(hidden=(8,))), seed=0)
    trained = train(model, data, TrainConfig(epochs=5), progress=False).model
    return export_qonnx(trained, folder / "tiny.onnx", in_features=data.features)


def main() -> int:
    folder = Path(tempfile.mkdtemp())
    graph = codesign.load(sys.argv[1] if len(sys.argv) > 1 else tiny_model(folder))
    card = load_card("pynq-z2")
    backend = ToyFpgaBackend()
    assert isinstance(backend, Backend)  # what the registry checks after loading an entry point

    estimate = backend.estimate(graph, card, cycles_per_layer=2)
    print(f"{graph.name} on {card.name} ({backend.name}): {estimate.latency_s * 1e9:.0f} ns, "
          f"{estimate.energy_j * 1e9:.2f} nJ, {estimate.area_mm2:.3f} mm^2, {estimate.resources['lut']:.0f} LUTs")
    for part, metrics in estimate.breakdown.items():
        print(f"  {part:14s} {metrics}")
    artifact = backend.lower(graph, card, folder / "toy", cycles_per_layer=2)
    print(f"wrote {artifact.directory}: {', '.join(artifact.files)} (sha256 {artifact.digest[:16]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
