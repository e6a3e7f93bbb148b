"""The `tuneshift` command."""

from __future__ import annotations

import typer

from tuneshift.cli import data, explain, explain_internals, models
from tuneshift.cli.readout import readout
from tuneshift.cli.score import score

app = typer.Typer(
    help="tuneshift: what instruction tuning changes in a language model — brain alignment, reading-time alignment "
    "and internal behaviour.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(models.app, name="models")
app.add_typer(data.app, name="data")
explain.app.registered_commands += explain_internals.app.registered_commands  # attention, ffn
app.add_typer(explain.app, name="explain")
app.command()(readout)
app.command()(score)


if __name__ == "__main__":
    app()
