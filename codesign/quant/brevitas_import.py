"""Import Brevitas once, with its optional-kernel notice silenced (it has no bearing here)."""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")
    import brevitas.nn as qnn
    import brevitas.quant as quant

__all__ = ["qnn", "quant"]
