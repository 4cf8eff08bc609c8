"""Units of card constants: a small, strict parser from 'pJ', 'um^2', 'mW' to SI factors.

Cards are written in the units papers use; everything inside codesign is SI.
"""

from __future__ import annotations

from codesign.errors import CardError

PREFIXES = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "c": 1e-2,
            "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
# base symbol -> dimension name
BASES = {"s": "time", "J": "energy", "W": "power", "V": "voltage", "A": "current", "S": "conductance",
         "ohm": "resistance", "Hz": "frequency", "F": "capacitance", "m^2": "area", "m": "length",
         "b": "bits", "1": "dimensionless", "%": "dimensionless", "count": "count"}
DIMENSIONS = sorted(set(BASES.values()))


def parse_unit(unit: str) -> tuple[str, float]:
    """'pJ' -> ('energy', 1e-12); 'um^2' -> ('area', 1e-12); '%' -> ('dimensionless', 0.01)."""
    unit = unit.strip()
    if unit == "%":
        return "dimensionless", 0.01
    if unit in BASES:
        return BASES[unit], 1.0
    for base in sorted(BASES, key=len, reverse=True):
        if unit.endswith(base) and unit[: -len(base)] in PREFIXES:
            prefix = PREFIXES[unit[: -len(base)]]
            if base in ("count", "1", "b", "%"):
                break
            return BASES[base], prefix**2 if base == "m^2" else prefix
    raise CardError(f"unknown unit {unit!r}",
                    hint="use an SI unit with an optional prefix, e.g. pJ, mW, um^2, mm^2, ns, uS")


def to_si(value: float, unit: str, expected: str, where: str) -> float:
    dimension, factor = parse_unit(unit)
    if dimension != expected:
        raise CardError(f"{where}: unit {unit!r} is a {dimension}, expected a {expected}",
                        hint=f"write the value in a {expected} unit")
    return value * factor
