"""The target cards the estimates used: every constant with its value, unit and source.

A card is looked up by the name an estimate records (shipped cards first, then card files in
the run directory); a card whose content hash differs from the estimate's is flagged.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from codesign.errors import CodesignError
from codesign.report.collect import RunContents
from codesign.report.formatting import format_si
from codesign.report.html import anchor, badge, e, kv_table, plural, section

_SI_UNITS = {"time": "s", "energy": "J", "power": "W", "voltage": "V", "current": "A", "conductance": "S",
             "resistance": "Ω", "frequency": "Hz", "capacitance": "F", "length": "m"}


def cards_used(estimates: list[dict[str, Any]]) -> dict[str, set[str]]:
    """{card name: the card hashes the estimates recorded}."""
    names: dict[str, set[str]] = {}
    for data in estimates:
        if data.get("card"):
            names.setdefault(str(data["card"]), set()).add(str(data.get("card_hash", "")))
    return names


def _card_notes(path: str) -> dict[str, str]:
    """{dotted key: note} from the card's TOML (notes are not part of the loaded card)."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    notes = {}

    def walk(table: dict, prefix: str) -> None:
        for key, value in table.items():
            dotted = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                if "note" in value and "value" in value:
                    notes[dotted] = str(value["note"])
                else:
                    walk(value, dotted)

    walk(data, "")
    return notes


def _written(constant) -> str:
    from codesign.units import parse_unit

    try:
        _, factor = parse_unit(constant.unit)
    except CodesignError:
        return f"{constant.value:g}"
    value = constant.value / factor
    return f"{value:.6g} {constant.unit}" if constant.unit not in ("1", "count") else f"{value:.6g}"


def _si(constant) -> str:
    from codesign.units import parse_unit

    try:
        dimension, _ = parse_unit(constant.unit)
    except CodesignError:
        return f"{constant.value:.6g}"
    if dimension in _SI_UNITS:
        return format_si(constant.value, _SI_UNITS[dimension])
    if dimension == "area":
        return f"{constant.value:.6g} m²"
    return f"{constant.value:.6g}"


def find_card(name: str, contents: RunContents | None):
    """A shipped card by name, else a card TOML in the run directory with that name."""
    from codesign.cards import load_card
    from codesign.errors import CardError

    try:
        if "/" in name or "\\" in name or name.endswith(".toml"):  # a name, never a path read from a result file
            raise CardError(f"no shipped card named {name!r}", hint="card names have no path or .toml suffix")
        return load_card(name)
    except CodesignError as missing:
        for path in (contents.files if contents else []):
            if path.suffix == ".toml":
                try:
                    card = load_card(path)
                except CodesignError:
                    continue
                if card.name == name:
                    return card
        raise missing from None


def _card_file(path: str, contents: RunContents | None) -> str:
    if contents is not None:
        try:
            return Path(path).resolve().relative_to(contents.root.resolve()).as_posix()
        except ValueError:
            pass
    return Path(path).name


def _card_settings(params: Any, prefix: str = "") -> dict[str, str]:
    from codesign.cards import Constant

    found: dict[str, str] = {}
    if isinstance(params, Constant):
        return found
    if dataclasses.is_dataclass(params):
        for f in dataclasses.fields(params):
            value = getattr(params, f.name)
            key = f"{prefix}.{f.name}" if prefix else f.name
            if isinstance(value, str):
                found[key] = value
            elif dataclasses.is_dataclass(value) or isinstance(value, dict):
                found.update(_card_settings(value, key))
    elif isinstance(params, dict):
        for name, value in params.items():
            found.update(_card_settings(value, f"{prefix}.{name}" if prefix else name))
    return found


def _card(name: str, hashes: set[str], contents: RunContents | None) -> str:
    try:
        card = find_card(name, contents)
    except CodesignError as exc:
        return f'<div class="card"><h3>{e(name)}</h3><p>{badge(None, "NOT FOUND")} {e(exc.one_line())}</p></div>'
    hashes = hashes - {""}
    if hashes and hashes != {card.content_hash}:
        status = badge(False, "CHANGED") + (" the card file differs from the one the estimates used "
                                            f"(estimate hash {', '.join(sorted(h[:12] for h in hashes))}, "
                                            f"card now {card.content_hash[:12]}); values below are today's")
    else:
        status = badge(True, "MATCHES") + " the card file is the one the estimates used"
    notes = _card_notes(card.path)
    rows = "".join(f"<tr><th>{e(key)}</th><td class=\"num\">{e(_written(c))}</td>"
                   f"<td class=\"num\">{e(_si(c))}</td><td>{e(c.unit)}</td>"
                   f"<td>{e(c.source)}{'<br><span class=muted>' + e(notes[key]) + '</span>' if key in notes else ''}"
                   "</td></tr>" for key, c in card.constants().items())
    settings = _card_settings(card.params)
    return (f'<div class="card" id="{anchor("card", name)}"><h3>{e(card.name)} '
            f'<span class="muted">({e(card.family)})</span></h3><p>{e(card.description)}</p>'
            f'<p class="muted">{status}; file <code>{e(_card_file(card.path, contents))}</code>, '
            f"sha256 <code>{e(card.content_hash[:16])}</code></p>"
            + (f"<h4>settings</h4>{kv_table(settings)}" if settings else "")
            + "<h4>constants</h4><table><tr><th>key</th><th>as written</th><th>SI value</th>"
            f"<th>unit</th><th>source</th></tr>{rows}</table></div>")


def cards_section(names: dict[str, set[str]], contents: RunContents | None = None) -> str:
    if not names:
        return ""
    parts = [_card(name, names[name], contents) for name in sorted(names)]
    return section("cards", "Target cards", "".join(parts), plural(len(parts), "card"))
