"""The `tuneshift` command.

Every command fails the same way: a tuneshift error (bad input, unknown name, missing model or data) prints its
one-line message — what, where, how to fix — and exits with status 1; ``tuneshift --debug ...`` shows the
traceback as well. Ctrl-C exits with status 130 after saying that finished results are kept.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from tuneshift.cli import compare as compare_cli
from tuneshift.cli import data, explain, explain_internals, models, report, study, zoo
from tuneshift.cli.localize import localize
from tuneshift.cli.readout import readout
from tuneshift.cli.score import score
from tuneshift.cli.tune import tune
from tuneshift.errors import TuneshiftError

app = typer.Typer(
    help="tuneshift: what instruction tuning changes in a language model — brain alignment, reading-time alignment "
    "and internal behaviour.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(models.app, name="models")
app.add_typer(data.app, name="data")
explain.app.registered_commands += explain_internals.app.registered_commands  # attention, ffn
app.add_typer(explain.app, name="explain")
app.command()(readout)
app.command()(score)
app.command("compare")(compare_cli.compare)
app.add_typer(zoo.app, name="zoo")
app.add_typer(study.app, name="study")
app.registered_commands += report.app.registered_commands  # tuneshift report DIR
app.command()(tune)
app.command()(localize)

_state = {"debug": False}
INTERRUPTED = 130


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error.")) -> None:
    _state["debug"] = debug


def main() -> None:
    """Entry point of the `tuneshift` script: run the app with the one error behaviour described above."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        code = app(standalone_mode=False)
    except TuneshiftError as error:
        if _state["debug"]:
            raise
        err.print(f"[red]error:[/red] {error}", highlight=False)
        sys.exit(1)
    except Exception as error:  # click's own usage errors and Abort
        if hasattr(error, "show") and hasattr(error, "exit_code"):
            error.show()
            sys.exit(error.exit_code)
        if type(error).__name__ == "Abort":
            sys.exit(1)
        raise
    if code == INTERRUPTED:  # typer turns Ctrl-C into exit code 130
        err.print("interrupted: finished results are saved; run the same command again to resume.")
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
