"""The `tuneshift` command."""

from __future__ import annotations

import typer

from tuneshift.cli import models
from tuneshift.cli.readout import readout

app = typer.Typer(
    help="tuneshift: what instruction tuning changes in a language model — brain alignment, reading-time alignment "
    "and internal behaviour.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(models.app, name="models")
app.command()(readout)
