"""Render a run directory into one self-contained HTML page (Jinja2 templates in ``report/templates``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import jinja2

from tuneshift._io import write_atomic
from tuneshift.errors import InvalidInputError
from tuneshift.report import _sections
from tuneshift.report._embed import Figure, Table
from tuneshift.report._export import (
    DEFAULT_FIGURE_FORMATS,
    FIGURES_DIR,
    TABLES_DIR,
    Page,
    collect,
    save_figures,
    save_tables,
)
from tuneshift.report._methods import methods
from tuneshift.report._run import Run, load_run

TITLES = {
    "models": "Models",
    "profiles": "Layer profiles",
    "changes": "Base vs tuned",
    "correlations": "Correlations",
    "reading": "Reading times",
    "internals": "Internals",
    "failures": "Failures",
    "missing": "Not in this run",
    "methods": "Methods",
}
REPORT_NAME = "report.html"
PAGE_SUFFIXES = (".html", ".htm")

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("tuneshift.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "html.j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
)


def render_report(run_dir: str | Path) -> str:
    """The report page of `run_dir` as an HTML string (sections only where the run has their data)."""
    return build_report(run_dir).html


def build_report(run_dir: str | Path) -> Page:
    """The report page of `run_dir` with the figures and tables it shows (for their SVG/PDF and Markdown/LaTeX
    copies)."""
    run = load_run(run_dir)
    sections = {
        "models": _sections.model_cards(run),
        "profiles": _sections.layer_profiles(run),
        "changes": _sections.changes(run),
        "correlations": _sections.correlations(run),
        "reading": _sections.reading_times(run),
        "internals": _sections.internals(run),
        "failures": _sections.failures(run),
        "missing": _sections.missing(run),
    }
    absent = _sections.absent(run, sections)
    present = [key for key, value in sections.items() if value is not None]
    if absent or run.unreadable:
        present = list(dict.fromkeys([*present, "missing"]))
    recorded = methods(run)
    html = TEMPLATES.get_template("report.html.j2").render(
        name=run.directory.resolve().name,
        directory=str(run.directory.resolve()),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=tuneshift_version(),
        stats=_stats(run),
        contents=[(key, TITLES[key]) for key in [*present, "methods"]],
        sections=sections,
        absent=absent,
        unreadable=run.unreadable,
        methods=recorded,
    )
    return Page(html, collect(sections, Figure), collect([sections, recorded], Table))


def write_run_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    tables: Sequence[str] = (),
    figures: Sequence[str] = DEFAULT_FIGURE_FORMATS,
) -> Path:
    """Write the report of the results folder `run_dir` (score, compare, study) to `out` (see :func:`report_path`;
    default ``run_dir/report.html``) atomically, each figure also in `figures` formats (SVG and PDF; png; none:
    ``()``) in ``report-figures/`` and, with `tables` (``"md"``, ``"tex"``), each table in ``report-tables/``,
    both beside the page; return the page's path. :func:`tuneshift.report.write_report` picks this or a localize /
    tune page. A read-only `run_dir` is read without writing anything there; it needs `out`."""
    path = report_path(run_dir, out)
    page = build_report(run_dir)
    save_figures(page.figures, path.parent / FIGURES_DIR, figures)
    save_tables(page.tables, path.parent / TABLES_DIR, tables)
    return write_atomic(path, lambda tmp: tmp.write_text(page.html, encoding="utf-8"))


def report_path(run_dir: str | Path, out: str | Path | None) -> Path:
    """Where the report of `run_dir` is written (its figure and table copies go beside it): `out` when it names an
    HTML file (``.html``/``.htm``), ``out/report.html`` when it names a folder (an existing one, or a path without
    that suffix), else ``run_dir/report.html`` — refused in one line, before anything is read, when `run_dir`
    cannot be written (a read-only mount, results copied without write permission), suggesting --out."""
    if out is not None:
        out = Path(out)
        return out if out.suffix.lower() in PAGE_SUFFIXES and not out.is_dir() else out / REPORT_NAME
    from tuneshift.benchmarks.store import writable

    folder = Path(run_dir)
    if folder.is_dir() and not writable(folder):
        raise InvalidInputError(
            f"{folder}: the folder is read-only, so {REPORT_NAME} and its figures cannot be written there; "
            f"pass --out ELSEWHERE (a folder, or an .html file) to write the report elsewhere."
        )
    return folder / REPORT_NAME


def _stats(run: Run) -> dict[str, int]:
    """The header's counts: models, benchmarks, finished results, and the failed / unfinished ones when any."""
    stats = {
        "models": run.summary["model"].nunique() if len(run.summary) else 0,
        "benchmarks": run.summary["benchmark"].nunique() if len(run.summary) else 0,
        "finished results": len(run.summary),
    }
    for status in ("failed", "running", "not finished"):
        count = int((run.missing["status"] == status).sum())
        if count:
            stats[f"{status} results"] = count
    return stats


def tuneshift_version() -> str:
    try:
        return metadata.version("tuneshift")
    except metadata.PackageNotFoundError:
        return "(not installed)"
