"""`codesign cards`: the shipped target cards, or one card's constants with units and sources."""

from __future__ import annotations

import json

from codesign.console import console as terminal
from codesign.errors import CodesignError


def add_arguments(parser) -> None:
    parser.add_argument("name", nargs="?", help="card name or .toml path to show in full")
    parser.add_argument("--family", help="only cards of this family (e.g. fpga, crossbar, printed)")
    parser.add_argument("--json", action="store_true")


def run(args) -> int:
    from codesign.cards import list_cards, load_card

    if args.name:
        card = load_card(args.name)
        if args.json:
            data = {key: {"value": c.value, "unit": c.unit, "source": c.source}
                    for key, c in card.constants().items()}
            print(json.dumps({"name": card.name, "family": card.family, "constants": data}, indent=2))
            return 0
        from codesign.report_tables import card_table

        terminal().print(card_table(card))
        return 0
    cards = list_cards()
    if args.family:
        families = sorted({card.family for card in cards})
        if args.family not in families:
            raise CodesignError(f"--family {args.family!r} has no cards", hint=f"use one of {', '.join(families)}")
        cards = [card for card in cards if card.family == args.family]
    if args.json:
        print(json.dumps([{"name": c.name, "family": c.family, "description": c.description,
                           "path": c.path} for c in cards], indent=2))
        return 0
    from codesign.report_tables import cards_table

    terminal().print(cards_table(cards))
    return 0
