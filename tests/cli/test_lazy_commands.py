"""`tuneshift --help` lists every command without importing it; each command still loads and helps itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tuneshift.cli.main import COMMANDS, app

HEAVY = ("torch", "transformers", "datasets", "lm_eval", "pandas", "sklearn", "scipy", "matplotlib")
# Asks, in one fresh process, the help of NAME and of each of its subcommands in turn (or of `tuneshift` alone) and
# prints the heavy libraries each help brought in; modules stay imported, so a library is blamed on the first.
HELP_IMPORTS = """
import json, sys
from typer.testing import CliRunner
from tuneshift.cli._lazy import command_paths
from tuneshift.cli.main import COMMANDS, app

heavy, name = {heavy!r}, {name!r}
seen = {{m for m in heavy if m in sys.modules}}
paths = [()] if name is None else [(name, *path) for path in command_paths(COMMANDS[name].load(name))]
blamed = {{}}
for path in paths:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    now = {{m for m in heavy if m in sys.modules}}
    blamed[" ".join(path)], seen = sorted(now - seen), now
print(json.dumps(blamed))
"""


def _help_imports(name: str | None) -> dict[str, list[str]]:
    """The heavy libraries that the help of `name` and its subcommands (or of `tuneshift`) imports, by command."""
    code = HELP_IMPORTS.format(heavy=HEAVY, name=name)
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("name", [None, *COMMANDS], ids=lambda name: name or "tuneshift")
def test_help_imports_no_heavy_library(name):
    blamed = _help_imports(name)
    assert blamed and not any(blamed.values()), {path: libraries for path, libraries in blamed.items() if libraries}


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
