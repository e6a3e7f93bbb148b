"""`tuneshift zoo list|show|export`: the named models studies can use, with the paper's reported scores."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tuneshift.cli._console import make_console

app = typer.Typer(help="The model zoo: models of Aw et al. 2023 and the offline catalog, plus your own (--zoo).")
console = make_console(soft_wrap=True)

ZOO_OPTION = typer.Option(
    None, "--zoo", metavar="FILE", help="A YAML file adding or overriding models (repeatable; later wins)."
)


@app.command("list")
def list_models(
    zoo: list[Path] | None = ZOO_OPTION,
    where: list[str] | None = typer.Option(
        None, "--where", metavar="FILTER", help="Keep models matching, e.g. family!=gpt2."
    ),
) -> None:
    """One line per model: family, base model, tuned, size, layers, checkpoint and reported brain score."""
    from tuneshift.study.stats import apply_where
    from tuneshift.study.zoo import load_zoo

    table = apply_where(load_zoo(zoo or ()).table(), where or ())
    view = Table("model", "family", "base model", "tuned", "params (B)", "layers", "spec", "brain_avg (reported)")
    for row in table.itertuples():
        view.add_row(
            row.model,
            _text(row.family),
            _text(row.base_model),
            "yes" if row.instruction_tuned else "no",
            _text(row.params_b, "{:g}"),
            _text(row.layers, "{:.0f}"),
            _text(row.spec) or "(unknown)",
            _text(row.brain_avg, "{:.3f}"),
        )
    console.print(view)
    console.print(f"{len(table)} models")


def _text(value: object, template: str = "{}") -> str:
    """A table cell: empty for a missing value (None or NaN)."""
    import pandas as pd

    return "" if value is None or pd.isna(value) else template.format(value)


@app.command("show")
def show(name: str, zoo: list[Path] | None = ZOO_OPTION) -> None:
    """Every field of one model, as YAML, and the file and line that defined it."""
    import yaml

    from tuneshift.study.zoo import REPORTED_KEYS, load_zoo

    entry = load_zoo(zoo or ())[name]
    fields = {key: value for key, value in entry.row().items() if key not in REPORTED_KEYS and value not in (None, "")}
    fields.pop("model")
    defined_at = fields.pop("defined_at", "")
    body = {name: {**fields, **({"reported": entry.reported} if entry.reported else {})}}
    console.print(yaml.safe_dump(body, sort_keys=False).rstrip(), highlight=False)
    console.print(f"# defined at {defined_at}", style="dim", highlight=False)


@app.command("export")
def export(
    csv: Path = typer.Option(
        ..., "--csv", metavar="FILE", help="Write the model table here (`-` for standard output)."
    ),
    zoo: list[Path] | None = ZOO_OPTION,
    where: list[str] | None = typer.Option(
        None, "--where", metavar="FILTER", help="Keep models matching, e.g. source=aw2023."
    ),
) -> None:
    """The zoo as a model table CSV (one row per model: fields and reported scores), the input of `study correlate`.

    `tuneshift zoo export --csv aw2023.csv --where source=aw2023` writes the paper's table; `tuneshift study
    correlate aw2023.csv --where family!=gpt2` reproduces its correlations."""
    from tuneshift._io import write_csv
    from tuneshift.study.stats import apply_where
    from tuneshift.study.zoo import load_zoo

    table = apply_where(load_zoo(zoo or ()).table(), where or ()).drop(columns=["defined_at"])
    if str(csv) == "-":
        typer.echo(table.to_csv(index=False), nl=False)
    else:
        write_csv(csv, table)
        console.print(f"wrote {len(table)} models to {csv}")
