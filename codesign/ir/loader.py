"""Load a QONNX model into a validated LayerGraph: the single entry point every consumer uses."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError, ModelFormatError
from codesign.ir.lowering import lower_to_layers
from codesign.ir.onnx_model import clean, data_inputs, read_model

__all__ = ["data_inputs", "load"]


def load(source: str | os.PathLike | Any, *, name: str | None = None):
    """Load and validate a quantised MLP; the single entry point every consumer uses."""
    with warnings.catch_warnings():
        # qonnx warns about legacy op domains it converts itself; nothing for the user to do
        warnings.simplefilter("ignore")
        return _load(source, name)


def _load(source, name: str | None):
    try:
        return _read_and_lower(source, name)
    except CodesignError:
        raise
    except Exception as exc:  # onnx/qonnx raise bare exceptions (AssertionError, KeyError...) on odd graphs
        if not _raised_by_dependency(exc):
            raise  # a bug in codesign itself: the CLI reports it as one
        label = str(source) if isinstance(source, str | os.PathLike) else "the model"
        detail = " ".join(str(exc).split())[:160]
        raise ModelFormatError(f"{label}: qonnx could not process the model ({type(exc).__name__}: {detail})",
                               hint="check it is a complete ONNX/QONNX export of a quantised MLP; "
                               "`qonnx-cleanup MODEL.onnx` shows the details") from None


PACKAGE = Path(__file__).resolve().parents[1]


def _raised_by_dependency(exc: BaseException) -> bool:
    """Whether the exception came from a call codesign made into another package (onnx, qonnx,
    protobuf...): frames below codesign's deepest frame. An error in codesign's own code is a bug."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    ours = [i for i, frame in enumerate(frames) if Path(frame.filename).resolve().is_relative_to(PACKAGE)]
    return bool(ours) and ours[-1] < len(frames) - 1


def _read_and_lower(source, name: str | None):
    model = read_model(source)
    metadata = {p.key: p.value for p in model.model.metadata_props}
    cleaned = clean(model)
    path = None if not isinstance(source, str | os.PathLike) else str(source)
    default_name = Path(path).stem if path else (cleaned.graph.name or "model")
    return lower_to_layers(cleaned, name=name or default_name, metadata=metadata, source_path=path)
