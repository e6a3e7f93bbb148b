"""One self-contained HTML report of a run directory (`tuneshift score`, `compare`, `study run`, `explain`).

>>> from tuneshift.report import write_report
>>> write_report("tuneshift-results")  # doctest: +SKIP
PosixPath('tuneshift-results/report.html')

Figures are embedded as data URIs, styles and the table script inline; the page's content security policy forbids
any other request, so it reads the same offline, on a cluster login node or as an e-mail attachment.
"""

from tuneshift.report._render import REPORT_NAME, render_report, write_report

__all__ = ["REPORT_NAME", "render_report", "write_report"]
