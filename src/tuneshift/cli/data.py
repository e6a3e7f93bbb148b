"""``tuneshift data``: list the neural datasets, fetch them into the data directory, verify checksums, print paths."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.table import Table

from tuneshift.config import data_dir as resolve_data_dir
from tuneshift.data import DATASETS, DatasetInfo, fetch_file, sha1sum
from tuneshift.data._fetch import copy_into_cache

app = typer.Typer(help="Neural datasets: list, fetch, verify checksums, show paths.", no_args_is_help=True)


def _console() -> Console:
    """A console built per command (so it sees the current terminal width); messages never wrap mid-path."""
    return Console(soft_wrap=True)


DATA_DIR = typer.Option(
    None, "--data-dir", help="Data directory (default: $TUNESHIFT_DATA or ~/.cache/tuneshift/data)."
)
NAME = typer.Argument(..., help=f"Dataset name ({', '.join(DATASETS.names())}).")


def _info(name: str) -> DatasetInfo:
    return DATASETS.get(name)  # an unknown name: one line and exit 1, as every command (cli.main)


def _source(info: DatasetInfo) -> str:
    if info.bundled:
        return "bundled"
    hosts = {urlparse(f.url).netloc for f in info.files if f.url}
    return ", ".join(sorted(hosts)) or "manual"


@app.command("list")
def list_datasets(data_dir: Path | None = DATA_DIR) -> None:
    """Every dataset: whether its files are here, their size, and where they come from."""
    table = Table("name", "present", "size", "source", "description")
    for name in DATASETS.names():
        info = DATASETS.get(name)
        paths = info.paths(data_dir)
        present = [p for p in paths if p.is_file()]
        status = "yes" if len(present) == len(paths) else f"{len(present)}/{len(paths)}" if present else "no"
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
) -> None:
    """Download the dataset's files (sha1-checked), or install them from --from."""
    info = _info(name)
    if info.bundled:
        _console().print(f"{name} ships with tuneshift: {info.bundled}")
        return
    for remote in info.files:
        if source is not None:
            candidate = source / remote.filename if source.is_dir() else source
            path = copy_into_cache(candidate, remote, data_dir)
        else:
            path = fetch_file(remote, data_dir)
        _console().print(f"[green]ok[/green] {path}")


@app.command()
def verify(name: str = NAME, data_dir: Path | None = DATA_DIR) -> None:
    """Compare each file's sha1 with the published one; exit 1 when a file is missing or differs."""
    info = _info(name)
    remotes = info.files or ()
    if info.bundled:
        _console().print(f"{name} is bundled ({info.bundled}): sha1 {sha1sum(info.bundled)}")
        return
    failed = False
    for remote, path in zip(remotes, info.paths(data_dir), strict=True):
        if not path.is_file():
            _console().print(f"[red]missing[/red] {path}")
            failed = True
            continue
        got = sha1sum(path)
        if remote.sha1 is None:
            _console().print(f"[yellow]unchecked[/yellow] {path} sha1 {got} (no published checksum)")
        elif got == remote.sha1:
            _console().print(f"[green]ok[/green] {path}")
        else:
            _console().print(f"[red]mismatch[/red] {path}: expected sha1 {remote.sha1}, got {got}")
            failed = True
    if failed:
        raise typer.Exit(1)


@app.command()
def path(name: str = NAME, data_dir: Path | None = DATA_DIR) -> None:
    """Print where each file of the dataset is (or is expected), one per line."""
    for p in _info(name).paths(data_dir):
        typer.echo(str(p))
