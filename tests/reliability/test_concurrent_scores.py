"""Several `tuneshift score` processes into one --out keep every result; a killed run resumes to the same numbers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

BENCHMARKS = ["Futrell2018-pearsonr", "Futrell2018-deltall", "Tuckute2024-linear"]


def _command(model: Path, out: Path, benchmarks: list[str]) -> list[str]:
    flags = [arg for name in benchmarks for arg in ("-b", name)]
    entry = "from tuneshift.cli.main import main; main()"
    return [sys.executable, "-c", entry, "score", "--model", str(model), "--out", str(out), "--no-cache", *flags]


def _start(model: Path, out: Path, benchmarks: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "TUNESHIFT_PROGRESS_SECONDS": "0"}
    return subprocess.Popen(_command(model, out, benchmarks), stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def _numbers(out: Path) -> pd.DataFrame:
    table = pd.read_csv(out / "scores.csv")
    return table.set_index(["model", "benchmark", "layer"])["raw"].sort_index()


def test_two_writers_into_one_out_keep_both_benchmarks(tiny_model_dirs, tmp_path):
    model, out = tiny_model_dirs["gpt2"], tmp_path / "one-out"
    first = _start(model, out, BENCHMARKS[:1], tmp_path / "a.log")
    second = _start(model, out, BENCHMARKS[1:2], tmp_path / "b.log")
    assert first.wait(300) == 0, (tmp_path / "a.log").read_text()
    assert second.wait(300) == 0, (tmp_path / "b.log").read_text()
    table = pd.read_csv(out / "scores.csv")
    assert sorted(table["benchmark"]) == sorted(BENCHMARKS[:2])
    assert len(list((out / "units").glob("*.json"))) == 2


@pytest.fixture(scope="module")
def uninterrupted(tiny_model_dirs, tmp_path_factory) -> pd.Series:
    reference = tmp_path_factory.mktemp("reference")
    assert subprocess.run(_command(tiny_model_dirs["gpt2"], reference, BENCHMARKS), capture_output=True).returncode == 0
    return _numbers(reference)


@pytest.mark.parametrize("kill_after_units", [0, 1])
def test_killed_run_resumes_to_the_uninterrupted_numbers(tiny_model_dirs, tmp_path, uninterrupted, kill_after_units):
    model = tiny_model_dirs["gpt2"]
    out, log = tmp_path / "killed", tmp_path / "killed.log"
    run = _start(model, out, BENCHMARKS, log)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and run.poll() is None:
        started = "on gpt2" in log.read_text() if log.exists() else False
        finished = len(list((out / "units").glob("*.json"))) if (out / "units").exists() else 0
        if started and finished >= kill_after_units:
            break
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait()
    done = len(list((out / "units").glob("*.json")))
    assert done < len(BENCHMARKS)
    resumed = subprocess.run(_command(model, out, BENCHMARKS), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert (resumed.stdout + resumed.stderr).count("already scored") == done
    pd.testing.assert_series_equal(_numbers(out), uninterrupted)
