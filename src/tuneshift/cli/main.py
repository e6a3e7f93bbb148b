"""The `tuneshift` command.

Every command fails the same way, in one line on stderr:

- a tuneshift error (bad input, unknown name, missing, damaged or unsupported model or data) prints
  ``error: <what, where, how to fix>``;
- any other error (from transformers, gguf, safetensors, torch, numpy, the file system) prints
  ``error: <type>: <message> (run with --debug for the traceback)``;
- a usage error (unknown option, missing or malformed argument) prints ``error: <message> (see 'tuneshift CMD
  --help')``.

``tuneshift --debug ...`` shows the traceback of an error as well, and what third-party libraries print
(:mod:`._quiet`). Ctrl-C says that finished results are kept.

Exit codes:

====  ==========================================================================================================
0     success
1     error (one line; ``--debug`` for the traceback)
2     usage error (click: unknown option, missing or malformed argument or option value)
3     ``study run`` finished, but some tasks failed (listed in OUT/failures.csv); a rerun retries them
130   interrupted (Ctrl-C); finished results are kept and the same command resumes
====  ==========================================================================================================
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from tuneshift.cli._lazy import LazyCommand, LazyGroup
from tuneshift.cli._quiet import quiet_libraries
from tuneshift.errors import TuneshiftError

try:  # typer 0.2x ships its own copy of click; older typer uses click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors

COMMANDS = {  # in the order `tuneshift --help` lists them; each module is imported only when its command runs
    "models": LazyCommand("tuneshift.cli.models:app", "List, fetch and inspect models."),
    "data": LazyCommand("tuneshift.cli.data:app", "Datasets: list, fetch, verify checksums, show paths."),
    "readout": LazyCommand("tuneshift.cli.readout:readout", "Read a passages TSV through a model."),
    "score": LazyCommand(
        "tuneshift.cli.score:score",
        "Score a model on every layer; results are written as each benchmark finishes, and a rerun resumes.",
    ),
    "compare": LazyCommand(
        "tuneshift.cli.compare:compare",
        "Score both models (finished work reused), then per benchmark: best-layer and honest scores of each, the "
        "absolute and % change, and a paired test over the benchmark's paired units (neuroids, splits, stories or "
        "items).",
    ),
    "graft": LazyCommand(
        "tuneshift.cli.graft:graft",
        "Graft tuned parts into the base (and the reverse) and score each hybrid: the share of the base→tuned change "
        "of each benchmark that each part recovers, (hybrid − base) / (tuned − base), with intervals from the "
        "benchmark's own splits or stories.",
    ),
    "explain": LazyCommand(
        "tuneshift.cli.explain:app", "Explain what instruction tuning changed inside a model (Wu et al. 2023)."
    ),
    "report": LazyCommand(
        "tuneshift.cli.report:app",
        "Write one self-contained HTML page (figures embedded, nothing fetched) of everything finished in DIR, with "
        "each figure also as SVG and PDF in report-figures/ beside the page.",
    ),
    "zoo": LazyCommand(
        "tuneshift.cli.zoo:app",
        "The model zoo: models of Aw et al. 2023 and the offline catalog, plus your own (--zoo).",
    ),
    "study": LazyCommand(
        "tuneshift.cli.study:app",
        "Studies over many models: run them (locally or on Ray), then effects and correlations.",
    ),
    "tune": LazyCommand(
        "tuneshift.cli.tune:tune",
        "Supervised fine-tuning with the loss on response tokens only; LoRA on the family's attention and FFN "
        "projections by default.",
    ),
    "localize": LazyCommand(
        "tuneshift.cli.localize:localize", "Localize the language network of a model with the Fedorenko 2010 localizer."
    ),
}


class _Commands(LazyGroup):
    lazy = COMMANDS


app = typer.Typer(
    cls=_Commands,
    help="tuneshift: what instruction tuning changes in a language model — brain alignment, reading-time alignment "
    "and internal behaviour.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help, as every subcommand's (cli/_help.py)
)

_state = {"debug": False}
INTERRUPTED = 130


@app.callback()
def _options(
    debug: bool = typer.Option(
        False,
        "--debug",
        help="Show the full traceback of an error, and the progress bars and deprecation warnings of the libraries "
        "tuneshift uses.",
    ),
) -> None:
    _state["debug"] = debug
    if not debug:
        quiet_libraries()


def main() -> None:
    """Entry point of the `tuneshift` script: run the app with the one error behaviour and the exit codes above."""
    try:
        code = app(standalone_mode=False, prog_name="tuneshift")
    except KeyboardInterrupt:
        code = INTERRUPTED
    except click_errors.NoArgsIsHelpError as error:  # `tuneshift models`: the help, as click shows it
        error.show()
        sys.exit(error.exit_code)
    except click_errors.ClickException as error:  # usage errors (exit 2), typer.BadParameter included
        command = error.ctx.command_path if getattr(error, "ctx", None) is not None else "tuneshift"
        hint = f" (see '{command} --help')" if isinstance(error, click_errors.UsageError) else ""
        _fail(one_line(error.format_message()) + hint, error.exit_code)
    except typer.Abort:  # end of input at a prompt
        _fail("aborted: no input.", 1)
    except TuneshiftError as error:
        if _state["debug"]:
            raise
        _fail(one_line(str(error)), 1)
    except Exception as error:  # transformers, gguf, safetensors, torch, numpy, OSError...: never a bare traceback
        if _state["debug"]:
            raise
        _fail(f"{type(error).__name__}: {one_line(str(error), 500)} (run with --debug for the traceback)", 1)
    if code == INTERRUPTED:  # typer turns Ctrl-C into exit code 130
        Console(stderr=True).print("interrupted: finished results are saved; run the same command again to resume.")
    sys.exit(code if isinstance(code, int) else 0)


def one_line(text: str, limit: int | None = None) -> str:
    """`text` with its line breaks and runs of spaces folded, cut to `limit` characters (third-party messages
    can quote whole files)."""
    folded = " ".join(text.split()) or "(no message)"
    return folded if limit is None or len(folded) <= limit else folded[: limit - 1] + "…"


def _fail(message: str, code: int) -> None:
    """Print ``error: message`` on one line of stderr and exit with `code`."""
    Console(stderr=True, soft_wrap=True, highlight=False).print(f"[red]error:[/red] {escape(message)}")
    sys.exit(code)


if __name__ == "__main__":
    main()
