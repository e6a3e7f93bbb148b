"""One self-contained HTML report per results folder: `tuneshift score`, `compare`, `study run`/`analyze`,
`explain` (:func:`write_report`), `localize` (:func:`write_localize_report`), `tune` (:func:`write_tune_report`) and
`graft` (:func:`write_graft_report`) and trajectory studies (:func:`write_trajectory_report`); :func:`write_report`
dispatches to each when given its folder.

>>> from tuneshift.report import write_report
>>> write_report("tuneshift-results", tables=("md", "tex"))  # doctest: +SKIP
PosixPath('tuneshift-results/report.html')

Figures are embedded as data URIs, styles and the table script inline; the page's content security policy forbids
any other request, so it reads the same offline, on a cluster login node or as an e-mail attachment. Every figure
is also written as SVG and PDF to ``report-figures/`` beside the page, and on request every table as Markdown or
LaTeX to ``report-tables/``. A results folder that cannot be written (a read-only mount, results copied from a
cluster) is read without writing anything there — tables that are missing or stale are assembled in memory from its
units — and its report goes where `out` says (refused by name without `out`).
"""

from tuneshift.report._export import FIGURES_DIR, TABLES_DIR
from tuneshift.report._pages import (
    write_graft_report,
    write_localize_report,
    write_report,
    write_trajectory_report,
    write_tune_report,
)
from tuneshift.report._render import REPORT_NAME, render_report

__all__ = [
    "FIGURES_DIR",
    "REPORT_NAME",
    "TABLES_DIR",
    "render_report",
    "write_graft_report",
    "write_localize_report",
    "write_report",
    "write_trajectory_report",
    "write_tune_report",
]
