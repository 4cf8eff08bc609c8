"""(Re)create the small QONNX models of the reference baselines, deterministically.

    python tests/baselines/make_models.py

The models come from the builders in tests/graphs.py with fixed seeds, so rerunning this script
writes byte-identical files.  After changing a model on purpose, refresh the stored estimates
with ``codesign check tests/baselines --update`` and commit both.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from graphs import brevitas_mlp, finn_tfc, save  # noqa: E402

MODELS = {
    # Brevitas-style 10-8-4 MLP, per-tensor weight scales, w4a4, no batch norm
    "mlp_w4": lambda: brevitas_mlp((10, 8, 4), weight_bits=4, act_bits=4, per_channel=False, batchnorm=False,
                                   seed=0),
    # the same shape with per-channel weight scales and batch norm folded by the IR
    "mlp_bn_w4": lambda: brevitas_mlp((10, 8, 4), weight_bits=4, act_bits=4, per_channel=True, batchnorm=True,
                                      seed=1),
    # FINN-TFC-style w2a2: 4x4 image, reshape and pre-processing, one hidden layer of 8
    "tfc_w2a2": lambda: finn_tfc(weight_bits=2, act_bits=2, hidden=(8,), image=(1, 1, 4, 4), classes=4, seed=2),
    # tiny per-tensor 6-4-3 MLP for the printed target (synthesises in about a second)
    "tiny_w4": lambda: brevitas_mlp((6, 4, 3), weight_bits=4, act_bits=4, per_channel=False, batchnorm=False,
                                    seed=3),
}


def main(out_dir: Path = HERE / "models") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return [save(build(), out_dir / f"{name}.onnx") for name, build in MODELS.items()]


if __name__ == "__main__":
    for path in main():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
