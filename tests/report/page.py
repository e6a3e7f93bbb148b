"""Read a report page back without a browser: sections, tables (by their aria-label), images and every URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

URL_ATTRIBUTES = {"src", "href", "action", "poster", "data", "srcset"}


@dataclass
class Page:
    sections: list[str] = field(default_factory=list)  # ids, in order
    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # aria-label → rows (header first)
    images: list[str] = field(default_factory=list)  # img src
    figures: list[dict[str, str]] = field(default_factory=list)  # each img's attributes (alt, data-ylabels, ...)
    urls: list[str] = field(default_factory=list)  # every URL-valued attribute
    text: str = ""


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.page.urls += [value or "" for name, value in attrs if name in URL_ATTRIBUTES]
        if tag == "section":
            self.page.sections.append(attributes.get("id", ""))
        elif tag == "img":
            self.page.images.append(attributes.get("src", ""))
            self.page.figures.append({k: v or "" for k, v in attributes.items() if k != "src"})
        elif tag == "table":
            self._table = self.page.tables.setdefault(attributes.get("aria-label", ""), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        self._text.append(data)


def read_page(path: Path) -> Page:
    parser = _Parser()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    parser.page.text = " ".join(parser._text)
    return parser.page


def column(page: Page, label: str, name: str) -> list[str]:
    """The cells of column `name` of the table labelled `label`."""
    header, *rows = page.tables[label]
    index = header.index(name)
    return [row[index] for row in rows]
