"""Every command's ``--help`` is readable at 80 columns and names values with one set of metavars."""

from __future__ import annotations

import re

import pytest
import typer
from typer.core import TyperArgument
from typer.testing import CliRunner

from tuneshift.cli._help import METAVARS
from tuneshift.cli._lazy import command_paths
from tuneshift.cli.main import app

try:  # typer 0.2x ships its own copy of click; older typer uses click itself
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click

ROOT = typer.main.get_command(app)
PATHS = command_paths(ROOT)
TYPE_LABEL = re.compile(r"<(?:str|int|float|bool|path|file|list\[[^\]]*\]|\w+ range)>")  # typer's own metavars


def _command(path: tuple[str, ...]) -> click.Command:
    """The command named by `path`."""
    command, ctx = ROOT, click.Context(ROOT, info_name="tuneshift")
    for name in path:
        command = command.get_command(ctx, name)
        ctx = click.Context(command, parent=ctx, info_name=name)
    return command


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "tuneshift")
def test_help_fits_80_columns(path):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    long = [line for line in result.output.splitlines() if len(line) > 80]
    assert not long, "\n".join(long)
    assert not TYPE_LABEL.findall(result.output)
    assert "╭" not in result.output  # click's plain layout, not typer's rich panels
    assert ("--install-completion" in result.output) == (path == ())  # the root's option only


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "tuneshift")
def test_metavars_are_from_one_set(path):
    for param in _command(path).params:
        if isinstance(param, TyperArgument):
            assert param.metavar in METAVARS or param.metavar == param.name.upper(), param.name
        elif getattr(param, "is_flag", False):
            assert not param.metavar, f"{param.opts}: a flag has no metavar"
        else:
            assert param.metavar in METAVARS, f"{param.opts}: {param.metavar!r} is not one of {sorted(METAVARS)}"
