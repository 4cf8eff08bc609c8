"""Data sets: UCI CSV files by path (the printed-MLP benchmarks) and scikit-learn's offline sets.

Loaders take a path; nothing is downloaded. Features are min-max scaled to [0, 1] with the
training split's statistics, which is what unsigned input quantisers expect.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codesign.errors import DataError

SKLEARN_SETS = ("breast_cancer", "wine", "digits", "iris")
# Known layouts of the UCI files used by the printed-MLP literature (by file stem).
UCI_LAYOUTS = {"breast-cancer-wisconsin": {"drop_columns": (0,)}}
UCI_ENV = "CODESIGN_UCI_DIR"


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str = ""  # the file or set it was read from, for error messages

    @property
    def features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def read_table(path: str | os.PathLike, *, drop_columns: tuple[int, ...] = (),
               label_column: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """A numeric CSV (delimiter and header sniffed) -> (features float64, raw labels)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file", hint="pass the path of a CSV file")
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise DataError(f"{path}: fewer than two rows", hint="pass a CSV with one sample per line")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    if not _numeric(rows[0][label_column]) or not all(_numeric(v) or v.strip() == "?" for v in rows[0]):
        rows = rows[1:]  # header row
    first_row = len(lines) - len(rows) + 1  # line number of the first data row in the file
    width = len(rows[0])
    for index, row in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{path}: row {index + first_row} has {len(row)} columns, expected {width}",
                            hint="fix the file or pass a consistent CSV")
    table = np.empty((len(rows), width))
    for index, row in enumerate(rows):
        for column, value in enumerate(row):
            table[index, column] = _cell(value, path, index + first_row, column + 1)
    labels = table[:, label_column]
    if np.isnan(labels).any():
        raise DataError(f"{path}: missing labels", hint="drop samples without a label")
    keep = [c for c in range(width) if c not in {label_column % width, *(d % width for d in drop_columns)}]
    return table[:, keep], labels


def _cell(value: str, path: Path, row: int, column: int) -> float:
    """One CSV cell as a number ('?' and empty cells are missing values)."""
    text = value.strip()
    if text in ("?", ""):
        return np.nan
    try:
        number = float(text)
    except ValueError:
        raise DataError(f"{path}: row {row}, column {column}: {text[:40]!r} is not a number",
                        hint="every feature and label must be numeric ('?' or empty marks a missing value)") from None
    if not np.isfinite(number):
        raise DataError(f"{path}: row {row}, column {column}: {text!r} is not a finite number",
                        hint="replace it, or write '?' for a missing value")
    return number


def require_fits(data: Dataset, graph) -> None:
    """The data must have the model's input features and no more classes than it can predict."""
    features = graph.input_transform.features
    where = data.source or data.name
    if data.features != features:
        raise DataError(f"{where}: {data.features} features per sample, but model {graph.name} takes {features}",
                        hint="pass the data the model was trained on")
    predictable = max(2, graph.out_features)
    if data.num_classes > predictable:
        raise DataError(f"{where}: {data.num_classes} classes, but model {graph.name} has {graph.out_features} "
                        f"output{'s' if graph.out_features > 1 else ''} ({predictable} classes)",
                        hint="pass the data the model was trained on")


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def prepare(name: str, features: np.ndarray, labels: np.ndarray, *, test_fraction: float = 0.3,
            seed: int = 0, source: str = "") -> Dataset:
    """Stratified split, median imputation of missing values, [0, 1] scaling from the train split."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test fraction {test_fraction} must be in (0, 1)", hint="use e.g. 0.3")
    classes, y = np.unique(labels, return_inverse=True)
    counts = np.bincount(y)
    stratify = y if counts.min() >= 2 else None
    x_train, x_test, y_train, y_test = train_test_split(
        features, y, test_size=test_fraction, random_state=seed, stratify=stratify)
    median = np.nanmedian(x_train, axis=0)
    median = np.where(np.isnan(median), 0.0, median)
    x_train = np.where(np.isnan(x_train), median, x_train)
    x_test = np.where(np.isnan(x_test), median, x_test)
    low, high = x_train.min(axis=0), x_train.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scale = lambda x: np.clip((x - low) / span, 0.0, 1.0)  # noqa: E731
    labels_text = tuple(str(int(c)) if float(c).is_integer() else str(c) for c in classes)
    return Dataset(name, scale(x_train), y_train.astype(np.int64), scale(x_test), y_test.astype(np.int64),
                   labels_text, source)


def load_csv(path: str | os.PathLike, *, test_fraction: float = 0.3, seed: int = 0,
             drop_columns: tuple[int, ...] | None = None) -> Dataset:
    """A UCI-style CSV (label in the last column) as a split, scaled Dataset."""
    path = Path(path)
    layout = UCI_LAYOUTS.get(path.stem, {})
    drop = layout.get("drop_columns", ()) if drop_columns is None else drop_columns
    features, labels = read_table(path, drop_columns=drop)
    return prepare(path.stem, features, labels, test_fraction=test_fraction, seed=seed, source=str(path))


def uci_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where a UCI set lives: ``root``, else $CODESIGN_UCI_DIR, else ../shared/data/uci."""
    candidates = [Path(root)] if root else []
    if os.environ.get(UCI_ENV):
        candidates.append(Path(os.environ[UCI_ENV]))
    candidates += [Path.cwd() / ".." / "shared" / "data" / "uci", Path(__file__).parents[2] / ".." / "shared" / "data" / "uci"]
    for folder in candidates:
        if (folder / f"{name}.csv").is_file():
            return (folder / f"{name}.csv").resolve()
    raise DataError(f"UCI data set {name!r} not found (looked in {', '.join(str(c) for c in candidates)})",
                    hint=f"pass its directory, or set {UCI_ENV}")


def load_sklearn(name: str, *, test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """One of scikit-learn's bundled data sets (no network needed)."""
    if name not in SKLEARN_SETS:
        raise DataError(f"unknown scikit-learn data set {name!r}", hint=f"use one of {', '.join(SKLEARN_SETS)}")
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")()
    return prepare(name, bunch.data.astype(np.float64), bunch.target, test_fraction=test_fraction, seed=seed,
                   source=f"scikit-learn {name}")


def load_dataset(spec: str, *, test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """'digits' (scikit-learn), 'uci:cardio' (UCI directory), or a path to a CSV file."""
    if spec in SKLEARN_SETS:
        return load_sklearn(spec, test_fraction=test_fraction, seed=seed)
    if spec.startswith("uci:"):
        return load_csv(uci_path(spec[4:]), test_fraction=test_fraction, seed=seed)
    return load_csv(spec, test_fraction=test_fraction, seed=seed)
