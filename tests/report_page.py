"""Reading a report page in tests: tables as rows of cell texts, section headings, badges, links."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

AREA_UNIT = re.compile(r"(µm²|mm²|cm²)$")


class Page(HTMLParser):
    """What the tests look at: tables (rows of cell texts), attributes, badges, headings, text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []  # {"section": id, "rows": [[cell, ...]], "classes": str}
        self.attributes: list[tuple[str, str, str]] = []  # (tag, name, value)
        self.badges: list[tuple[str, str]] = []  # (pass|fail|unknown, text)
        self.headings: dict[str, str] = {}  # section id -> h2 text
        self.text: list[str] = []
        self.tags: set[str] = set()
        self._section = ""
        self._h2: list[str] | None = None
        self._open: list[dict] = []
        self._row: list[str] | None = None
        self._kinds: list[str] = []
        self._cell: list[str] | None = None
        self._badge: tuple[str, list[str]] | None = None

    @property
    def rows(self) -> list[list[str]]:
        return [row for table in self.tables for row in table["rows"]]

    def section_tables(self, section: str) -> list[list[list[str]]]:
        return [table["rows"] for table in self.tables if table["section"] == section]

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        for name, value in attrs.items():
            self.attributes.append((tag, name, value or ""))
        if tag == "br" and self._cell is not None:
            self._cell.append(" ")  # a line break separates words as a space does
        if tag == "section":
            self._section = attrs.get("id", "")
        elif tag == "h2":
            self._h2 = []
        elif tag == "table":
            self._open.append({"section": self._section, "rows": [], "headers": [], "classes": attrs.get("class") or ""})
        elif tag == "tr":
            self._row, self._kinds = [], []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._kinds.append(tag)
        elif tag == "span" and "badge" in (attrs.get("class") or "").split():
            kind = next(c for c in attrs["class"].split() if c != "badge")
            self._badge = (kind, [])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._open:
                self._open[-1]["rows"].append(self._row)
                self._open[-1]["headers"].append(bool(self._kinds) and set(self._kinds) == {"th"})
            self._row = None
        elif tag == "table" and self._open:
            self.tables.append(self._open.pop())
        elif tag == "h2" and self._h2 is not None:
            self.headings[self._section] = " ".join("".join(self._h2).split())
            self._h2 = None
        elif tag == "span" and self._badge is not None:
            self.badges.append((self._badge[0], "".join(self._badge[1]).strip()))
            self._badge = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._badge is not None:
            self._badge[1].append(data)
        if self._h2 is not None:
            self._h2.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def header_rows(page: Page, section: str, first: str) -> list[dict[str, str]]:
    """The rows of the first table of ``section`` whose header starts with ``first``, as dicts."""
    for rows in page.section_tables(section):
        if rows and rows[0] and rows[0][0] == first:
            return [dict(zip(rows[0], row)) for row in rows[1:]]
    raise AssertionError(f"no table starting with {first!r} in section {section!r}")


def area_units_per_line(page: Page) -> list[set[str]]:
    """For every table: the area units of each column, and of each row whose label is an area key."""
    lines = []
    for table in page.tables:
        rows = table["rows"]
        if not rows or not table["headers"][0]:  # key / value rows: each row its own quantity
            rows = []
        width = max((len(r) for r in rows), default=0)
        for column in range(width):
            units = {m.group(1) for r in rows if column < len(r) and (m := AREA_UNIT.search(r[column]))}
            lines.append(units)
        for row in table["rows"]:
            if row and row[0].startswith("area"):
                lines.append({m.group(1) for c in row[1:] if (m := AREA_UNIT.search(c))})
    return lines
