"""Render a run directory into one self-contained HTML page (Jinja2 templates in ``report/templates``)."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import jinja2

from tuneshift._io import write_atomic
from tuneshift.report import _sections
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

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("tuneshift.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "html.j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
)


def render_report(run_dir: str | Path) -> str:
    """The report page of `run_dir` as an HTML string (sections only where the run has their data)."""
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
    return _ENVIRONMENT.get_template("report.html.j2").render(
        name=run.directory.resolve().name,
        directory=str(run.directory.resolve()),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=_version(),
        stats=_stats(run),
        contents=[(key, TITLES[key]) for key in [*present, "methods"]],
        sections=sections,
        absent=absent,
        unreadable=run.unreadable,
        methods=methods(run),
    )


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of `run_dir` to `out` (default ``run_dir/report.html``) atomically; return its path."""
    html = render_report(run_dir)
    path = Path(out) if out is not None else Path(run_dir) / REPORT_NAME
    return write_atomic(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))


def _stats(run: Run) -> dict[str, int]:
    """The header's counts: models, benchmarks, finished units, and the failed / unfinished ones when any."""
    stats = {
        "models": run.summary["model"].nunique() if len(run.summary) else 0,
        "benchmarks": run.summary["benchmark"].nunique() if len(run.summary) else 0,
        "finished units": len(run.summary),
    }
    for status in ("failed", "running", "not finished"):
        count = int((run.missing["status"] == status).sum())
        if count:
            stats[f"{status} units"] = count
    return stats


def _version() -> str:
    try:
        return metadata.version("tuneshift")
    except metadata.PackageNotFoundError:
        return "(not installed)"
