"""Install a third-party backend the way a user's package would: a distribution on sys.path whose
``codesign.backends`` entry points name classes of examples/custom_backend.py."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_backend.py"

MODULE = f'''
import importlib.util

_spec = importlib.util.spec_from_file_location("codesign_toy_example", {str(EXAMPLE)!r})
_example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_example)


class ToyFpga(_example.ToyFpgaBackend):
    default_card = "pynq-z2"
'''


def install(folder: Path, monkeypatch) -> None:
    """Make ``toy-fpga`` (default card pynq-z2) an installed backend."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "codesign_toy_plugin.py").write_text(MODULE, encoding="utf-8")
    info = folder / "codesign_toy_plugin-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: codesign-toy-plugin\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[codesign.backends]\ntoy-fpga = codesign_toy_plugin:ToyFpga\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "codesign_toy_plugin", raising=False)
