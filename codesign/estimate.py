"""The Estimate record: what a design costs per inference, in SI units, with its provenance.

``compare`` checks an estimate against a stored baseline with a relative tolerance per key
and reports every key that drifted, which is what CI regression checks run on.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from codesign.errors import DataError
from codesign.outputs import write_file

METHODS = ("analytical", "synthesis", "simulation")
HEADLINE = ("latency_s", "energy_j", "area_mm2", "power_w")
DEFAULT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Estimate:
    """Per-inference cost of one design on one target card."""

    target: str
    card: str
    card_hash: str
    method: str
    latency_s: float
    energy_j: float
    area_mm2: float
    power_w: float
    throughput_inf_per_s: float | None = None
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()
    tool_versions: dict[str, str] = field(default_factory=dict)
    model: str = ""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise DataError(f"estimate method {self.method!r} is invalid", hint=f"use one of {', '.join(METHODS)}")
        for key in HEADLINE:
            value = getattr(self, key)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise DataError(f"estimate {key} = {value!r} is not a finite non-negative number",
                                hint="this is a backend bug; please report it")
        object.__setattr__(self, "assumptions", tuple(self.assumptions))

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["assumptions"] = list(self.assumptions)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Estimate:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise DataError(f"unknown estimate field {sorted(unknown)[0]!r}", hint="is this an estimate.json?")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Estimate:
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"not an estimate JSON document ({exc})", hint="regenerate it with codesign estimate") from None

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the JSON atomically; an existing file is an OutputError unless ``overwrite``
        (a deliberate rewrite)."""
        return write_file(path, self.to_json(), replace="always" if overwrite else "never")

    @classmethod
    def load(cls, path: str | Path) -> Estimate:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such estimate file", hint="run codesign estimate first")
        return cls.from_json(path.read_text(encoding="utf-8"))

    # -- views -----------------------------------------------------------------------------------
    @property
    def energy_per_op_j(self) -> float | None:
        macs = self.resources.get("macs")
        return self.energy_j / macs if macs else None

    def flat(self) -> dict[str, float]:
        """Every number as {dotted.key: value}: headline, breakdown.X.Y, resources.Z."""
        values = {key: float(getattr(self, key)) for key in HEADLINE}
        if self.throughput_inf_per_s is not None:
            values["throughput_inf_per_s"] = float(self.throughput_inf_per_s)
        for part, metrics in self.breakdown.items():
            for metric, value in metrics.items():
                if isinstance(value, int | float):
                    values[f"breakdown.{part}.{metric}"] = float(value)
        for name, value in self.resources.items():
            if isinstance(value, int | float):
                values[f"resources.{name}"] = float(value)
        return values


@dataclass(frozen=True)
class Drift:
    """One key whose value moved beyond its tolerance (or appeared / disappeared)."""

    key: str
    baseline: float | None
    current: float | None
    tolerance: float
    detail: str = ""  # for non-numeric keys (card_hash)

    @property
    def relative_change(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        if self.baseline == 0:
            return math.inf if self.current != 0 else 0.0
        return (self.current - self.baseline) / abs(self.baseline)

    def describe(self) -> str:
        if self.detail:
            return f"{self.key}: {self.detail}"
        if self.baseline is None:
            return f"{self.key}: new key (value {self.current:g})"
        if self.current is None:
            return f"{self.key}: missing (baseline {self.baseline:g})"
        return (f"{self.key}: {self.baseline:g} -> {self.current:g} "
                f"({self.relative_change:+.2%}, tolerance {self.tolerance:.2%})")


def tolerance_for(key: str, tolerances: dict[str, float]) -> float:
    """Most specific match wins: exact key, then the longest glob pattern, then '*'."""
    if key in tolerances:
        return tolerances[key]
    matches = [pattern for pattern in tolerances if fnmatch(key, pattern)]
    if matches:
        return tolerances[max(matches, key=len)]
    return DEFAULT_TOLERANCE


def compare(current: Estimate, baseline: Estimate, tolerances: dict[str, float] | None = None) -> list[Drift]:
    """Every key that drifted beyond its relative tolerance; an empty list means it holds."""
    tolerances = tolerances or {}
    now, then = current.flat(), baseline.flat()
    drifts = []
    for key in sorted(set(now) | set(then)):
        tolerance = tolerance_for(key, tolerances)
        a, b = then.get(key), now.get(key)
        if a is None or b is None:
            drifts.append(Drift(key, a, b, tolerance))
            continue
        scale = max(abs(a), abs(b))
        if scale and abs(b - a) > tolerance * abs(a) + 1e-300 and abs(b - a) / scale > 1e-12:
            drifts.append(Drift(key, a, b, tolerance))
    if current.card_hash != baseline.card_hash:
        drifts.append(Drift("card_hash", None, None, 0.0,
                            detail=f"card changed ({baseline.card_hash[:12]} -> {current.card_hash[:12]})"))
    return drifts
