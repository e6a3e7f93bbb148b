"""`tuneshift report DIR [--out FILE]`: the run directory of score / compare / study / explain as one HTML page."""

from __future__ import annotations

from pathlib import Path

import typer

from tuneshift.report import write_report

__all__ = ["app", "report", "write_report"]

app = typer.Typer(help="Write the HTML report of a run directory.", no_args_is_help=True)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="The --out folder of tuneshift score / compare / study run / explain."),
    out: Path | None = typer.Option(None, "--out", help="HTML file to write (default: DIR/report.html)."),
) -> None:
    """Write one self-contained HTML page (figures embedded, nothing fetched) of everything finished in DIR, listing
    what is missing."""
    path = write_report(run_dir, out)
    typer.echo(f"report → {path} ({path.stat().st_size / 1e6:.2f} MB)")
