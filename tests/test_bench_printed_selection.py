"""The front-selection benchmark's regret: what a key's choice within an area budget loses on held-out data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from printed_selection import main, regret  # noqa: E402


def test_regret_is_what_the_keys_choice_loses_per_budget() -> None:
    candidates = [{"proxy_mm2": 0.0, "key": 0.61, "held_out": 0.54},   # lucky on the key
                  {"proxy_mm2": 1.0, "key": 0.60, "held_out": 0.58},
                  {"proxy_mm2": 5.0, "key": 0.65, "held_out": 0.60}]
    # budget 0: only one design (no loss); 1: the key keeps the lucky one (0.04); 5: the best (0)
    assert regret(candidates, np.array([0.0, 1.0, 5.0]), "key") == pytest.approx(0.04 / 3)
    assert regret(candidates, np.array([0.0, 1.0, 5.0]), "held_out") == 0.0


def test_a_folder_that_is_no_finished_search_is_refused(tmp_path, capsys) -> None:
    assert main([str(tmp_path)]) == 2
    assert "not a finished printed search" in capsys.readouterr().err
