"""Target cards: TOML files of device, FPGA-part and printed-process parameters -> frozen dataclasses.

Every numeric constant is written as an inline table with its unit and its source::

    energy_per_conversion = { value = 1.67, unit = "pJ", source = "Shafiee et al., ISAAC, ISCA 2016" }

and is converted to SI on load. Settings (mapping scheme, part name) are plain strings.
Unknown keys, missing keys, wrong units, out-of-range values and constants without a source
are errors that name the file and the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from codesign.card_schema import (  # noqa: F401 (the schema is part of this module's API)
    PARAMS,
    Constant,
    Converter,
    CrossbarArray,
    CrossbarNoise,
    CrossbarParams,
    CrossbarPeriphery,
    FpgaArea,
    FpgaClock,
    FpgaParams,
    FpgaPart,
    FpgaPower,
    PrintedCell,
    PrintedInterface,
    PrintedParams,
    PrintedProcess,
    constant,
    section,
    setting,
)
from codesign.errors import CardError
from codesign.units import to_si

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FAMILIES = ("fpga", "crossbar", "printed")  # the shipped families; plugins add theirs (card_families())
FAMILY_ENTRY_POINTS = "codesign.card_families"  # name = "module:ParamsDataclass"




@dataclass(frozen=True)
class Card:
    """A validated target card."""

    name: str
    family: str
    description: str
    params: Any  # FpgaParams | CrossbarParams | PrintedParams
    path: str
    content_hash: str

    def __getattr__(self, item: str):
        # card.part, card.adc ... read through to the family's parameters
        if item.startswith("_") or item == "params":
            raise AttributeError(item)
        return getattr(self.params, item)

    def constants(self) -> dict[str, Constant]:
        """Flat {dotted.key: Constant} view, for reports."""
        return dict(_flatten(self.params, ""))


def _flatten(obj: Any, prefix: str):
    if isinstance(obj, Constant):
        yield prefix, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else key)
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from _flatten(getattr(obj, f.name), f"{prefix}.{f.name}" if prefix else f.name)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def _build(cls, table: Any, where: str, file: str):
    """Build a schema dataclass from a TOML table; ``where`` is the dotted key ('' at the top)."""
    if isinstance(cls, _LazySchema):
        cls = cls.load()
    if not isinstance(table, dict):
        raise CardError(f"{file}: [{where}] must be a table", hint=f"write a [{where}] section")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in known:
            dotted = f"{where}.{key}" if where else key
            raise CardError(f"{file}: unknown key '{dotted}'",
                            hint=f"expected one of: {', '.join(sorted(known))}")
    values = {}
    for name, f in known.items():
        key = f"{where}.{name}" if where else name
        kind = f.metadata.get("kind")
        if name not in table:
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            if not has_default:
                raise CardError(f"{file}: missing key '{key}'", hint=_expected(f))
            continue
        raw = table[name]
        if kind == "section":
            values[name] = _build(f.metadata["cls"], raw, key, file)
        elif kind == "table":
            if not isinstance(raw, dict) or not raw:
                raise CardError(f"{file}: '{key}' must be a non-empty table", hint=f"add [{key}.NAME] entries")
            values[name] = {entry: _build(f.metadata["cls"], sub, f"{key}.{entry}", file)
                            for entry, sub in raw.items()}
        elif kind == "constant":
            values[name] = _constant(raw, f.metadata, key, file)
        else:
            choices = f.metadata.get("choices")
            if not isinstance(raw, str) or (choices and raw not in choices):
                raise CardError(f"{file}: '{key}' = {raw!r} is invalid",
                                hint=f"expected {' or '.join(map(repr, choices)) if choices else 'a string'}")
            values[name] = raw
    return cls(**values)


def _expected(f: dataclasses.Field) -> str:
    meta = f.metadata
    if meta.get("kind") == "constant":
        return (f"expected {{ value = <{meta['dimension']}>, unit = \"...\", source = \"...\" }}"
                f" ({meta['doc']})")
    if meta.get("kind") == "section":
        return f"expected a [{f.name}] table"
    return f"expected a string ({meta.get('doc', '')})"


def _constant(raw: Any, meta: dict, key: str, file: str) -> Constant:
    if not isinstance(raw, dict):
        raise CardError(f"{file}: '{key}' must be an inline table with value, unit and source",
                        hint=f'write {key.split(".")[-1]} = {{ value = ..., unit = "...", source = "..." }}')
    extra = set(raw) - {"value", "unit", "source", "note"}
    if extra:
        raise CardError(f"{file}: unknown key '{key}.{sorted(extra)[0]}'", hint="use value, unit, source, note")
    for part in ("value", "unit", "source"):
        if part not in raw:
            raise CardError(f"{file}: '{key}' has no {part}", hint=_expected_constant_part(part, meta))
    value, unit, source = raw["value"], raw["unit"], raw["source"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CardError(f"{file}: '{key}.value' = {value!r} is not a number", hint=f"expected a {meta['dimension']}")
    if not isinstance(source, str) or len(source.strip()) < 4:
        raise CardError(f"{file}: '{key}.source' is empty", hint="cite the paper, datasheet or PDK it comes from")
    if value != value or value in (float("inf"), float("-inf")):
        raise CardError(f"{file}: '{key}.value' is not finite", hint="use a finite number")
    try:
        si = to_si(float(value), str(unit), meta["dimension"], f"{file}: '{key}'")
    except CardError as exc:
        raise CardError(exc.message if file in exc.message else f"{file}: '{key}': {exc.message}",
                        hint=exc.hint) from None
    _check_range(si, value, meta, key, file)
    return Constant(int(si) if meta["integer"] else si, str(unit), source.strip())


def _expected_constant_part(part: str, meta: dict) -> str:
    return {"value": f"add value = <a {meta['dimension']}>",
            "unit": f"add unit = \"...\" (a {meta['dimension']} unit)",
            "source": "add source = \"paper, datasheet or PDK\""}[part]


def _check_range(si: float, written: float, meta: dict, key: str, file: str) -> None:
    if meta["integer"] and float(written) != int(written):
        raise CardError(f"{file}: '{key}' = {written} must be a whole number", hint="expected an integer")
    if meta["positive"] and si <= 0:
        raise CardError(f"{file}: '{key}' = {written} must be > 0", hint="expected a positive value")
    if meta["minimum"] is not None and si < meta["minimum"]:
        raise CardError(f"{file}: '{key}' = {written} must be >= {meta['minimum']}",
                        hint=f"expected a value >= {meta['minimum']}")
    if meta["maximum"] is not None and si > meta["maximum"]:
        raise CardError(f"{file}: '{key}' = {written} must be <= {meta['maximum']}",
                        hint=f"expected a value <= {meta['maximum']}")


def parse_card(text: str, path: str = "<card>") -> Card:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CardError(f"{path}: not valid TOML ({exc})", hint="fix the TOML syntax") from None
    for key in ("name", "family"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise CardError(f"{path}: missing key '{key}'", hint=f"expected {key} = \"...\" at the top")
    family = data.pop("family")
    schemas = card_families()
    if family not in schemas:
        raise CardError(f"{path}: 'family' = {family!r} is invalid", hint=f"expected one of {', '.join(schemas)}")
    name = data.pop("name")
    description = data.pop("description", "")
    params = _build(schemas[family], data, "", path)
    _family_checks(family, params, path)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Card(name=name, family=family, description=description, params=params, path=path,
                content_hash=digest)


def card_families() -> dict[str, type]:
    """{family: schema dataclass}: the shipped families, then those a plugin package registers under
    the ``codesign.card_families`` entry-point group (loaded only when a card names them)."""
    from importlib.metadata import entry_points

    schemas: dict[str, Any] = dict(PARAMS)
    for entry in entry_points(group=FAMILY_ENTRY_POINTS):
        if entry.name not in schemas:
            schemas[entry.name] = _LazySchema(entry)
    return schemas


class _LazySchema:
    """A plugin card family's schema, imported on first use (listing families imports nothing)."""

    def __init__(self, entry) -> None:
        self.entry = entry

    def __call__(self, **values):
        return self.load()(**values)

    def load(self):
        try:
            cls = self.entry.load()
        except ImportError as exc:
            raise CardError(f"card family {self.entry.name!r} cannot be imported: {exc}",
                            hint="install the package that provides it") from None
        if not dataclasses.is_dataclass(cls):
            raise CardError(f"card family {self.entry.name!r} ({self.entry.value}) is not a dataclass",
                            hint="declare the family's schema as a frozen dataclass of constant()/setting() fields")
        return cls


def _family_checks(family: str, params: Any, path: str) -> None:
    if family == "crossbar" and params.array.g_max.value <= params.array.g_min.value:
        raise CardError(f"{path}: 'array.g_max' must exceed 'array.g_min'",
                        hint="swap or fix the conductance range")


# ---------------------------------------------------------------------------------------------
# Finding cards
# ---------------------------------------------------------------------------------------------
def shipped_card_files() -> dict[str, Path]:
    """{card name (file stem): path} of the cards shipped inside the package."""
    root = resources.files("codesign.targets")
    found = {}
    for family in FAMILIES:
        folder = root / family
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.name.endswith(".toml"):
                    found[entry.name[:-5]] = Path(str(entry))
    return dict(sorted(found.items()))


def load_card(name_or_path: str | os.PathLike) -> Card:
    """Load a card by shipped name (e.g. 'pynq-z2') or by path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        shipped = shipped_card_files()
        if str(name_or_path) not in shipped:
            raise CardError(f"no card named {str(name_or_path)!r}",
                            hint=f"shipped cards: {', '.join(shipped) or 'none'}; or pass a .toml path")
        path = shipped[str(name_or_path)]
    if not path.is_file():
        raise CardError(f"{path}: no such card file", hint="pass a card name from `codesign cards` or a .toml path")
    return parse_card(path.read_text(encoding="utf-8"), str(path))


def list_cards() -> list[Card]:
    return [load_card(path) for path in shipped_card_files().values()]
