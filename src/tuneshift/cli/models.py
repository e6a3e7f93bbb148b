"""`tuneshift models list|fetch|info`."""

from __future__ import annotations

import typer
from rich.table import Table

from tuneshift.cli._console import make_console
from tuneshift.models.catalog import DEFAULT_MODEL

app = typer.Typer(help="List, fetch and inspect models.", no_args_is_help=True)
console = make_console()


@app.command("list")
def list_models() -> None:
    """Models tuneshift can obtain offline (GGUF files inside PyPI wheels), and whether they are fetched."""
    from tuneshift.models.catalog import CATALOG

    table = Table("name", "hub id", "tuned", "fetched", "notes")
    for name in CATALOG:
        entry = CATALOG.get(name)
        fetched = "yes" if entry.gguf_path().exists() else "no"
        label = f"{name} (default)" if name == DEFAULT_MODEL else name
        table.add_row(label, entry.hub_id, "yes" if entry.instruction_tuned else "no", fetched, entry.notes)
    console.print(table)
    console.print("Any hub id, local directory (save_pretrained) or .gguf file also works as --model.")


@app.command()
def fetch(
    name: str = typer.Argument(..., help="Catalog name, see `tuneshift models list`."),
    force: bool = typer.Option(False, help="Download again even when cached."),
) -> None:
    """Download a catalog model's GGUF from PyPI into the model cache."""
    from tuneshift.models.catalog import fetch as fetch_model

    with console.status(f"fetching {name} from PyPI"):
        path = fetch_model(name, force=force)
    console.print(f"[green]{name}[/green]: {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command()
def info(
    model: str = typer.Argument(
        DEFAULT_MODEL, metavar="MODEL", help="Hub id, local directory, .gguf file or catalog name."
    ),
) -> None:
    """Print a model's family, layers, size and source from its config, without loading its weights; never
    downloads (a model not on this machine: what the catalog knows, and how to fetch it)."""
    from tuneshift.models.load import describe_model

    info = describe_model(model, offline=True)
    fetch_hint = info.pop("fetch", None)
    table = Table("property")
    table.add_column("value", overflow="fold")  # paths whole, not cut with "…"
    for key, value in info.items():
        table.add_row(key, str(value))
    console.print(table)
    if fetch_hint:
        console.print(f"Not on this machine. To fetch it: {fetch_hint}.", highlight=False)
