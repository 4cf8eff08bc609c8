"""Data loaders: UCI CSV files by path, scikit-learn's bundled sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codesign.data import load_csv, load_dataset, load_sklearn, read_table
from codesign.errors import DataError

UCI = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci"
# rows, features and classes as documented with the published printed-MLP benchmarks
UCI_SETS = {"cardio": (2126, 21, 3), "wine-red": (1599, 11, 6), "wine-white": (4898, 11, 7),
            "pendigits": (10992, 16, 10), "breast-cancer-wisconsin": (683, 9, 2)}

needs_uci = pytest.mark.skipif(not UCI.is_dir(), reason="UCI benchmark files (../shared/data/uci) not present")


@needs_uci
@pytest.mark.parametrize("name", sorted(UCI_SETS))
def test_uci_sets_load_with_published_shapes(name: str) -> None:
    rows, features, classes = UCI_SETS[name]
    data = load_csv(UCI / f"{name}.csv")
    assert len(data.x_train) + len(data.x_test) == rows
    assert data.features == features and data.num_classes == classes
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert set(np.unique(data.y_train)) == set(range(classes))


@needs_uci
def test_uci_by_name_through_environment(monkeypatch) -> None:
    monkeypatch.setenv("CODESIGN_UCI_DIR", str(UCI))
    data = load_dataset("uci:cardio")
    assert data.name == "cardio"


def test_split_is_deterministic_and_stratified() -> None:
    first, second = load_sklearn("iris", seed=3), load_sklearn("iris", seed=3)
    assert np.array_equal(first.x_test, second.x_test)
    assert np.bincount(first.y_test).tolist() == [15, 15, 15]
    assert not np.array_equal(first.x_test, load_sklearn("iris", seed=4).x_test)


def test_csv_with_header_semicolons_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text('"id";"a";"b";"y"\n' + "\n".join(f"{i};{i % 3};{'?' if i == 4 else i * 2};{i % 2}"
                                                       for i in range(20)) + "\n")
    features, labels = read_table(path, drop_columns=(0,))
    assert features.shape == (20, 2) and np.isnan(features[4, 1])
    data = load_csv(path, drop_columns=(0,))
    assert not np.isnan(data.x_train).any() and not np.isnan(data.x_test).any()


@pytest.mark.parametrize("content, message", [("1,2,3\n", "fewer than two rows"),
                                              ("1,2,3\n1,2\n4,5,6\n", "row 2 has 2 columns")])
def test_bad_csv(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_csv(path)


def test_unknown_sources() -> None:
    with pytest.raises(DataError, match="no such data file"):
        load_dataset("/nonexistent/data.csv")
    with pytest.raises(DataError, match="unknown scikit-learn"):
        load_sklearn("mnist")
    with pytest.raises(DataError, match="not found"):
        load_dataset("uci:no-such-set")
