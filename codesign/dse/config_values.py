"""Small validators of sweep-config values: each error names the key and what to write instead."""

from __future__ import annotations

import math

from codesign.errors import ParameterError


class SweepConfigError(ParameterError):
    """The sweep configuration file has a missing, unknown or invalid key."""


def known(table: dict, keys: tuple[str, ...], prefix: str, source: str) -> None:
    for key in table:
        if key not in keys:
            raise SweepConfigError(f"{source}: unknown key '{prefix}{key}'", hint=f"use one of {', '.join(keys)}")


def table(value, name: str, source: str) -> dict:
    if not isinstance(value, dict):
        raise SweepConfigError(f"{source}: {name} must be a table", hint=f"write a [{name}] section")
    return value


def integer(value, name: str, source: str, *, low: int | None = None, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SweepConfigError(f"{source}: {name} = {value!r} must be an integer", hint=f"e.g. {name.split('.')[-1]} = 4")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise SweepConfigError(f"{source}: {name} = {value} must be {bounds}", hint="change the value")
    return value


def positive_int(value, name: str, source: str) -> int:
    return integer(value, name, source, low=1)


def number(value, name: str, source: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise SweepConfigError(f"{source}: {name} = {value!r} must be a number", hint="e.g. 0.1")
    return float(value)


def boolean(value, name: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise SweepConfigError(f"{source}: {name} = {value!r} must be true or false", hint="write true or false")
    return value


def int_choices(value, name: str, source: str, low: int, high: int) -> tuple[int, ...]:
    """A list of integers, one integer, or a range table {low, high, step}."""
    if isinstance(value, dict):
        unknown = set(value) - {"low", "high", "step"}
        if unknown or "low" not in value or "high" not in value:
            raise SweepConfigError(f"{source}: {name} range must be {{ low = A, high = B[, step = S] }}",
                                   hint=f"e.g. {name.split('.')[-1]} = {{ low = 2, high = 6 }}")
        start = integer(value["low"], f"{name}.low", source, low=low, high=high)
        stop = integer(value["high"], f"{name}.high", source, low=start, high=high)
        step = integer(value.get("step", 1), f"{name}.step", source, low=1)
        return tuple(range(start, stop + 1, step))
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise SweepConfigError(f"{source}: {name} must be a non-empty list of integers or {{ low, high }}",
                               hint=f"e.g. {name.split('.')[-1]} = [2, 3, 4]")
    for index, item in enumerate(value):
        integer(item, f"{name}[{index}]", source, low=low, high=high)
    return unique(value, name, source)


def unique(values: list, name: str, source: str) -> tuple:
    if len(set(values)) != len(values):
        raise SweepConfigError(f"{source}: {name} lists a value twice", hint="list each choice once")
    return tuple(values)


def choices(value, name: str, source: str) -> tuple:
    """A knob's choices: a list, one value, or an integer range table {low, high, step}."""
    if isinstance(value, dict):
        return int_choices(value, name, source, -2**31, 2**31)
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str | int | float | bool) for v in values):
        raise SweepConfigError(f"{source}: {name} = {value!r} must be a list of numbers, strings or booleans",
                               hint="e.g. [1, 2, 4]")
    return unique(values, name, source)
