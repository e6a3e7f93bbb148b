"""One error behaviour for every command: a tuneshift error is one line and exit 1; --debug adds the traceback."""

from __future__ import annotations

import subprocess
import sys


def _tuneshift(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuneshift.cli.main", *args], capture_output=True, text=True)


def test_tuneshift_errors_are_one_line_without_traceback():
    done = _tuneshift("models", "fetch", "smollm2-135m")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: Unknown catalog model 'smollm2-135m'. Did you mean 'smollm2-135m-instruct'? "
        "Available: gemma3-270m, smollm2-135m-instruct."
    ]
    debug = _tuneshift("--debug", "models", "fetch", "smollm2-135m")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "UnknownNameError" in debug.stderr


def test_usage_errors_keep_clicks_exit_code():
    done = _tuneshift("score", "--no-such-option")
    assert done.returncode == 2 and "No such option: --no-such-option" in done.stderr
    assert _tuneshift("--help").returncode == 0
