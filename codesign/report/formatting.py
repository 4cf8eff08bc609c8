"""How a number is shown: SI prefixes, and the unit its key names.

Estimate records carry their unit in each key (``latency_s``, ``energy_j``, ``area_mm2``,
``power_mw``, ``throughput_inf_per_s``, ``efficiency_tops_per_w``).  The report reads units
from there and nowhere else, so an estimate of a third-party backend renders like the
built-in ones without a table per target.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable
from typing import Any

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"),
             (1e-9, "n"), (1e-12, "p"), (1e-15, "f"), (1e-18, "a"))
# the last word of a key -> SI unit it names (a prefixed word is scaled first: power_mw)
_SI_WORDS = {"s": "s", "j": "J", "w": "W", "hz": "Hz", "v": "V"}
_WORD_PREFIXES = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "g": 1e9}
# area words -> factor to mm²
_AREA_WORDS = {"m2": 1e6, "cm2": 100.0, "mm2": 1.0, "um2": 1e-6}
# X_per_Y: the numerator words that take SI prefixes, and those already scaled (TOPS)
_PER_COUNTS = {"inf": "inf", "ops": "op", "op": "op", "macs": "MAC", "mac": "MAC", "j": "J", "b": "b", "bits": "b"}
_PER_SCALED = {"tops": "TOPS", "gops": "GOPS"}
_FRACTION_WORDS = ("share", "utilisation", "utilization", "rate", "accuracy", "loss", "fraction")
# shown as mm² unless every value of a line is far from it
AREA_UNITS = (("µm²", 1e-6), ("mm²", 1.0), ("cm²", 100.0))

Formatter = Callable[[Any], str]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_si(value: Any, unit: str, digits: int = 4) -> str:
    """50e-9, 's' -> '50 ns'; 6.308e-9, 'J' -> '6.308 nJ'; 0 -> '0 J'."""
    if not is_number(value):
        return "–" if value is None else str(value)
    value = float(value)
    if not math.isfinite(value):
        return f"{value} {unit}".strip()
    if value == 0:
        return f"0 {unit}".strip()
    magnitude = abs(value)
    index = next((i for i, (factor, _) in enumerate(_PREFIXES) if magnitude >= factor), len(_PREFIXES) - 1)
    factor, prefix = _PREFIXES[index]
    text = f"{value / factor:.{digits}g}"
    if abs(float(text)) >= 1000 and index > 0:  # rounding carried into the next prefix
        factor, prefix = _PREFIXES[index - 1]
        text = f"{value / factor:.{digits}g}"
    return f"{text} {prefix}{unit}".strip()


def area_unit(values_mm2: Iterable[Any]) -> tuple[str, float]:
    """One unit for a set of areas (a table column): the one that fits their median."""
    magnitudes = [abs(float(v)) for v in values_mm2 if is_number(v) and v and math.isfinite(float(v))]
    if not magnitudes:
        return AREA_UNITS[1]
    middle = statistics.median(magnitudes)
    if middle < 1e-3:
        return AREA_UNITS[0]
    if middle >= 100:
        return AREA_UNITS[2]
    return AREA_UNITS[1]


def format_area(mm2: Any, unit: tuple[str, float] | None = None) -> str:
    """An area given in mm², in ``unit`` (default: the unit that fits this one value)."""
    if not is_number(mm2):
        return "–" if mm2 is None else str(mm2)
    label, factor = unit or area_unit([mm2])
    return f"{float(mm2) / factor:.4g} {label}"


def _words(key: str) -> list[str]:
    return key.lower().rsplit(".", 1)[-1].split("_")


def area_factor(key: str) -> float | None:
    """mm² per unit of an area key ('area_mm2' -> 1, 'area_cm2' -> 100), else None."""
    return _AREA_WORDS.get(_words(key)[-1]) if key else None


def _si_word(word: str) -> tuple[str, float] | None:
    if word == "mhz":  # megahertz, as written everywhere (a millihertz clock is no clock)
        return "Hz", 1e6
    if word in _SI_WORDS:
        return _SI_WORDS[word], 1.0
    if len(word) >= 2 and word[0] in _WORD_PREFIXES and word[1:] in _SI_WORDS and word[1:] != "s":
        return _SI_WORDS[word[1:]], _WORD_PREFIXES[word[0]]
    if word in ("ms", "us", "ns", "ps"):  # times: 's' alone is too common a plural ending to scale
        return "s", _WORD_PREFIXES[word[0]]
    return None


def unit_formatter(key: str) -> Formatter | None:
    """How a number stored under ``key`` is shown, from the unit its name ends with; None: no unit."""
    if not key:
        return None
    words = _words(key)
    factor = area_factor(key)
    if factor is not None:
        return lambda v: format_area(float(v) * factor)
    if len(words) >= 3 and words[-2] == "per":
        numerator, denominator = words[-3], _SI_WORDS.get(words[-1])
        if denominator and numerator in _PER_SCALED:
            return lambda v: f"{float(v):.4g} {_PER_SCALED[numerator]}/{denominator}"
        if denominator and numerator in _PER_COUNTS:
            return lambda v: format_si(v, f"{_PER_COUNTS[numerator]}/{denominator}")
        return None
    if words[-1] in _PER_SCALED:
        return lambda v: f"{float(v):.4g} {_PER_SCALED[words[-1]]}"
    found = _si_word(words[-1]) if len(words) > 1 or words[-1] in ("s", "j", "w", "hz") else None
    if found is not None:
        unit, scale = found
        return lambda v: format_si(float(v) * scale, unit)
    if any(word in _FRACTION_WORDS for word in words):
        return lambda v: f"{float(v):.2%}" if 0 <= float(v) <= 1 else plain(v)
    return None


def plain(value: Any) -> str:
    """A value without a unit: integers as integers, floats to 4 digits, short lists joined."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if value is None:
        return "–"
    if isinstance(value, list | tuple) and all(isinstance(x, str | int | float) for x in value):
        text = "; ".join(plain(x) for x in value)
        return text if len(text) <= 400 else text[:397] + "…"
    if isinstance(value, dict | list | tuple):
        text = json.dumps(value, sort_keys=True, default=str)
        return text if len(text) <= 160 else text[:157] + "…"
    return str(value)


def format_value(value: Any, *keys: str) -> str:
    """A value shown by the unit the first of ``keys`` that names one says (else plain)."""
    if is_number(value):
        for key in keys:
            fmt = unit_formatter(key)
            if fmt is not None:
                return fmt(value)
    return plain(value)


def area_key(*keys: str) -> tuple[str, float] | None:
    """(key, mm² per unit) of the first key that decides a cell's unit, if that key is an area."""
    for key in keys:
        if key and unit_formatter(key) is not None:
            factor = area_factor(key)
            return (key, factor) if factor is not None else None
    return None


def size(n: float) -> str:
    """Bytes in B / KiB / MiB / GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover
