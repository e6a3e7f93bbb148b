"""Every benchmark says what it is (kind, version, citation) and keeps the per-unit values behind its scores, so that
compare, statistics and the report read them instead of re-running anything."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tuneshift.benchmarks import BENCHMARKS, score
from tuneshift.benchmarks._base import KINDS, concat_values, neuroid_values
from tuneshift.benchmarks.run import check_benchmarks, score_units
from tuneshift.benchmarks.store import ResultStore
from tuneshift.errors import InvalidParameterError
from tuneshift.metrics.encoding import aggregate
from tuneshift.models.subject import TokenLogprobs
from tuneshift.study.compare import _by_dataset, compare_benchmark, unit_scores


@pytest.mark.parametrize("name", BENCHMARKS.names())
def test_every_benchmark_declares_its_kind_version_and_citation(name):
    bench = BENCHMARKS.get(name)
    assert bench.kind in KINDS and bench.version >= 1 and len(bench.citation) > 20


def test_a_subject_without_representations_is_refused_neural_and_similarity_benchmarks():
    tokens = TokenLogprobs("api", pd.DataFrame(columns=["story", "offset", "token", "logprob"]))
    for name in ("Tuckute2024-linear", "Tuckute2024-cka"):  # the similarity variant was let through before
        with pytest.raises(InvalidParameterError, match="api has no representations"):
            score(tokens, [name], progress=False)
    assert {b.kind for b in check_benchmarks(None, layers=False)} <= {"behavioral", "capability"}
    with pytest.raises(InvalidParameterError, match="--units selects"):
        check_benchmarks(["Futrell2018-pearsonr"], kinds=("neural", "similarity"), why="--units selects")


def test_values_of_combined_datasets_sit_side_by_side_and_regroup():
    rng = np.random.default_rng(0)
    first = pd.DataFrame({"neuroid_id": ["a", "b", "c"], "subject": ["1", "1", "2"], "x": [1.0, 2.0, 3.0]})
    second = pd.DataFrame({"neuroid_id": ["a", "d"], "subject": ["3", "3"]})
    r1, r2 = rng.normal(size=(2, 10, 3)), rng.normal(size=(2, 10, 2))
    values = concat_values(
        [neuroid_values(r1, [0, 4], first, "E1"), neuroid_values(r2, [0, 4], second, "E2")], "neuroid"
    )
    assert values["r"].dims == ("layer", "split", "neuroid") and values.sizes["neuroid"] == 5
    assert values["dataset"].to_numpy().tolist() == ["E1"] * 3 + ["E2"] * 2 and "x" not in values.coords
    parts = _by_dataset(values["r"].sel(layer=4))
    np.testing.assert_allclose(parts[0], r1[1], rtol=1e-6)  # float32
    np.testing.assert_allclose(parts[1], r2[1], rtol=1e-6)


def test_tiny_model_values_are_the_numbers_behind_its_scores(tiny_models, tmp_path):
    model = tiny_models["gpt2"]
    units = score_units(model, ["Tuckute2024-linear", "Tuckute2024-cka"], tmp_path, progress=False)
    linear, cka = units
    np.testing.assert_allclose(aggregate(linear.values["r"].to_numpy()), linear.scores["raw"], atol=1e-6)
    assert linear.values["dataset"].item() == "Tuckute2024" and linear.provenance["kind"] == "neural"
    assert linear.summary["protocol"] == {"regression": "linear", "cv": "shuffle", "n_splits": 10, "split_seed": 1,
                                          "honest_method": "inner", "inner_splits": 5, "pooling": "last"}  # fmt: skip
    np.testing.assert_allclose(cka.values["cka"].mean("split"), cka.scores["raw"])
    assert cka.values.attrs["paired_unit"] == "split" and cka.provenance["kind"] == "similarity"
    # what the store gives back pairs: the model against itself changes nothing, over the 10 subsets
    store = ResultStore(tmp_path)
    stored = {u.benchmark: unit_scores(u, store.values(u)) for u in store.units()}
    row = compare_benchmark(stored["Tuckute2024-cka"], stored["Tuckute2024-cka"])
    assert row["paired_unit"] == "split" and row["n_paired"] == 10 and row["mean_paired_change"] == 0.0


def test_capability_aggregates_are_summarized_by_their_headline_row():
    from tuneshift.benchmarks import BenchmarkResult
    from tuneshift.benchmarks._base import summarize

    scores = pd.DataFrame(
        {"model": "m", "benchmark": "MMLU", "layer": np.nan, "raw": [0.4, 0.9, 0.2], "ceiling": np.nan,
         "normalized": np.nan, "measure": ["overall", "subject:anatomy", "stem"]}
    )  # fmt: skip
    best = summarize(BenchmarkResult(scores))
    assert best["best_raw"] == 0.4 and best["best_layer"] is None and best["scored"] == "output"
    units = pd.DataFrame({"layer": [-1], "raw": [0.3], "ceiling": [0.5], "normalized": [0.6]})
    assert summarize(BenchmarkResult(units))["scored"] == "units"
