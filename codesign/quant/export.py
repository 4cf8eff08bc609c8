"""Export a trained Brevitas model to a cleaned QONNX file that carries codesign metadata."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from codesign.errors import BackendError
from codesign.outputs import atomic_file

METADATA_PREFIX = "codesign."


def export_qonnx(model, path: str | os.PathLike, *, in_features: int,
                 metadata: dict[str, str] | None = None) -> Path:
    """Brevitas export_qonnx -> qonnx cleanup -> metadata_props; written atomically, replacing
    only a model codesign wrote at ``path`` before."""
    import torch
    from brevitas.export import export_qonnx as brevitas_export
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    import codesign

    path = Path(path)
    model.eval()
    sample = torch.zeros(1, in_features)
    # replaces only a model codesign wrote there before (codesign.outputs)
    with atomic_file(path, replace="own") as staged:
        raw = staged.with_name(f".raw-{staged.name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                # dynamo=False keeps the weights inside one file (no MODEL.onnx.data side file)
                brevitas_export(model, args=sample, export_path=str(raw), dynamo=False)
            except ModuleNotFoundError as exc:
                raise BackendError(f"QONNX export needs {exc.name}",
                                   hint="pip install onnxoptimizer (part of codesign[train])") from None
            cleaned = cleanup_model(ModelWrapper(str(raw)))
        props = {f"{METADATA_PREFIX}version": codesign.__version__, **(metadata or {})}
        del cleaned.model.metadata_props[:]
        for key, value in sorted(props.items()):
            entry = cleaned.model.metadata_props.add()
            entry.key = key if key.startswith(METADATA_PREFIX) else METADATA_PREFIX + key
            entry.value = str(value)
        cleaned.save(str(staged))
    return path


def training_metadata(mlp, train_config, *, dataset: str = "", switching=None) -> dict[str, str]:
    """The metadata_props codesign writes: seed, model shape, training mode, noise model, and
    which dense layers are fixed-random (with their switching distribution)."""
    metadata = {"seed": str(train_config.seed), "mlp_config": mlp.to_json(), "training": train_config.mode}
    if dataset:
        metadata["dataset"] = dataset
    if train_config.noise is not None:
        metadata["noise_model"] = train_config.noise.to_json()
        metadata["regularization"] = str(train_config.regularization)
    if mlp.fixed_random:
        from codesign.quant.fixed_random import SwitchingDistribution

        metadata["fixed_random_layers"] = ",".join(f"dense{i}" for i in mlp.fixed_random)
        metadata["fixed_random_distribution"] = (switching or SwitchingDistribution()).to_json()
    return metadata
