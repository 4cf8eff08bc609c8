"""A layer table: what a user checks first after loading a model."""

from __future__ import annotations

from typing import Any

from codesign.ir.graph import LayerGraph


def layer_rows(graph: LayerGraph) -> list[dict[str, Any]]:
    rows = []
    for layer in graph.layers:
        rows.append({
            "layer": layer.name,
            "shape": f"{layer.in_features}x{layer.out_features}",
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "input": layer.input_quant.describe() if layer.input_quant else "float",
            "weight": layer.weight_quant.describe(),
            "weight_scale": "per-channel" if layer.weight_quant.per_channel else "per-tensor",
            "output": layer.output_quant.describe() if layer.output_quant else "float",
            "activation": layer.activation,
            "accumulator_bits": layer.accumulator_bits,
            "macs": layer.macs,
            "nonzero_macs": layer.nonzero_weights,
            "parameters": layer.parameters,
            "sparsity": round(layer.sparsity, 4),
            "bias": layer.bias is not None,
        })
    return rows


def summary(graph: LayerGraph) -> dict[str, Any]:
    rows = layer_rows(graph)
    return {
        "model": graph.name,
        "source": graph.source_path,
        "inputs": graph.in_features,
        "outputs": graph.out_features,
        "head": graph.head,
        "input_preprocessing": [op.name for op in graph.input_transform.ops],
        "layers": rows,
        "totals": {
            "macs": sum(r["macs"] for r in rows),
            "nonzero_macs": sum(r["nonzero_macs"] for r in rows),
            "parameters": sum(r["parameters"] for r in rows),
            "weight_bits": sum(layer.weight.size * layer.weight_quant.bits for layer in graph.layers),
        },
        "fixed_random_layers": list(graph.fixed_random_layers),
        "metadata": dict(sorted(graph.metadata.items())),
    }
