"""The paper's analyses reproduced from its own reported scores (the zoo's packaged copy), and the statistics'
building blocks on hand-checkable inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tuneshift.cli.study import app
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.study import load_zoo, stats
from tuneshift.study.properties import merge_properties, read_properties


@pytest.fixture(scope="module")
def paper():
    """The analyses on the paper's 25 main models (GPT-2 pairs excluded, as in its Figure 1), 17 tuned; the zoo also
    holds the offline catalog models, which have no reported scores (source=catalog)."""
    return stats.analyze(load_zoo().table(), ["family!=gpt2", "source=aw2023"])


def _pearson(analysis, prop: str, subset: str) -> float:
    rows = analysis.correlations
    row = rows[
        (rows["method"] == "pearson")
        & (rows["alignment"] == stats.BRAIN)
        & (rows["property"] == prop)
        & rows["subset"].str.startswith(subset)
    ]
    assert len(row) == 1
    return float(row["r"].iloc[0])


def test_paper_correlations_reproduced_from_the_zoo(paper):
    # Aw et al. print 0.95 / 0.92 / 0.81 / 0.38; these are the values its own table gives (issue 12), to 0.005.
    assert paper.summary()["n_models"] == 25 and paper.summary()["n_tuned"] == 17
    assert _pearson(paper, "log10_params", "tuned") == pytest.approx(0.948, abs=0.005)
    assert _pearson(paper, "log10_params", "all") == pytest.approx(0.922, abs=0.005)
    assert _pearson(paper, "mmlu", "tuned") == pytest.approx(0.805, abs=0.005)
    assert _pearson(paper, "bbh", "tuned") == pytest.approx(0.379, abs=0.005)
    # NWP loss correlated as a loss: +0.545, p = 0.024 (the paper prints -0.54 with p = 0.027).
    nwp = paper.correlations.query("method == 'pearson' and alignment == 'brain_alignment' and property == 'nwp_loss'")
    assert float(nwp["r"].iloc[0]) == pytest.approx(0.545, abs=0.005)
    assert float(nwp["p"].iloc[0]) == pytest.approx(0.024, abs=0.001)


def test_paper_effects_reproduced_from_the_zoo(paper):
    mean = paper.effect_summary.set_index("benchmark")["mean_pct"]
    assert mean["pereira2018"] == pytest.approx(6.99, abs=0.005)
    assert mean["blank2014"] == pytest.approx(7.99, abs=0.005)
    assert mean["wehbe2014"] == pytest.approx(3.97, abs=0.005)
    assert mean[stats.BRAIN] == pytest.approx(5.98, abs=0.005)
    assert set(paper.effects["pair"].str.split(" → ").str[0]) <= set(paper.table["model"])
    assert paper.effects["pair"].nunique() == 17


def test_fdr_is_benjamini_hochberg_over_each_method(paper):
    for _, group in paper.correlations.groupby("method"):
        p = group["p"].to_numpy()
        order = np.argsort(p)
        ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
        expected = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
        np.testing.assert_allclose(group["q"].to_numpy()[order], expected)
    # MMLU exists only for tuned models: its "all" test would repeat the "tuned" one and is kept once.
    mmlu = paper.correlations.query("method == 'pearson' and alignment == 'brain_alignment' and property == 'mmlu'")
    assert len(mmlu) == 1


def test_brain_alignment_is_the_mean_of_neural_columns_without_brain_avg():
    table = pd.DataFrame(
        {
            "model": ["b", "t"],
            "instruction_tuned": [False, True],
            "base_model": [None, "b"],
            "Pereira2018-linear": [0.2, 0.3],
            "Tuckute2024-ridge": [0.4, 0.3],
            "Futrell2018-deltall": [-0.5, 2.0],
        }
    )
    prepared = stats.prepare(table)
    np.testing.assert_allclose(prepared[stats.BRAIN], [0.3, 0.3])
    effect = stats.effects(prepared).set_index("benchmark")
    assert effect.loc["Pereira2018-linear", "pct_change"] == pytest.approx(50.0)
    assert effect.loc["Tuckute2024-ridge", "pct_change"] == pytest.approx(-25.0)
    assert effect.loc["Futrell2018-deltall", "change"] == pytest.approx(2.5)
    assert np.isnan(effect.loc["Futrell2018-deltall", "pct_change"])  # % of a negative ΔLL: undefined
    assert effect.loc[stats.BRAIN, "pct_change"] == pytest.approx(0.0)


def test_kinds_come_from_the_registered_benchmarks(monkeypatch):
    from tuneshift.benchmarks import BENCHMARKS, Benchmark

    # a newly registered neural benchmark joins brain alignment with nothing else to edit; a similarity one
    # (CKA: other units) and an unknown column do not
    novel = Benchmark("Novel2026-linear", "neural", run=lambda *a, **k: None)
    monkeypatch.setitem(BENCHMARKS._entries, "Novel2026-linear", novel)
    table = pd.DataFrame(
        {
            "model": ["b", "t"],
            "instruction_tuned": [False, True],
            "base_model": [None, "b"],
            "Novel2026-linear [pooling=mean]": [0.2, 0.4],
            "Pereira2018-cka": [0.9, 0.1],
            "notes2026-linear": [5.0, 7.0],
            "futrell2018": [0.3, 0.4],  # the paper's tables name the dataset: its benchmarks' kind
        }
    )
    assert stats.benchmark_kind("Pereira2018-cka") == "similarity" and stats.benchmark_kind("notes2026-linear") is None
    assert stats.score_columns(table) == ["Novel2026-linear [pooling=mean]", "futrell2018", "Pereira2018-cka"]
    prepared = stats.prepare(table)
    np.testing.assert_allclose(prepared[stats.BRAIN], [0.2, 0.4])
    np.testing.assert_allclose(prepared[stats.BEHAVIOR], [0.3, 0.4])


def test_capability_effects_are_read_in_each_benchmarks_direction():
    """A study's capability columns get tuning effects: a loss that falls (WikiText2-nwp declares lower is better)
    is ``better`` per pair and over pairs, an accuracy that falls ``worse``; % change stays arithmetic."""
    table = pd.DataFrame(
        {
            "model": ["b1", "t1", "b2", "t2"],
            "instruction_tuned": [False, True, False, True],
            "base_model": [None, "b1", None, "b2"],
            "Pereira2018-linear": [0.2, 0.22, 0.3, 0.33],
            "MMLU [num_fewshot=5]": [0.40, 0.36, 0.50, 0.45],
            "WikiText2-nwp": [4.0, 3.6, 3.0, 2.7],
        }
    )
    effect = stats.effects(stats.prepare(table))
    wiki = effect[effect["benchmark"] == "WikiText2-nwp"]
    np.testing.assert_allclose(wiki["pct_change"], [-10.0, -10.0])
    assert wiki["effect"].tolist() == ["better", "better"] and not wiki["higher_is_better"].any()
    mmlu = effect[effect["benchmark"] == "MMLU [num_fewshot=5]"]
    assert mmlu["effect"].tolist() == ["worse", "worse"] and mmlu["higher_is_better"].all()
    assert effect["benchmark"].unique().tolist() == [
        "Pereira2018-linear", stats.BRAIN, "MMLU [num_fewshot=5]", "WikiText2-nwp"
    ]  # fmt: skip
    summary = stats.summarize_effects(effect).set_index("benchmark")
    assert summary.loc["WikiText2-nwp", "direction"] == "better" and summary.loc["WikiText2-nwp", "mean_pct"] < 0
    assert summary.loc["MMLU [num_fewshot=5]", "direction"] == "worse"
    assert summary.loc["Pereira2018-linear", "direction"] == "better"
    # an effects table written before the direction column: the registry says which way is better
    old = effect.drop(columns=["higher_is_better", "effect"])
    assert stats.summarize_effects(old).set_index("benchmark").loc["WikiText2-nwp", "direction"] == "better"


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p, written out: p · m / rank, then the running minimum from the largest p."""
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    return adjusted


def _pearson_by_hand(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson r and its two-sided p from the t distribution with n − 2 degrees of freedom, written out."""
    from scipy.stats import t

    r = float(np.corrcoef(x, y)[0, 1])
    return r, float(2 * t.sf(abs(r) * np.sqrt((len(x) - 2) / (1 - r**2)), len(x) - 2))


def test_table2_form_with_measured_and_imported_properties(tmp_path):
    """`study correlate TABLE --measured DIR`: MMLU (overall and categories) measured for four of six tuned models
    in a results folder, BBH and NWP loss imported from the CSV; r, p and the BH q over each subset's table as
    written out by hand, and each row says where its property came from."""
    from tuneshift.benchmarks.capability import rows_frame
    from tuneshift.benchmarks.store import ResultStore, Unit

    brain = np.array([0.10, 0.12, 0.15, 0.17, 0.20, 0.22])
    imported_mmlu = np.array([0.30, 0.28, 0.40, 0.45, 0.41, 0.55])
    csv = pd.DataFrame(
        {
            "model": [f"t{i}" for i in range(6)] + ["b0", "b1"],
            "instruction_tuned": [True] * 6 + [False] * 2,
            "base_model": ["b0"] * 3 + ["b1"] * 3 + [None, None],
            "params_b": [0.1, 0.3, 0.7, 1.0, 3.0, 7.0, 0.1, 1.0],
            "brain_avg": [*brain, 0.09, 0.14],
            "mmlu": [*imported_mmlu, None, None],
            "bbh": [0.25, 0.31, 0.27, 0.33, 0.30, 0.36, None, None],
            "nwp_loss": [3.9, 3.7, 3.8, 3.2, 3.3, 2.9, None, None],
        }
    )
    csv.to_csv(tmp_path / "models.csv", index=False)
    measured = {"t1": (0.31, 0.20), "t2": (0.38, 0.33), "t3": (0.47, 0.35), "t5": (0.52, 0.51)}  # overall, stem
    store = ResultStore(tmp_path / "scored")
    for name, (overall, stem) in measured.items():
        rows = rows_frame([("overall", overall, 100), ("stem", stem, 40)]).assign(model=name, benchmark="MMLU")
        unit = Unit(f"k{name}", name, "MMLU [num_fewshot=5]", rows, {}, {"benchmark_id": "MMLU"})
        store.save(unit)
    out = tmp_path / "out"
    args = ["correlate", str(tmp_path / "models.csv"), "--measured", str(tmp_path / "scored"), "--out", str(out)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    form = pd.read_csv(out / "table2.csv").set_index(["subset", "property"])
    mmlu = imported_mmlu.copy()
    mmlu[[1, 2, 3, 5]] = [v[0] for v in measured.values()]  # measured beats imported
    expected = {
        "mmlu_stem": _pearson_by_hand(brain[[1, 2, 3, 5]], np.array([v[1] for v in measured.values()])),
        "mmlu": _pearson_by_hand(brain, mmlu),
        "bbh": _pearson_by_hand(brain, csv["bbh"].to_numpy()[:6]),
        "nwp_loss": _pearson_by_hand(brain, csv["nwp_loss"].to_numpy()[:6]),
        "log10_params": _pearson_by_hand(brain, np.log10(csv["params_b"].to_numpy()[:6] * 1e9)),
    }
    tuned = form.loc["tuned"]
    r, p = (np.array([values[i] for values in expected.values()]) for i in (0, 1))
    np.testing.assert_allclose(tuned.loc[list(expected), "r"], r, rtol=1e-10)
    np.testing.assert_allclose(tuned.loc[list(expected), "p"], p, rtol=1e-8)
    np.testing.assert_allclose(tuned.loc[list(expected), "q"], _bh(p), rtol=1e-8)  # the family: this table's tests
    assert tuned["r"].notna().sum() == 5 and tuned.loc["mmlu_stem", "n"] == 4
    assert tuned.loc["mmlu_stem", "measured_by"] == "MMLU [num_fewshot=5]"
    assert tuned.loc["mmlu", "measured_by"] == "MMLU [num_fewshot=5] (4 of 6 models; others imported)"
    assert tuned.loc["bbh", "measured_by"] == "imported" and tuned.loc["bbh_world_knowledge", "measured_by"] == "none"
    assert not tuned.loc["nwp_loss", "higher_is_better"] and tuned.loc["mmlu", "higher_is_better"]
    # all models: the two base models add to the size row only (the others have no base values); its own family
    every = form.loc["all"]
    assert every.loc["log10_params", "n"] == 8 and every.loc["mmlu", "n"] == 6
    np.testing.assert_allclose(every["q"].dropna(), _bh(every["p"].dropna().to_numpy()), rtol=1e-8)
    markdown = (out / "table2.md").read_text()
    assert "| MMLU | STEM | 4 |" in markdown and "tuned models" in markdown and "all models" in markdown


def test_bootstrap_ci_and_wilcoxon_on_known_values():
    values = np.arange(1.0, 11.0)
    low, high = stats.bootstrap_mean_ci(values, seed=0)
    assert low < 5.5 < high and high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(10), rel=0.15)
    assert stats.wilcoxon_p(values) == pytest.approx(2 / 2**10)  # all ten changes positive: exact p = 2 / 2^10


def test_where_filters_and_refuses_bad_expressions():
    table = stats.prepare(load_zoo().table())
    assert set(stats.apply_where(table, ["family=gpt2"])["family"]) == {"gpt2"}
    assert (stats.apply_where(table, ["params_b>=10"])["params_b"] >= 10).all()
    assert stats.apply_where(table, ["instruction_tuned=true"])["instruction_tuned"].all()
    with pytest.raises(InvalidParameterError, match="COLUMN OP VALUE"):
        stats.apply_where(table, ["family gpt2"])
    with pytest.raises(InvalidParameterError, match="a column of the table"):
        stats.apply_where(table, ["famly!=gpt2"])


def test_correlate_cli_on_a_reference_style_csv(tmp_path):
    csv = tmp_path / "models.csv"
    reference = load_zoo().table()
    reference = reference[reference["source"] == "aw2023"]
    columns = ["model", "family", "base_model", "instruction_tuned", "params_b", "brain_avg", "pereira2018"]
    columns += ["blank2014", "wehbe2014", "futrell2018", "nwp_loss", "mmlu", "bbh"]
    reference[columns].to_csv(csv, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["correlate", str(csv), "--where", "family!=gpt2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    correlations = pd.read_csv(out / "correlations.csv")
    assert list(correlations.columns) == ["alignment", "property", "subset", "n", "r", "p", "q", "method"]
    assert list(pd.read_csv(out / "effects.csv").columns)[:8] == [
        "pair", "base", "tuned", "benchmark", "base_score", "tuned_score", "change", "pct_change",
    ]  # fmt: skip
    summary = json.loads((out / "analysis.json").read_text())
    assert summary["n_pairs"] == 17
    assert (
        (out / "models.csv").exists()
        and (out / "figures" / "effects.png").stat().st_size > 1000
        and (out / "figures" / "effects.svg").exists()
    )


def test_bad_table_is_refused_by_row(tmp_path):
    table = pd.DataFrame({"model": ["a", "b"], "instruction_tuned": ["true", "maybe"]})
    with pytest.raises(InvalidInputError, match="row 3 \\(b\\)"):
        stats.prepare(table, "t.csv")


def test_properties_from_lm_eval_results_and_csv(tmp_path):
    results = {
        "results": {
            "mmlu": {"acc,none": 0.4521, "acc_stderr,none": 0.004, "alias": "mmlu"},
            "mmlu_anatomy": {"acc,none": 0.3, "alias": " - anatomy"},
            "bbh_cot_fewshot_snarks": {"exact_match,get-answer": 0.5, "alias": " - snarks"},
            "bbh_cot_fewshot_navigate": {"exact_match,get-answer": 0.25, "alias": " - navigate"},
        },
        "groups": {"mmlu": {"acc,none": 0.4521, "alias": "mmlu"}},
        "config": {"model": "hf", "model_args": "pretrained=org/my-tuned,dtype=bfloat16"},
    }
    path = tmp_path / "results_2024.json"
    path.write_text(json.dumps(results))
    with pytest.warns(UserWarning, match="unweighted mean of its 2 subtasks"):
        record = read_properties(path)
    assert record.to_dict(orient="records") == [{"model": "org/my-tuned", "mmlu": 0.4521, "bbh": 0.375}]
    table = pd.DataFrame({"model": ["mine"], "instruction_tuned": [True], "mmlu": [np.nan]})
    merged = merge_properties(table, [record], specs={"mine": "org/my-tuned"})
    assert merged.loc[0, "mmlu"] == pytest.approx(0.4521) and merged.loc[0, "bbh"] == pytest.approx(0.375)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": {"hellaswag": {"acc,none": 0.3}}, "model_name": "x"}))
    with pytest.raises(InvalidInputError, match="neither MMLU nor BBH"):
        read_properties(bad)
