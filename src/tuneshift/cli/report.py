"""`tuneshift report DIR [--out PATH] [--tables md,tex]`: the results folder of score / compare / study / explain /
localize / tune as one HTML page, its figures as SVG + PDF, and on request its tables as Markdown / LaTeX. A
read-only DIR (a read-only mount, results copied from a cluster) is read without writing there: give --out."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["app", "report"]

app = typer.Typer(help="Write the HTML report of a results folder.", no_args_is_help=True, add_completion=False)


@app.command()
def report(
    run_dir: Path = typer.Argument(
        ..., metavar="DIR", help="The --out folder of score / compare / study run / explain / localize / tune."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="PATH",
        help="An .html file, or a folder for report.html; the copies go beside it (default: DIR/report.html; "
        "needed when DIR is read-only).",
    ),
    figures: str = typer.Option(
        "svg,pdf",
        "--figures",
        metavar="LIST",
        help="Formats of the figure copies in report-figures/ beside the page: svg, pdf, png, or none.",
    ),
    tables: str = typer.Option(
        "",
        "--tables",
        metavar="LIST",
        help="Also write every table as md and/or tex (e.g. md,tex) in report-tables/ beside the page.",
    ),
) -> None:
    """Write one self-contained HTML page (figures embedded, nothing fetched) of everything finished in DIR, with
    each figure also as SVG and PDF in report-figures/ beside the page. A read-only DIR is only read (nothing is
    written there): give --out."""
    from tuneshift.report import FIGURES_DIR, TABLES_DIR, write_report

    formats = tuple(f.strip() for f in tables.split(",") if f.strip())
    copies = tuple(f.strip() for f in figures.split(",") if f.strip() and f.strip() != "none")
    path = write_report(run_dir, out, tables=formats, figures=copies)
    typer.echo(f"report → {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if copies:
        typer.echo(f"figures ({', '.join(copies)}) → {path.parent / FIGURES_DIR}")
    if formats:
        typer.echo(f"tables ({', '.join(formats)}) → {path.parent / TABLES_DIR}")
