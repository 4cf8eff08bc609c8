"""Typed backend options: one declaration serves the CLI, the Python API, sweeps and the help text.

A backend lists its options as :class:`Option` records in an :class:`OptionSchema`. Every entry
point (``-O KEY=VALUE`` on the command line, keyword arguments in Python, ``options`` tables in
sweep configs) goes through :meth:`OptionSchema.resolve`, so a wrong type, a value out of range
or an unknown choice is the same one-line error everywhere, naming the option, the value and what
is allowed.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from codesign.errors import ParameterError

KINDS = ("int", "float", "bool", "str", "choice", "floats", "mapping", "path")
COMMANDS = frozenset({"estimate", "export", "sweep"})
_INT_TEXT = re.compile(r"[+-]?\d+")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Option:
    """One backend option: its name, type, allowed values, default and a one-line help."""

    name: str
    kind: str  # one of KINDS
    default: Any
    help: str
    low: float | None = None  # inclusive bounds for int, float and every value of floats
    high: float | None = None
    low_open: bool = False  # the lower bound itself is not allowed (e.g. a time limit > 0)
    high_open: bool = False  # the upper bound itself is not allowed (e.g. an accuracy loss < 1)
    choices: tuple[str, ...] = ()  # for kind "choice" (matched case-insensitively)
    commands: frozenset[str] = COMMANDS  # where it applies: estimate, export, sweep
    sweep_default: Any = None  # a different default inside sweeps (None: same as default)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"option {self.name}: a choice needs choices")
        if not self.commands <= COMMANDS:
            raise ValueError(f"option {self.name}: commands must be among {sorted(COMMANDS)}")
        object.__setattr__(self, "commands", frozenset(self.commands))

    # -- description -----------------------------------------------------------------------------
    def allowed(self) -> str:
        """What a valid value looks like, for error messages and `codesign backends --options`."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "mapping":
            return "a JSON object"
        if self.kind == "path":
            return "a path"
        if self.kind == "str":
            return "a non-empty string"
        noun = {"int": "an integer", "float": "a number", "floats": "a number or comma-separated numbers"}[self.kind]
        return noun + self._range_text()

    def _range_text(self) -> str:
        low, high = _number(self.low), _number(self.high)
        if low is not None and high is not None:
            if self.low_open or self.high_open:
                return f" in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
            return f" in {low}..{high}"
        if low is not None:
            return f" > {low}" if self.low_open else f" >= {low}"
        if high is not None:
            return f" < {high}" if self.high_open else f" <= {high}"
        return ""

    def default_for(self, command: str) -> Any:
        return self.sweep_default if command == "sweep" and self.sweep_default is not None else self.default

    # -- conversion ------------------------------------------------------------------------------
    def convert(self, value: Any, target: str) -> Any:
        """The typed value, or a ParameterError naming the option, the value and what is allowed."""
        try:
            converted = _CONVERTERS[self.kind](self, value)
        except (TypeError, ValueError):
            raise self._error(value, target) from None
        if self.kind in ("int", "float"):
            self._check_range(converted, value, target)
        elif self.kind == "floats":
            for item in converted:
                self._check_range(item, value, target)
        return converted

    def _check_range(self, number: float, written: Any, target: str) -> None:
        low_fails = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        high_fails = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if low_fails or high_fails:
            raise self._error(written, target)

    def _error(self, value: Any, target: str) -> ParameterError:
        shown = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
        return ParameterError(f"{target} option {self.name} = {shown} is invalid: {self.name} must be {self.allowed()}",
                              hint=f"{self.help} (`codesign backends --options {target}` lists every option)")


def _number(value: float | None) -> str | None:
    """A bound as people write it: 4096, 0.5, 4294967295 (not 4.29497e+09)."""
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _to_int(option: Option, value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError


def _to_float(option: Option, value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError
    number = float(value.strip()) if isinstance(value, str) else float(value) if isinstance(value, int | float) else None
    if number is None or not math.isfinite(number):
        raise ValueError
    return number


def _to_bool(option: Option, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError


def _to_str(option: Option, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


def _to_choice(option: Option, value: Any) -> str:
    if isinstance(value, str):
        for choice in option.choices:
            if value.strip().lower() == choice.lower():
                return choice
    raise ValueError


def _to_floats(option: Option, value: Any) -> tuple[float, ...]:
    if isinstance(value, str):
        text = value.strip()
        items: Any = json.loads(text) if text.startswith("[") else [v for v in text.split(",")]
    elif isinstance(value, list | tuple):
        items = value
    else:
        items = [value]
    if not isinstance(items, list | tuple) or not items:
        raise ValueError
    return tuple(_to_float(option, item) for item in items)


def _to_mapping(option: Option, value: Any) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise ValueError
    return dict(value)


def _to_path(option: Option, value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return _to_str(option, value)


_CONVERTERS = {"int": _to_int, "float": _to_float, "bool": _to_bool, "str": _to_str, "choice": _to_choice,
               "floats": _to_floats, "mapping": _to_mapping, "path": _to_path}


@dataclass(frozen=True)
class OptionSchema:
    """The options of one backend."""

    options: tuple[Option, ...] = ()

    def __post_init__(self) -> None:
        names = [option.name for option in self.options]
        if len(set(names)) != len(names):
            raise ValueError(f"option names must be unique: {names}")

    def __iter__(self) -> Iterator[Option]:
        return iter(self.options)

    def __contains__(self, name: object) -> bool:
        return any(option.name == name for option in self.options)

    def get(self, name: str) -> Option:
        return next(option for option in self.options if option.name == name)

    def names(self, command: str | None = None) -> tuple[str, ...]:
        return tuple(o.name for o in self.options if command is None or command in o.commands)

    def resolve(self, target: str, values: Mapping[str, Any], command: str = "estimate") -> dict[str, Any]:
        """Validate ``values`` for ``command`` and fill in the defaults of every option it takes.

        Keys may be written with dashes (``reuse-factor``); ``None`` means "use the default".
        """
        if command not in COMMANDS:
            raise ValueError(f"command {command!r} is not one of {sorted(COMMANDS)}")
        given = {str(key).replace("-", "_"): value for key, value in values.items()}
        for key in given:
            if key not in self:
                usable = ", ".join(self.names(command)) or "none"
                raise ParameterError(f"unknown {target} option {key!r}",
                                     hint=f"{target} takes: {usable} (`codesign backends --options {target}`)")
            if command not in self.get(key).commands:
                where = " and ".join(sorted(self.get(key).commands))
                raise ParameterError(f"{target} option {key!r} applies to {where}, not to {command}",
                                     hint=f"drop -O {key}=... here")
        resolved = {}
        for option in self.options:
            if command not in option.commands:
                continue
            value = given.get(option.name)
            resolved[option.name] = option.default_for(command) if value is None else option.convert(value, target)
        return resolved

    def describe(self) -> list[dict[str, Any]]:
        """Rows for `codesign backends --options` (and its --json)."""
        return [{"name": o.name, "type": o.kind, "allowed": o.allowed(), "default": o.default,
                 "sweep_default": o.sweep_default, "commands": sorted(o.commands), "help": o.help}
                for o in self.options]
