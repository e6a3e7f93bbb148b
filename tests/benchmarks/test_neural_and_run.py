"""Neural benchmarks end to end on a tiny model, and the score runner's atomic, resumable output."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tuneshift.benchmarks import BENCHMARKS, SCORE_COLUMNS, score
from tuneshift.benchmarks.neural import layer_features
from tuneshift.data import DATASETS
from tuneshift.errors import InvalidParameterError


def test_tuckute_features_are_read_at_each_sentences_last_word(tiny_models):
    model = tiny_models["gpt2"]
    dataset = DATASETS.get("Tuckute2024").load()
    features, layers = layer_features(model, dataset, cache=False, progress=False)
    assert features.shape == (model.n_layers + 1, 1000, model.hidden_size)
    assert layers == [0, 1, 2]
    from tuneshift.models.readout import read_out

    first = read_out(model, dataset.passages[:1], cache=False, progress=False)
    np.testing.assert_allclose(features[:, 0], first.activations[:, -1], rtol=1e-4, atol=1e-6)


def test_score_writes_tidy_tables_and_resumes(tiny_models, tmp_path, monkeypatch):
    model = tiny_models["llama"]
    table = score(model, ["Tuckute2024-linear"], tmp_path, cache=False, progress=False)
    assert list(table.columns[:6]) == SCORE_COLUMNS
    assert table["layer"].tolist() == [0, 1, 2]
    assert table["raw"].between(-0.3, 0.6).all()
    summary = json.loads((tmp_path / "summary.json").read_text())[model.name]["Tuckute2024-linear"]
    assert summary["best_raw"] == pytest.approx(table["raw"].max())
    assert summary["best_layer"] == int(table.loc[table["raw"].idxmax(), "layer"])
    assert -0.3 < summary["honest_raw"] <= summary["best_raw"] + 0.05
    # A rerun must not recompute a finished benchmark.
    bench = BENCHMARKS.get("Tuckute2024-linear")
    refuse = dataclasses.replace(bench, run=lambda *a, **k: pytest.fail("recomputed a finished benchmark"))
    monkeypatch.setitem(BENCHMARKS._entries, "Tuckute2024-linear", refuse)
    again = score(model, ["Tuckute2024-linear"], tmp_path, cache=False, progress=False)
    pd.testing.assert_frame_equal(again, table)


def test_unavailable_benchmark_is_refused_with_a_hint(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESHIFT_DATA", str(tmp_path / "empty"))
    with pytest.raises(InvalidParameterError, match="tuneshift data list"):
        score(tiny_models["gpt2"], ["Pereira2018-linear"], tmp_path, progress=False)


def test_score_cli_lists_benchmarks():
    from tuneshift.cli.main import app

    result = CliRunner().invoke(app, ["score", "--list"])
    assert result.exit_code == 0, result.output
    assert "Tuckute2024-linear" in result.output and "Futrell2018-deltall" in result.output


@pytest.mark.parametrize(
    ("summary", "kind", "higher_is_better", "line"),
    [
        ({"best_layer": 3, "scored": "layers"}, "neural", True, "best layer 3: raw 0.4000, normalized 0.5000"),
        ({"best_layer": None, "scored": "units"}, "neural", True, "selected model units: raw 0.4000"),
        ({"best_layer": None, "scored": "output"}, "behavioral", True, "output surprisal: raw 0.4000"),
        ({"best_layer": None, "scored": "output"}, "capability", True, "output (accuracy): raw 0.4000"),
        ({"best_layer": None, "scored": "output"}, "capability", False, "output (loss): raw 0.4000"),
    ],
)
def test_summary_line_names_what_was_scored(summary, kind, higher_is_better, line):
    from tuneshift.benchmarks.run import summary_line

    best = {**summary, "best_raw": 0.4, "best_normalized": 0.5, "honest_raw": 0.35}
    assert summary_line(best, kind, higher_is_better).startswith(line)
