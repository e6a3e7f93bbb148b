"""Results keyed by what was computed: dtype and options add units, reruns recompute nothing, bad units are named."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from tests._readonly import snapshot
from typer.testing import CliRunner

from tuneshift.benchmarks import BENCHMARKS, score
from tuneshift.benchmarks.futrell2018 import FutrellOptions
from tuneshift.benchmarks.run import resolve_options
from tuneshift.benchmarks.store import ResultStore, Unit, _read_unit, new_unit, unit_key
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
    assert same["unit_key"].iat[0] == story["unit_key"].iat[0]


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
    assert json.loads(unit.read_text())["key"] == first["unit_key"].iat[0]


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
    with pytest.warns(UserWarning, match="predate the results store"):
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


# --- a result carries its data (issue 19): values beside the unit, checked by their SHA-256 ---------------------


def _values(n_layers: int = 3, n_splits: int = 2, n_neuroids: int = 5) -> xr.Dataset:
    """Per-neuroid r on each split, the neural convention: string neuroid ids and subjects, a bool mask."""
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {
            "r": (("layer", "split", "neuroid"), rng.normal(size=(n_layers, n_splits, n_neuroids)).astype("float32")),
            "language": ("neuroid", rng.random(n_neuroids) > 0.5),
        },
        coords={
            "layer": np.arange(n_layers),
            "neuroid": [f"018.{i}" for i in range(n_neuroids)],
            "subject": ("neuroid", ["018", "199", "215", "018", "ü-subject"][:n_neuroids]),
        },
        attrs={"paired_unit": "neuroid"},
    )


def _unit(key: str = "0123456789abcdef", model: str = "m", benchmark: str = "Bench-x", **provenance) -> Unit:
    rows = pd.DataFrame({"model": model, "benchmark": benchmark, "layer": [0, 1], "raw": [0.1, 0.2]})
    provenance = {"benchmark_id": benchmark, "fingerprint": f"fp-{model}", **provenance}
    return new_unit(key, model, benchmark, rows, {"best_raw": 0.2}, **provenance)


def test_values_round_trip_with_string_coords_and_the_benchmark_identity(tmp_path):
    values = _values()
    unit = _unit(values=values, kind="neural", version=2, citation="Pereira et al. 2018")
    ResultStore(tmp_path).save(unit)

    store = ResultStore(tmp_path)
    found = store.find("Bench-x", unit.key, "m")
    back = store.values(found)
    xr.testing.assert_identical(back, values)  # numbers, dtypes (float32, bool), string coords, attrs
    assert back["neuroid"].values.tolist()[0] == "018.0" and back["subject"].values[-1] == "ü-subject"
    nc = tmp_path / "units" / found.provenance["values"]["file"]
    assert nc.suffix == ".nc" and nc.stem == store.path(found).stem
    assert found.provenance["values"]["sha256"] == hashlib.sha256(nc.read_bytes()).hexdigest()
    assert {k: found.provenance[k] for k in ("kind", "version", "citation")} == {
        "kind": "neural", "version": 2, "citation": "Pereira et al. 2018",
    }  # fmt: skip
    entry = json.loads((tmp_path / "summary.json").read_text())["m"]["Bench-x"]
    assert (entry["kind"], entry["version"], entry["unit_key"]) == ("neural", 2, unit.key)
    assert found.provenance["versions"]["numpy"] == np.__version__ and entry["tuneshift_version"]
    assert set(pd.read_csv(tmp_path / "scores.csv")["kind"]) == {"neural"}
    assert ResultStore(tmp_path / "other").values(_unit()) is None  # a benchmark that kept no values


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "delete"])
def test_a_damaged_values_file_is_named_and_the_unit_counts_as_not_finished(tmp_path, damage):
    unit = _unit(values=_values())
    store = ResultStore(tmp_path)
    store.save(unit)
    nc = store.path(unit).with_suffix(".nc")
    data = bytearray(nc.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0xFF
        nc.write_bytes(bytes(data))
    elif damage == "truncate":
        nc.write_bytes(bytes(data[:100]))
    else:
        nc.unlink()
    stale = _read_unit(store.path(unit))
    with pytest.raises(InvalidInputError, match=re.escape(nc.name)):
        store.values(stale)
    with pytest.warns(UserWarning, match=re.escape(str(nc))):
        assert store.find("Bench-x", unit.key, "m") is None  # the caller recomputes it
    assert not store.path(unit).exists()


def test_a_damaged_values_file_is_recomputed_by_score(tiny_models, tmp_path):
    """Through the runner: the unit whose .nc is damaged runs again and gets a good file, with the same values."""
    model = tiny_models["gpt2"]
    first = score(model, [FUTRELL], tmp_path, cache=False, progress=False)
    store = ResultStore(tmp_path)
    values = store.values(store.units()[0])
    assert values is not None and values.sizes  # Futrell keeps its per-story values
    (nc,) = (tmp_path / "units").glob("*.nc")
    nc.write_bytes(nc.read_bytes()[:-64])
    with pytest.warns(UserWarning, match=re.escape(nc.name)):
        again = score(model, [FUTRELL], tmp_path, cache=False, progress=False)
    assert again["raw"].iat[0] == pytest.approx(first["raw"].iat[0])
    xr.testing.assert_allclose(store.values(store.units()[0]), values)


def test_a_second_name_gets_its_own_copy_of_the_values(tmp_path):
    store = ResultStore(tmp_path)
    store.save(_unit(model="base", values=_values()))
    twin = store.find("Bench-x", _unit().key, "tuned")
    assert twin.provenance["same_as"] == "base" and twin.provenance["values"]["file"] != ""
    assert store.path(twin).with_suffix(".nc").exists()
    xr.testing.assert_identical(store.values(twin), _values())


def test_a_version_bump_changes_the_key_of_that_benchmark_only():
    args = ("fp", {"dtype": "float32"}, "Bench-x", {"context": "story"}, "digest")
    assert unit_key(*args) == unit_key(*args, version=1)  # units from before versions keep their keys
    assert unit_key(*args, version=2) != unit_key(*args)
    assert unit_key(*args[:2], "Bench-y", *args[3:]) == unit_key(*args[:2], "Bench-y", *args[3:], version=1)


def test_unsafe_model_labels_never_reach_a_path_and_never_collide(tmp_path):
    labels = ["..", "/", "/etc/passwd", "../../escape", "org/model", "org_model", "org model", "a\nb", "-", "." * 300]
    store = ResultStore(tmp_path)
    for label_ in labels:
        store.save(_unit(model=label_, values=_values(1, 1, 2)))
    paths = [store.path(_unit(model=label_)) for label_ in labels]
    assert len(set(paths)) == len(labels) and all(p.parent == tmp_path / "units" for p in paths)
    assert {p.name for p in (tmp_path / "units").iterdir()} == {
        n for p in paths for n in (p.name, p.with_suffix(".nc").name)
    }
    assert sorted(json.loads((tmp_path / "summary.json").read_text())) == sorted(labels)
    assert sorted(set(pd.read_csv(tmp_path / "scores.csv", keep_default_na=False)["model"])) == sorted(labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tuneshift.lock", "scores.csv", "summary.json", "units"]


def test_a_version_bump_recomputes_that_benchmark_only(tiny_models, tmp_path, monkeypatch, no_recompute):
    model, other = tiny_models["gpt2"], "Futrell2018-deltall"
    first = score(model, [FUTRELL, other], tmp_path, cache=False, progress=False)
    runs = []
    bench = BENCHMARKS.get(FUTRELL)

    def counted(*args, **kwargs):
        runs.append(FUTRELL)
        return bench.run(*args, **kwargs)

    monkeypatch.setitem(BENCHMARKS._entries, FUTRELL, dataclasses.replace(bench, version=2, run=counted))
    no_recompute(other)
    again = score(model, [FUTRELL, other], tmp_path, cache=False, progress=False)
    assert runs == [FUTRELL]
    keys = dict(zip(again["benchmark"], again["unit_key"], strict=False))
    old = dict(zip(first["benchmark"], first["unit_key"], strict=False))
    assert keys[FUTRELL] != old[FUTRELL] and keys[other] == old[other]
    entry = json.loads((tmp_path / "summary.json").read_text())[again["model"].iat[0]][FUTRELL]
    assert entry["version"] == 2 and entry["unit_key"] == keys[FUTRELL]  # the newer unit is the one listed
    assert entry["superseded"] == [old[FUTRELL]]  # the older one stays in units/, named
    table = pd.read_csv(tmp_path / "scores.csv")
    assert set(table["unit_key"]) == {keys[FUTRELL], keys[other]} and not table.duplicated(["benchmark", "layer"]).any()
    assert len(list((tmp_path / "units").glob("*.json"))) == 3 and ResultStore(tmp_path).refresh() is False


# ------------------------------------------------------------------------------------------ a read-only folder
def _tables_as_written(folder):
    return pd.read_csv(folder / "scores.csv"), json.loads((folder / "summary.json").read_text())


@pytest.mark.parametrize("tables", ["intact", "missing", "stale", "foreign"])
def test_a_read_only_folder_is_read_without_writing_anything(tmp_path, read_only, tables):
    """Results copied from a cluster or on a read-only mount: the store reads them (tables assembled in memory when
    missing, stale or not the units'), makes no lock file, moves, deletes and rewrites nothing, refuses to save."""
    run = tmp_path / "run"
    writer = ResultStore(run)
    writer.save(_unit(model="a", values=_values()))
    before_b = [(run / name).read_bytes() for name in ("scores.csv", "summary.json")]
    writer.save(_unit("fedcba9876543210", model="b"))
    expected = _tables_as_written(run)
    if tables == "missing":
        (run / "summary.json").unlink()
    elif tables == "stale":  # a crash between b's unit and the tables: they list a only
        for name, data in zip(("scores.csv", "summary.json"), before_b, strict=True):
            (run / name).write_bytes(data)
    elif tables == "foreign":  # a row of a unit that is not in units/ (copied in by hand)
        with (run / "scores.csv").open("a") as handle:
            handle.write(",".join(["x"] * (len(expected[0].columns) - 1) + ["0000000000000000"]) + "\n")
    (run / ".tuneshift.lock").unlink()  # a copied folder need not have one
    simulated = read_only(run)
    before = snapshot(run)

    store = ResultStore.reading(run)
    assert store.read_only, f"simulated={simulated}"
    if tables == "foreign":
        with pytest.warns(UserWarning, match="read-only, so they are left as they are"):
            scores, summary = store.tables()
    else:
        scores, summary = store.tables()
    pd.testing.assert_frame_equal(scores, expected[0])
    assert summary == expected[1]
    units = {unit.model: unit for unit in store.units()}
    assert sorted(units) == ["a", "b"] and store.refresh() is False
    xr.testing.assert_identical(store.values(units["a"]), _values())
    twin = store.find("Bench-x", _unit().key, "c")  # relabelled in memory, not saved
    assert twin.model == "c" and twin.provenance["same_as"] == "a"
    xr.testing.assert_identical(store.values(twin), _values())
    with pytest.raises(InvalidInputError, match="read-only"):
        store.save(_unit("1111111111111111", model="d"))
    with pytest.raises(InvalidInputError, match="read-only"):
        store.assemble()
    with pytest.raises(InvalidInputError, match="cannot write results there"):  # a writer is refused, as before
        ResultStore(run)
    assert snapshot(run) == before and not (run / ".tuneshift.lock").exists()


def test_a_read_only_store_names_a_damaged_unit_and_keeps_it(tmp_path, read_only):
    run = tmp_path / "run"
    ResultStore(run).save(_unit(values=_values()))
    nc = next((run / "units").glob("*.nc"))
    nc.write_bytes(nc.read_bytes()[:100])
    read_only(run)
    before = snapshot(run)
    store = ResultStore.reading(run)
    with pytest.warns(UserWarning, match="is skipped \\(read-only folder\\)"):
        assert store.find("Bench-x", _unit().key, "m") is None
    with pytest.raises(InvalidInputError, match=re.escape(nc.name)):
        store.values(store.units()[0])
    assert snapshot(run) == before


def test_a_writable_folder_is_still_refreshed_in_place(tmp_path):
    """ResultStore.reading of a folder that can be written is the writer's store: its lock file, and tables
    rebuilt in the folder when they are missing."""
    run = tmp_path / "run"
    ResultStore(run).save(_unit(values=_values()))
    expected = _tables_as_written(run)
    (run / ".tuneshift.lock").unlink()
    (run / "summary.json").unlink()
    store = ResultStore.reading(run)
    assert not store.read_only and (run / ".tuneshift.lock").exists()
    assert json.loads((run / "summary.json").read_text()) == expected[1]
    pd.testing.assert_frame_equal(store.tables()[0], expected[0])


def test_reading_a_folder_that_is_not_there_creates_nothing(tmp_path):
    store = ResultStore.reading(tmp_path / "nowhere")
    assert store.read_only and store.units() == [] and not (tmp_path / "nowhere").exists()
