"""The report of a read-only results folder (results copied from a cluster, a read-only mount): the folder is only
read — no lock file, tables assembled in memory from its units, nothing written there — and the page with its
figure copies goes where --out says; without --out the command says so in one line. A writable folder is
unchanged: its lock, its tables rebuilt in place, the report beside the results.

Tiny model, one reading-time benchmark (per-story values kept, so the page also reads the units' values files)."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from tests._readonly import snapshot
from tests.report.page import read_page
from tuneshift.cli import main as cli
from tuneshift.report import write_report

BENCHMARK = "Futrell2018-pearsonr"


@pytest.fixture(scope="module")
def scored(tiny_models, tmp_path_factory):
    """A score folder of the tiny gpt2 on BENCHMARK (copied by each test)."""
    from tuneshift.benchmarks import score

    folder = tmp_path_factory.mktemp("scored") / "run"
    score(tiny_models["gpt2"], [BENCHMARK], folder, cache=False, progress=False)
    return folder


@pytest.fixture
def copied(scored, tmp_path):
    """A copy of the score folder without its lock file or summary.json (as copied from a cluster in the middle of
    a run: the tables must be assembled from the units)."""
    folder = tmp_path / "run"
    shutil.copytree(scored, folder)
    (folder / ".tuneshift.lock").unlink()
    (folder / "summary.json").unlink()
    return folder


def tuneshift(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `tuneshift ARGS`, run through the script's entry point."""
    cli._state["debug"] = False
    monkeypatch.setattr(sys, "argv", ["tuneshift", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


def test_report_of_a_read_only_folder_is_written_under_out(scored, copied, tmp_path, read_only, monkeypatch, capsys):
    read_only(copied)
    before = snapshot(copied)
    elsewhere = tmp_path / "elsewhere"
    code, out, err = tuneshift(monkeypatch, capsys, "report", str(copied), "--out", str(elsewhere))
    assert code == 0, err
    page = read_page(elsewhere / "report.html")
    # the numbers are the units' (the tables were assembled in memory: summary.json is not in the folder)
    model, entry = next(iter(json.loads((scored / "summary.json").read_text()).items()))
    card = page.tables[f"{model} scores"]
    row = next(r for r in card[1:] if r[0] == BENCHMARK)
    assert row[2:4] == [f"{entry[BENCHMARK]['best_raw']:.4g}", f"{entry[BENCHMARK]['best_normalized']:.4g}"]
    assert page.images and "values of" not in page.text  # figures drawn, the values files read
    copies = sorted(p.name for p in (elsewhere / "report-figures").iterdir())
    assert len(copies) == 2 * len(page.images) and str(elsewhere / "report-figures") in out
    # an .html file as --out: the copies beside it
    page_file = write_report(copied, tmp_path / "pages" / "run.html", figures=("svg",))
    assert page_file == tmp_path / "pages" / "run.html" and (tmp_path / "pages" / "report-figures").is_dir()
    assert snapshot(copied) == before  # no lock file, no tables, no report, no figures: nothing changed


def test_without_out_a_read_only_folder_is_refused_in_one_line(copied, read_only, monkeypatch, capsys):
    read_only(copied)
    before = snapshot(copied)
    code, _, err = tuneshift(monkeypatch, capsys, "report", str(copied))
    (line,) = err.strip().splitlines()
    assert code == 1 and str(copied) in line and "read-only" in line and "--out" in line, err
    assert snapshot(copied) == before


def test_a_writable_folder_still_gets_its_lock_tables_and_report(scored, copied):
    path = write_report(copied, figures=("svg",))
    assert path == copied / "report.html" and (copied / "report-figures").is_dir()
    assert (copied / ".tuneshift.lock").exists()
    assert json.loads((copied / "summary.json").read_text()) == json.loads((scored / "summary.json").read_text())
