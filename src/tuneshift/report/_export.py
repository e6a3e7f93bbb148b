"""Paper-ready copies of what a report shows: every figure as SVG and PDF, every table as Markdown or LaTeX.

The copies are the page's own figures and tables (same numbers, same 4-significant-digit text), so a figure in a
paper and the report a collaborator opened cannot disagree.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

from tuneshift._io import write_atomic
from tuneshift.errors import InvalidParameterError
from tuneshift.report._embed import SVG_STYLE, Figure, Table

FIGURES_DIR = "report-figures"
TABLES_DIR = "report-tables"
TABLE_FORMATS = {"md": ".md", "tex": ".tex"}
FIGURE_FORMATS = ("svg", "pdf", "png")
DEFAULT_FIGURE_FORMATS = ("svg", "pdf")
LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip


@dataclass
class Page:
    """A rendered report: its HTML, and the figures and tables it shows."""

    html: str
    figures: list[Figure]
    tables: list[Table]


def collect(tree: object, kind: type) -> list:
    """Every instance of `kind` in a nest of dicts, lists, tuples and dataclasses, in order."""
    if isinstance(tree, kind):
        return [tree]
    if isinstance(tree, dict):
        children = list(tree.values())
    elif isinstance(tree, list | tuple):
        children = list(tree)
    elif dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        children = [getattr(tree, f.name) for f in dataclasses.fields(tree)]
    else:
        return []
    return [found for child in children for found in collect(child, kind)]


def save_figures(
    figures: Sequence[Figure], folder: Path, formats: Sequence[str] = DEFAULT_FIGURE_FORMATS
) -> list[Path]:
    """Write each named figure as ``<name>.<format>`` for `formats` (svg: the embedded one; pdf; png at 200 dpi);
    return the paths."""
    unknown = [f for f in formats if f not in FIGURE_FORMATS]
    if unknown:
        raise InvalidParameterError(
            "--figures", f"formats from {list(FIGURE_FORMATS)}", unknown, "e.g. --figures svg,pdf"
        )
    written = []
    for figure in unique(f for f in figures if f.name and f.source is not None):
        for fmt in formats:
            if fmt == "svg":
                data = figure.svg
            else:
                buffer = io.BytesIO()
                with matplotlib.rc_context(SVG_STYLE):
                    figure.source.savefig(buffer, format=fmt, dpi=200)
                data = buffer.getvalue()
            written.append(write_atomic(folder / f"{figure.name}.{fmt}", lambda tmp, d=data: tmp.write_bytes(d)))
    return written


def save_tables(tables: Sequence[Table], folder: Path, formats: Sequence[str]) -> list[Path]:
    """Write each named table in `formats` (``"md"``, ``"tex"``); return the paths."""
    unknown = [f for f in formats if f not in TABLE_FORMATS]
    if unknown:
        expected = f"formats from {sorted(TABLE_FORMATS)}"
        raise InvalidParameterError("--tables", expected, unknown, "e.g. --tables md,tex")
    written = []
    for found in unique(t for t in tables if t.name):
        for fmt in formats:
            text = markdown(found) if fmt == "md" else latex(found)
            path = folder / f"{found.name}{TABLE_FORMATS[fmt]}"
            written.append(write_atomic(path, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8")))
    return written


def unique(items):
    """Items with distinct names (the first of each name; a name reused gets ``-2``, ``-3``...)."""
    seen: dict[str, int] = {}
    for item in items:
        count = seen[item.name] = seen.get(item.name, 0) + 1
        yield item if count == 1 else dataclasses.replace(item, name=f"{item.name}-{count}")


def markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table of the page's cells (pipes escaped)."""
    cells = [[text.replace("|", r"\|") for text, _ in row] for row in table.rows]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells]) + "\n"


def latex(table: Table) -> str:
    """A booktabs tabular of the page's cells (LaTeX specials escaped; needs ``\\usepackage{booktabs}``)."""

    def escape(text: str) -> str:
        return "".join(LATEX_SPECIAL.get(char, char) for char in text)

    head = " & ".join(escape(c) for c in table.columns) + r" \\"
    body = [" & ".join(escape(text) for text, _ in row) + r" \\" for row in table.rows]
    spec = "l" * len(table.columns)
    return "\n".join([rf"\begin{{tabular}}{{{spec}}}", r"\toprule", head, r"\midrule", *body, r"\bottomrule",
                      r"\end{tabular}"]) + "\n"  # fmt: skip
