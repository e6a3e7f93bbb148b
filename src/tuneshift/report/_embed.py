"""Figures and tables in the form the page carries them: figures as ``data:`` URIs (nothing is fetched), tables
as rows of (shown text, sort key) cells for the page's sortable tables.

The figures themselves come from the plotting functions the other commands use (`tuneshift.study.figures`,
`tuneshift.interpret`); this module only embeds what they draw.
"""

from __future__ import annotations

import base64
import io
import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure as MplFigure

MIME = {".svg": "image/svg+xml", ".png": "image/png"}
# Text as paths, not <text> in a font the reader may lack (and never a web font); a fixed salt keeps ids stable.
SVG_STYLE = {"svg.fonttype": "path", "svg.hashsalt": "tuneshift-report"}
WIDE_INCHES = 8.0  # figures wider than this span the page's full width


@dataclass(frozen=True)
class Figure:
    """One embedded figure: its data URI, a caption and alternative text; `name` (a file stem) and the SVG it
    embeds, for the copies saved beside the run (:func:`tuneshift.report.write_report`)."""

    uri: str
    caption: str
    alt: str
    name: str = ""
    svg: bytes = b""
    source: MplFigure | None = None  # the matplotlib figure, for the PDF copy
    ylabels: tuple[str, ...] = ()  # the axis labels drawn (the page carries them, so tests can read them)
    xlabels: tuple[str, ...] = ()
    legend: tuple[str, ...] = ()  # the legend entries drawn (reference lines: noise ceiling, controls)
    wide: bool = False  # drawn wider than a column (panels per benchmark): the page gives it the full width


@dataclass(frozen=True)
class Table:
    """A table ready for the template: column names, and per row a list of (text, sort key) cells.

    The sort key is the number itself for numeric cells (so 10 sorts after 9) and "" for missing values, which the
    page's script sorts last.
    """

    columns: list[str]
    rows: list[list[tuple[str, str]]]
    name: str = ""  # file stem of its Markdown / LaTeX copy (``tuneshift report --tables``); "" = not exported


def figure(fig: MplFigure, caption: str, alt: str = "", name: str = "") -> Figure:
    """Embed a matplotlib figure (as the plotting functions return it) as SVG."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(SVG_STYLE):
        fig.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    ylabels = tuple(dict.fromkeys(label for ax in axes if (label := ax.get_ylabel())))
    xlabels = tuple(dict.fromkeys(label for ax in axes if (label := ax.get_xlabel())))
    legends = [ax.get_legend() for ax in axes]
    legend = tuple(dict.fromkeys(t.get_text() for found in legends if found for t in found.get_texts()))
    alt = alt or (f"{caption} (y axis: {'; '.join(ylabels)})" if ylabels else caption)
    wide = fig.get_figwidth() > WIDE_INCHES
    return Figure(_uri(svg, ".svg"), caption, alt, slug(name) if name else "", svg, fig, ylabels, xlabels, legend, wide)


def slug(text: str) -> str:
    """A file stem for `text`: letters, digits, dots and dashes (``profile-Pereira2018-linear``)."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.")[:120] or "figure"


def drawn(plot: Callable[..., object], *args: object, caption: str, suffix: str = ".svg", **kwargs: object) -> Figure:
    """Embed a figure from a plotting function that writes a file (``plot(*args, path, **kwargs)``)."""
    with tempfile.TemporaryDirectory(prefix="tuneshift-report-") as tmp:
        path = Path(tmp) / f"figure{suffix}"
        plot(*args, path, **kwargs)
        return file_figure(path, caption)


def file_figure(path: Path, caption: str) -> Figure:
    """Embed an image file (PNG or SVG) that a command already drew."""
    return Figure(_uri(Path(path).read_bytes(), Path(path).suffix.lower()), caption, caption)


def _uri(data: bytes, suffix: str) -> str:
    return f"data:{MIME[suffix]};base64,{base64.b64encode(data).decode('ascii')}"


def table(frame: pd.DataFrame, columns: list[str] | None = None, name: str = "") -> Table:
    """A Table of `frame` (optionally only `columns`, in that order, those present); `name`: its export stem."""
    chosen = [c for c in columns if c in frame.columns] if columns else list(frame.columns)
    rows = [
        [cell(value, column) for column, value in zip(chosen, values, strict=True)]
        for values in frame[chosen].itertuples(index=False)
    ]
    return Table(chosen, rows, slug(name) if name else "")


def cell(value: object, column: str = "") -> tuple[str, str]:
    """(text, sort key) of one value: 4 significant digits, p/q values in 3, missing values as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—", ""
    if isinstance(value, bool):
        return ("yes" if value else "no"), str(int(value))
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return str(int(value)), str(int(value))
    if isinstance(value, float) or (hasattr(value, "dtype") and value.dtype.kind == "f"):
        number = float(value)
        digits = 3 if column in {"p", "q"} or column.startswith(("p_", "q_")) or column.endswith(("_p", "_q")) else 4
        return f"{number:.{digits}g}", repr(number)
    return str(value), str(value)
