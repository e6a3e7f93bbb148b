"""`tuneshift --help` lists every command without importing it; each command still loads and helps itself."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tuneshift.cli.main import COMMANDS, app

HEAVY = ("torch", "transformers", "pandas", "sklearn", "scipy", "matplotlib")


@pytest.mark.parametrize("args", [["--help"], ["study", "--help"], ["data", "--help"], ["zoo", "--help"]])
def test_help_imports_no_heavy_library(args):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from tuneshift.cli.main import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_line_is_the_commands_own_first_sentence(name):
    command = COMMANDS[name].load(name)
    own = " ".join((command.help or "").split())
    listed = " ".join(COMMANDS[name].help.split())
    assert own.startswith(listed), (listed, own)
    assert listed.endswith(".") and (len(own) == len(listed) or own[len(listed)] == " ")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_answers_help(name):
    result = CliRunner().invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and name in result.output


def test_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f" {name} " in result.output
