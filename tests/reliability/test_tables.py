"""The tables are a function of the units (issue 25): a full disk or a crash between a unit and the tables is
repaired by the next command that opens the folder; tables the store did not assemble are moved aside, never
overwritten; another command's rows in the same folder are never dropped."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil

import pandas as pd
import pytest

from tuneshift._io import DiskFullError
from tuneshift.benchmarks import BENCHMARKS, score
from tuneshift.benchmarks.store import ResultStore, new_unit

FUTRELL = "Futrell2018-pearsonr"


def _unit(key: str, model: str = "m", benchmark: str = "Bench-x"):
    rows = pd.DataFrame({"model": model, "benchmark": benchmark, "layer": [0, 1], "raw": [0.1, 0.2]})
    return new_unit(key, model, benchmark, rows, {"best_raw": 0.2}, benchmark_id=benchmark, fingerprint="fp")


def _keys(out) -> set[str]:
    return set(pd.read_csv(out / "scores.csv", dtype={"unit_key": str})["unit_key"])


def _no_temporaries(out) -> list[str]:
    return [str(p) for p in out.rglob(".*.tmp")]


def test_enospc_between_unit_and_tables_then_a_rerun_says_already_scored_and_rebuilds(
    tiny_models, tmp_path, monkeypatch, capsys
):
    model, out = tiny_models["gpt2"], tmp_path / "out"
    score(model, ["Futrell2018-deltall"], out, cache=False, progress=False)
    before = pd.read_csv(out / "scores.csv")
    to_csv = pd.DataFrame.to_csv

    def full_disk(frame, path=None, *args, **kwargs):
        if path is not None and os.path.basename(path).startswith(".scores.csv."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return to_csv(frame, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    with pytest.raises(DiskFullError) as raised:
        score(model, [FUTRELL], out, cache=False, progress=False)
    message = str(raised.value)
    assert "\n" not in message and str(out) in message and "the result was saved" in message
    assert "rebuilt" in message and "scores.csv" in message
    assert len(list((out / "units").glob(f"{FUTRELL}-*.json"))) == 1  # the unit is on disk
    pd.testing.assert_frame_equal(pd.read_csv(out / "scores.csv"), before)  # the old table, whole
    assert not _no_temporaries(out)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    bench = BENCHMARKS.get(FUTRELL)
    monkeypatch.setitem(
        BENCHMARKS._entries, FUTRELL, dataclasses.replace(bench, run=lambda *a, **k: pytest.fail("recomputed"))
    )
    capsys.readouterr()
    again = score(model, [FUTRELL], out, cache=False, progress=False)
    assert "already scored" in capsys.readouterr().err
    table = pd.read_csv(out / "scores.csv")
    assert set(table["benchmark"]) == {"Futrell2018-deltall", FUTRELL}
    assert again["unit_key"].iat[0] in set(table["unit_key"])
    assert set(json.loads((out / "summary.json").read_text())[again["model"].iat[0]]) == set(table["benchmark"])


def test_a_crash_between_the_two_table_writes_is_repaired_on_open(tmp_path):
    store = ResultStore(tmp_path)
    store.save(_unit("a" * 16))
    summary = (tmp_path / "summary.json").read_text()
    store.save(_unit("b" * 16, model="n"))
    (tmp_path / "summary.json").write_text(summary)  # scores.csv new, summary.json still the old one
    os.utime(tmp_path / "summary.json", ns=(1, 1))
    ResultStore(tmp_path)
    assert set(json.loads((tmp_path / "summary.json").read_text())) == {"m", "n"}


def test_units_copied_in_with_old_times_are_missing_from_the_tables_and_added(tmp_path):
    """`cp -p` / rsync of units from another machine: older than the tables, yet not in them."""
    ResultStore(tmp_path / "here").save(_unit("a" * 16))
    ResultStore(tmp_path / "there").save(_unit("b" * 16, model="n"))
    for path in (tmp_path / "there" / "units").iterdir():
        shutil.copy2(path, tmp_path / "here" / "units" / path.name)
        os.utime(tmp_path / "here" / "units" / path.name, ns=(1, 1))
    ResultStore(tmp_path / "here")
    assert _keys(tmp_path / "here") == {"a" * 16, "b" * 16}


def test_up_to_date_tables_are_left_alone(tmp_path):
    ResultStore(tmp_path).save(_unit("a" * 16))
    stamp = (tmp_path / "scores.csv").stat().st_mtime_ns
    assert ResultStore(tmp_path).refresh() is False
    assert (tmp_path / "scores.csv").stat().st_mtime_ns == stamp


def test_new_layout_tables_without_units_are_moved_aside_never_overwritten(tmp_path):
    """A folder holding another run's tables (units/ not copied along) is kept whole."""
    ResultStore(tmp_path / "elsewhere").save(_unit("a" * 16))
    out = tmp_path / "out"
    out.mkdir()
    for name in ("scores.csv", "summary.json"):
        shutil.copy(tmp_path / "elsewhere" / name, out / name)
    originals = {name: (out / name).read_bytes() for name in ("scores.csv", "summary.json")}
    with pytest.warns(UserWarning, match=r"scores.csv, summary.json\) hold 1 result\(s\) that are not in units/"):
        store = ResultStore(out)
    assert (out / "scores.kept-1.csv").read_bytes() == originals["scores.csv"]
    assert (out / "summary.kept-1.json").read_bytes() == originals["summary.json"]
    store.save(_unit("b" * 16))
    assert _keys(out) == {"b" * 16}
    assert (out / "scores.kept-1.csv").read_bytes() == originals["scores.csv"]


def test_another_commands_tables_in_a_scored_folder_are_kept_aside(tmp_path):
    """A writer that is not the store (a study driver merging its model folders into DIR/scores.csv) put rows of
    units that are not in DIR/units: the store keeps that table aside before writing its own."""
    store = ResultStore(tmp_path)
    store.save(_unit("a" * 16))
    merged = pd.concat(
        [pd.read_csv(tmp_path / "scores.csv"), pd.read_csv(tmp_path / "scores.csv").assign(unit_key="c" * 16)]
    )
    merged.to_csv(tmp_path / "scores.csv", index=False)
    with pytest.warns(UserWarning, match="kept as scores.kept-1.csv"):
        store.save(_unit("b" * 16, model="n"))
    assert len(pd.read_csv(tmp_path / "scores.kept-1.csv")) == len(merged)
    assert _keys(tmp_path) == {"a" * 16, "b" * 16}
    with pytest.warns(UserWarning, match="kept as scores.kept-2.csv"):  # a second time: a second name
        merged.to_csv(tmp_path / "scores.csv", index=False)
        ResultStore(tmp_path)


def test_an_unreadable_table_is_kept_aside_and_rebuilt(tmp_path):
    ResultStore(tmp_path).save(_unit("a" * 16))
    (tmp_path / "summary.json").write_text("{ truncated")
    (tmp_path / "scores.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.warns(UserWarning, match="cannot be read"):
        ResultStore(tmp_path)
    assert _keys(tmp_path) == {"a" * 16}
    assert (tmp_path / "summary.kept-1.json").read_text() == "{ truncated"


def test_score_and_compare_share_one_folder_without_dropping_rows(tiny_models, tmp_path):
    """compare scores both models through the same store: the earlier `score` rows stay."""
    from tuneshift.study.compare import compare_models

    base, tuned = tiny_models["gpt2"], tiny_models["llama"]
    score(base, ["Futrell2018-deltall"], tmp_path, cache=False, progress=False)
    before = pd.read_csv(tmp_path / "scores.csv")
    compare_models(base, tuned, [FUTRELL], tmp_path, cache=False, progress=False)
    table = pd.read_csv(tmp_path / "scores.csv")
    assert set(before["unit_key"]) < set(table["unit_key"])
    assert {(base.name, "Futrell2018-deltall"), (base.name, FUTRELL), (tuned.name, FUTRELL)} <= set(
        zip(table["model"], table["benchmark"], strict=True)
    )
    assert not list(tmp_path.glob("*.kept-*"))


def test_a_newer_unit_of_the_same_model_and_benchmark_is_listed_the_older_named(tmp_path):
    """Other data or another benchmark version under one label: one row set per (model, benchmark), never two."""
    store = ResultStore(tmp_path)
    store.save(_unit("a" * 16))
    store.save(_unit("b" * 16))
    assert _keys(tmp_path) == {"b" * 16}
    entry = json.loads((tmp_path / "summary.json").read_text())["m"]["Bench-x"]
    assert entry["unit_key"] == "b" * 16 and entry["superseded"] == ["a" * 16]
    assert ResultStore(tmp_path).refresh() is False  # the older unit is accounted for: no rebuild on every open


def test_tables_that_name_the_key_unit_are_the_stores_own_and_rewritten_without_a_warning(tmp_path, recwarn):
    """Folders scored before the key column was called unit_key are not taken for another command's."""
    store = ResultStore(tmp_path)
    store.save(_unit("a" * 16))
    pd.read_csv(tmp_path / "scores.csv").rename(columns={"unit_key": "unit"}).to_csv(tmp_path / "scores.csv")
    ResultStore(tmp_path).save(_unit("b" * 16, model="n"))
    assert _keys(tmp_path) == {"a" * 16, "b" * 16} and not list(tmp_path.glob("*.kept-*")) and not recwarn.list
