"""A backend for the data-safety tests: its export stops half-way through writing its staging
directory until the test says go, so a test can send a signal or start a race at that moment.

It is installed only for the subprocesses of tests/test_data_safety.py (PYTHONPATH), through the
same entry-point group as every backend.  SAFETY_SYNC names a folder: the export creates
``ready-PID`` there once it is inside its staging directory and waits (at most 60 s) for
``go`` to appear.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from codesign.artifact import Artifact, atomic_directory
from codesign.backends.base import BackendBase
from codesign.estimate import Estimate


class HeldBackend(BackendBase):
    name = "held"
    family = "crossbar"
    default_card = "rram-40nm"

    def lower(self, graph, card, out_dir, *, overwrite=False, **options):
        self.resolve(options, "export")
        sync = Path(os.environ["SAFETY_SYNC"])
        with atomic_directory(out_dir, overwrite=overwrite) as staging:
            (staging / "first-half.txt").write_text(f"{graph.name} on {card.name}\n")
            (sync / f"ready-{os.getpid()}").touch()
            deadline = time.monotonic() + 60
            while not (sync / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            (staging / "second-half.txt").write_text(f"written by process {os.getpid()}\n")
        return Artifact.from_directory(self.name, Path(out_dir))

    def estimate(self, graph, card, **options):
        self.resolve(options, "estimate")
        return Estimate(target=self.name, card=card.name, card_hash=card.content_hash, method="analytical",
                        latency_s=1e-6, energy_j=1e-9, area_mm2=1.0, power_w=1e-3, assumptions=("test backend",))
