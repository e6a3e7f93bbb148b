"""`tuneshift models list|fetch|info`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="List, fetch and inspect models.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_models() -> None:
    """Models tuneshift can obtain offline (GGUF files inside PyPI wheels), and whether they are fetched."""
    from tuneshift.models.catalog import CATALOG, DEFAULT_MODEL

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
    model: str = typer.Argument("smollm2-135m-instruct", help="Hub id, local directory, .gguf file or catalog name."),
    dtype: str = typer.Option("float32", help="float32, bfloat16 or float16."),
) -> None:
    """Load a model and print its family, layers, size and fingerprint."""
    from tuneshift.models import load_model

    loaded = load_model(model, dtype=dtype)
    table = Table("property", "value")
    rows = {
        "name": loaded.name,
        "source": loaded.source,
        "class": type(loaded.hf_model).__name__,
        "family": loaded.family.family,
        "blocks (layers 1..N)": loaded.n_layers,
        "hidden size": loaded.hidden_size,
        "parameters": f"{loaded.n_parameters:,}",
        "max context (tokens)": loaded.max_length,
        "fingerprint": loaded.fingerprint,
    }
    for key, value in rows.items():
        table.add_row(key, str(value))
    console.print(table)
