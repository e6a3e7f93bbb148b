"""Progress reaches a log: plain lines with stage, counts and ETA when stderr is not a terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd

from tuneshift.progress import progress


def test_plain_lines_when_not_a_terminal(capsys, monkeypatch):
    monkeypatch.setenv("TUNESHIFT_PROGRESS_SECONDS", "0")
    with progress("fitting ridge", 4, unit="fits") as tracker:
        for _ in range(4):
            tracker.advance()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("fitting ridge (fits): 0/4 (0%), 0 s elapsed")
    assert re.match(r"fitting ridge \(fits\): 2/4 \(50%\), \d+ s elapsed, ETA \d+ s", lines[2])
    assert lines[-1].endswith("done") and "4/4 (100%)" in lines[-1]
    with progress("quiet", 3, enabled=False) as tracker:
        tracker.advance(3)
    assert capsys.readouterr().err == "" and tracker.done == 3


def test_cli_with_piped_output_reports_progress(tiny_model_dirs, tmp_path):
    tsv = tmp_path / "passages.tsv"
    words = [f"w{i}" for i in range(30)]
    pd.DataFrame({"passage": [i // 10 for i in range(30)], "word": words}).to_csv(tsv, sep="\t", index=False)
    command = [sys.executable, "-m", "tuneshift.cli.main", "readout", "--model", str(tiny_model_dirs["llama"])]
    command += ["--passages", str(tsv), "--out", str(tmp_path / "out"), "--no-cache"]
    env = {**os.environ, "TUNESHIFT_PROGRESS_SECONDS": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("reading ")]
    assert lines[0].startswith("reading llama (tokens): 0/") and lines[-1].endswith("done")
