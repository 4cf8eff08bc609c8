"""Accuracy of a quantised MLP over 50 simulated RRAM chips, and what one chip costs.

    python examples/crossbar_monte_carlo.py MODEL.onnx   (default: trains a tiny digits model)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import codesign
from codesign.backends.crossbar import simulate
from codesign.cards import load_card
from codesign.data import load_dataset


def tiny_model(folder: Path) -> Path:
    from codesign.quant import MLPConfig, Topology, TrainConfig, build_mlp, train
    from codesign.quant.export import export_qonnx

    data = load_dataset("digits")
    model = build_mlp(Topology(data.features, data.num_classes, MLPConfig(hidden=(32,), weight_bits=4)), seed=0)
    trained = train(model, data, TrainConfig(epochs=15), progress=False).model
    return export_qonnx(trained, folder / "digits.onnx", in_features=data.features)


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else tiny_model(folder)
    graph = codesign.load(path)
    data = load_dataset("digits")
    card = load_card("rram-40nm")
    for noise in ("ideal", "card"):
        result = simulate(graph, card, data.x_test, data.y_test, instances=50, seed=0, noise=noise, progress=True)
        print(f"{noise:>5}: accuracy mean {result.mean:.3f}, worst {result.worst:.3f} over {result.instances} chips")
    estimate = codesign.estimate(graph, card, target="crossbar")
    print(f"per inference: {estimate.latency_s * 1e9:.0f} ns, {estimate.energy_j * 1e12:.0f} pJ, "
          f"{estimate.area_mm2:.3f} mm^2; ADC share of energy {estimate.resources['adc_energy_share']:.0%}")


if __name__ == "__main__":
    main()
