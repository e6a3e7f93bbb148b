"""How commands draw their tables: whole rows in a batch log, no "+nan %"."""

from __future__ import annotations

import io

from tuneshift.cli._console import LOG_WIDTH, make_console
from tuneshift.cli.compare import percent


def test_a_console_writing_to_a_file_draws_whole_rows(monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())  # a batch job's log: not a terminal
    monkeypatch.delenv("COLUMNS", raising=False)
    assert make_console().width == LOG_WIDTH
    monkeypatch.setenv("COLUMNS", "250")  # asked for explicitly: honoured
    assert make_console().width == 250


def test_percent_change_is_a_dash_where_it_is_undefined():
    assert percent(float("nan")) == "–" and percent(12.34) == "+12.3 %" and percent(-3.0) == "-3.0 %"
