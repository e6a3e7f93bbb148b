"""Results keyed by what was computed: dtype and options add units, reruns recompute nothing, bad units are named."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from tuneshift.benchmarks import BENCHMARKS, score
from tuneshift.benchmarks.futrell2018 import FutrellOptions
from tuneshift.benchmarks.run import resolve_options
from tuneshift.benchmarks.store import ResultStore
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.models import load_model

FUTRELL = "Futrell2018-pearsonr"


@pytest.fixture
def no_recompute(monkeypatch):
    """Make every benchmark fail if it runs: what is scored after this must come from the store."""

    def refuse(identifier):
        bench = BENCHMARKS.get(identifier)
        stub = dataclasses.replace(bench, run=lambda *a, **k: pytest.fail(f"recomputed {identifier}"))
        monkeypatch.setitem(BENCHMARKS._entries, identifier, stub)

    return refuse


def test_two_dtypes_into_one_out_keep_both_and_a_rerun_recomputes_nothing(tiny_model_dirs, tmp_path, no_recompute):
    path = tiny_model_dirs["llama"]
    full = score(load_model(path), [FUTRELL, "Tuckute2024-linear"], tmp_path, cache=False, progress=False)
    half = score(load_model(path, dtype="bfloat16"), [FUTRELL], tmp_path, cache=False, progress=False)
    table = pd.read_csv(tmp_path / "scores.csv")
    name = full["model"].iat[0]
    assert set(table["model"]) == {name, f"{name} [dtype=bfloat16]"}
    assert half["raw"].iat[0] != pytest.approx(full.loc[full["benchmark"] == FUTRELL, "raw"].iat[0], abs=1e-9)
    assert set(table["fingerprint"]) == {full["fingerprint"].iat[0], half["fingerprint"].iat[0]}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary[f"{name} [dtype=bfloat16]"][FUTRELL]["variant"] == {"dtype": "bfloat16"}
    assert summary[name][FUTRELL]["tuneshift_version"] and summary[name][FUTRELL]["data_digest"]
    assert len(list((tmp_path / "units").glob("*.json"))) == 3

    no_recompute(FUTRELL)
    no_recompute("Tuckute2024-linear")
    again = score(load_model(path), [FUTRELL, "Tuckute2024-linear"], tmp_path, cache=False, progress=False)
    pd.testing.assert_frame_equal(again[full.columns], full, check_dtype=False)
    assert len(pd.read_csv(tmp_path / "scores.csv")) == len(table)


def test_other_options_add_a_labelled_unit(tiny_models, tmp_path):
    model = tiny_models["gpt2"]
    story = score(model, [FUTRELL], tmp_path, cache=False, progress=False)
    stream = score(model, [FUTRELL], tmp_path, options={"context": "stream"}, cache=False, progress=False)
    assert story["benchmark"].iat[0] == FUTRELL
    assert stream["benchmark"].iat[0] == f"{FUTRELL} [context=stream]"
    assert stream["context"].iat[0] == "stream" and story["context"].iat[0] == "story"
    table = pd.read_csv(tmp_path / "scores.csv")
    assert json.loads(table.loc[table["benchmark"] == f"{FUTRELL} [context=stream]", "options"].iat[0]) == {
        "context": "stream", "max_context": 0, "min_context": 0, "sentences": "conllx", "store_dtype": "float32",
    }  # fmt: skip
    # batch size changes speed, not numbers: it is no part of the key
    same = score(model, [FUTRELL], tmp_path, options={"batch_size": 2}, cache=False, progress=False)
    assert same["unit"].iat[0] == story["unit"].iat[0]


def test_options_are_validated_with_what_is_accepted():
    benches = [BENCHMARKS.get(FUTRELL), BENCHMARKS.get("Tuckute2024-linear")]
    resolved = resolve_options(benches, {"pooling": "mean", FUTRELL: {"sentences": "brainscore"}})
    assert resolved[FUTRELL] == FutrellOptions(sentences="brainscore")
    assert resolved["Tuckute2024-linear"].pooling == "mean"
    with pytest.raises(InvalidParameterError, match="context"):
        resolve_options(benches, {"contxt": "stream"})
    with pytest.raises(InvalidParameterError, match=r"story.*stream"):
        resolve_options(benches, {"context": "streams"})
    with pytest.raises(InvalidParameterError, match="int"):
        resolve_options(benches, {"batch_size": "many"})
    with pytest.raises(InvalidParameterError, match="pooling"):  # Futrell has no pooling
        resolve_options(benches, {FUTRELL: {"pooling": "mean"}})


def test_truncated_unit_is_named_and_recomputed(tiny_models, tmp_path):
    model = tiny_models["gpt2"]
    first = score(model, [FUTRELL], tmp_path, cache=False, progress=False)
    (unit,) = (tmp_path / "units").glob("*.json")
    unit.write_text(unit.read_text()[:200])
    with pytest.warns(UserWarning, match=unit.name):
        again = score(model, [FUTRELL], tmp_path, cache=False, progress=False)
    assert again["raw"].iat[0] == pytest.approx(first["raw"].iat[0])
    assert json.loads(unit.read_text())["key"] == first["unit"].iat[0]


def test_same_weights_under_a_second_name_reuse_the_unit(tiny_model_dirs, tmp_path, no_recompute):
    base = load_model(tiny_model_dirs["gpt2"])
    score(base, [FUTRELL], tmp_path, cache=False, progress=False)
    no_recompute(FUTRELL)
    twin = load_model(tiny_model_dirs["gpt2"])
    twin.name = "twin"
    score(twin, [FUTRELL], tmp_path, cache=False, progress=False)
    table = pd.read_csv(tmp_path / "scores.csv")
    assert sorted(table["model"]) == sorted([base.name, "twin"]) and table["raw"].nunique() == 1


def test_out_that_is_a_file_is_refused_before_anything_runs(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    with pytest.raises(InvalidInputError, match="not a directory"):
        ResultStore(target)


def test_tables_from_before_units_are_kept_aside(tmp_path):
    (tmp_path / "scores.csv").write_text("model,benchmark,layer,raw,ceiling,normalized\nold,X,1,0.1,,\n")
    (tmp_path / "summary.json").write_text("{}")
    with pytest.warns(UserWarning, match="predates"):
        ResultStore(tmp_path)
    assert (tmp_path / "scores.before-units.csv").exists() and (tmp_path / "summary.before-units.json").exists()


def test_score_cli_option_flag_and_units(tiny_model_dirs, tmp_path, monkeypatch):
    from tuneshift.cli.main import app

    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    model = str(tiny_model_dirs["gpt2"])
    runner = CliRunner()
    result = runner.invoke(app, ["score", "--model", model, "-b", FUTRELL, "--out", str(out), "-o", "context=stream"])
    assert result.exit_code == 0, result.output
    assert "context=stream" in pd.read_csv(out / "scores.csv")["benchmark"].iat[0]
    bad = runner.invoke(app, ["score", "--model", model, "-b", FUTRELL, "--out", str(out), "-o", "context"])
    assert bad.exit_code != 0 and "KEY=VALUE" in bad.output
    args = ["score", "--model", model, "-b", "Tuckute2024-linear", "--out", str(out)]
    units = runner.invoke(app, [*args, "--units", "language", "--units", "random:3"])
    assert units.exit_code == 0, units.output
    summary = json.loads((out / "summary.json").read_text())
    assert {"units=language", "units=random:3"} <= {name.partition("[")[2].rstrip("]") for name in summary}
    (view,) = [name for name in summary if "units=random:3" in name]
    assert summary[view]["Tuckute2024-linear"]["n_layers_scored"] == 1
    table = pd.read_csv(out / "scores.csv")
    assert table.loc[table["model"] == view, "layer"].tolist() == [-1]  # the units of all layers as one


def test_one_name_for_two_sets_of_weights_is_told_apart_by_fingerprint(tiny_model_dirs, tmp_path):
    hub, gguf = load_model(tiny_model_dirs["gpt2"]), load_model(tiny_model_dirs["llama"])
    hub.name = gguf.name = "smollm2"  # e.g. hub weights and the GGUF under one catalog name
    for model in (hub, gguf):
        score(model, [FUTRELL], tmp_path, cache=False, progress=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert sorted(summary) == sorted(f"smollm2 #{m.fingerprint[:8]}" for m in (hub, gguf))
