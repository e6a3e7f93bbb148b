"""One error behaviour for every command (issue 19): an error is one line on stderr and exit 1 — a tuneshift error
as it is, any other (transformers, gguf, safetensors, torch, numpy, the file system) with its type and "run with
--debug for the traceback"; a usage error is one line and exit 2; Ctrl-C exits 130; --debug shows the traceback.

The commands run in-process through ``main()`` (the script's entry point), as the script would run them."""

from __future__ import annotations

import errno
import struct
import sys

import numpy as np
import pytest
import torch
import typer

import tuneshift.models.load
from tuneshift.cli import main as cli
from tuneshift.errors import UnknownNameError


@pytest.fixture(autouse=True)
def empty_home(tmp_path, monkeypatch):
    """Caches, data and models under tmp_path: no benchmark data, no model, no hub."""
    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TUNESHIFT_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    cli._state["debug"] = False


def run(monkeypatch, capsys, *args: str) -> tuple[int, list[str]]:
    """(exit code, stderr lines) of `tuneshift ARGS`."""
    monkeypatch.setattr(sys, "argv", ["tuneshift", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    return done.value.code, capsys.readouterr().err.strip().splitlines()


def test_tuneshift_errors_are_one_line_without_traceback(monkeypatch, capsys):
    assert run(monkeypatch, capsys, "models", "fetch", "smollm2-135m") == (
        1,
        [
            "error: Unknown catalog model 'smollm2-135m'. Did you mean 'smollm2-135m-instruct'? "
            "Available: gemma3-270m, smollm2-135m-instruct."
        ],
    )


def test_debug_raises_the_error_itself(monkeypatch):
    """With --debug, main() lets the exception through: Python prints its traceback and exits 1."""
    monkeypatch.setattr(sys, "argv", ["tuneshift", "--debug", "models", "fetch", "smollm2-135m"])
    with pytest.raises(UnknownNameError):
        cli.main()


def _safetensors_error() -> Exception:
    from safetensors import SafetensorError

    return SafetensorError("Error while deserializing header: HeaderTooLarge")


THIRD_PARTY = {
    "OSError ENOSPC": (lambda: OSError(errno.ENOSPC, "No space left on device"), "OSError: [Errno 28] No space left"),
    "struct.error": (lambda: struct.error("unpack_from requires a buffer of at least 1099511627812 bytes"), "error: "),
    "transformers ValueError": (
        lambda: ValueError("Unrecognized model in /x.\nShould have a `model_type` key in its config.json"),
        "ValueError: Unrecognized model in /x. Should have a `model_type` key",
    ),
    "safetensors": (_safetensors_error, "SafetensorError: Error while deserializing header: HeaderTooLarge"),
    "torch": (lambda: torch.OutOfMemoryError("CUDA out of memory."), "OutOfMemoryError: CUDA out of memory."),
    "numpy I/O": (lambda: np.load(__file__), "ValueError: This file contains pickled (object) data."),
    "rich markup in the message": (lambda: KeyError("[y/N] [bold]x[/bold]"), "KeyError: '[y/N] [bold]x[/bold]'"),
}


@pytest.mark.parametrize("case", list(THIRD_PARTY))
def test_other_exceptions_are_one_line_with_the_debug_hint(case, monkeypatch, capsys):
    make, expected = THIRD_PARTY[case]
    try:
        error = make()
    except Exception as raised:  # numpy raises while reading
        error = raised

    def fail(model, **options):
        raise error

    monkeypatch.setattr(tuneshift.models.load, "describe_model", fail)
    code, lines = run(monkeypatch, capsys, "models", "info", "some-model")
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {type(error).__name__}: ") and expected in lines[0], lines
    assert lines[0].endswith("(run with --debug for the traceback)")
    monkeypatch.setattr(sys, "argv", ["tuneshift", "--debug", "models", "info", "some-model"])
    with pytest.raises(type(error)):
        cli.main()


def test_long_third_party_messages_are_cut(monkeypatch, capsys):
    def fail(model, **options):
        raise ValueError("x" * 100_000)

    monkeypatch.setattr(tuneshift.models.load, "describe_model", fail)
    code, lines = run(monkeypatch, capsys, "models", "info", "m")
    assert code == 1 and len(lines) == 1 and len(lines[0]) < 600


def test_interrupt_exits_130_and_says_results_are_kept(monkeypatch, capsys):
    def interrupt(model, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(tuneshift.models.load, "describe_model", interrupt)
    code, lines = run(monkeypatch, capsys, "models", "info", "m")
    assert code == 130 and lines == ["interrupted: finished results are saved; run the same command again to resume."]


USAGE_ERRORS = {
    "unknown option": (["score", "--no-such-option"], "error: No such option: --no-such-option"),
    "option without its value": (["score", "--dtype"], "error: Option '--dtype' requires an argument."),
    "value of the wrong type": (["score", "--seed", "abc"], "error: Invalid value for '--seed': "),
    "unknown command": (["nonsense"], "error: No such command 'nonsense'. (see 'tuneshift --help')"),
    "missing argument": (["models", "fetch"], "error: Missing argument 'NAME'. (see 'tuneshift models fetch --help')"),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_errors_are_one_line_and_exit_2(case, monkeypatch, capsys):
    args, expected = USAGE_ERRORS[case]
    code, lines = run(monkeypatch, capsys, *args)
    assert code == 2 and len(lines) == 1 and lines[0].startswith(expected), lines
    assert "╭" not in lines[0] and "Traceback" not in lines[0]


def test_bad_parameter_raised_inside_a_command_is_a_usage_error(monkeypatch, capsys):
    def refuse(model, **options):
        raise typer.BadParameter("give --attributions DIR or --model M", param_hint="--attributions/--model")

    monkeypatch.setattr(tuneshift.models.load, "describe_model", refuse)
    assert run(monkeypatch, capsys, "models", "info", "m") == (
        2,
        [
            "error: Invalid value for --attributions/--model: give --attributions DIR or --model M "
            "(see 'tuneshift models info --help')"
        ],
    )


def test_model_loading_errors_through_the_cli(tmp_path, monkeypatch, capsys):
    """Each translated model error reaches the user as one line naming the file."""
    missing = tmp_path / "nowhere" / "model.gguf"
    assert run(monkeypatch, capsys, "models", "info", str(missing)) == (
        1,
        [f"error: Model file {missing} does not exist."],
    )
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"')
    code, lines = run(monkeypatch, capsys, "models", "info", str(folder))
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"error: {folder}/config.json is not valid JSON")


def test_exit_codes_are_documented():
    table = cli.__doc__.split("Exit codes:")[1]
    for code, meaning in [("0", "success"), ("1", "error"), ("2", "usage error"), ("3", "failed"), ("130", "Ctrl-C")]:
        assert any(line.startswith(code + " ") and meaning in line for line in table.splitlines()), code
