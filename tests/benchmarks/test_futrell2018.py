"""Futrell2018 scoring: Brain-Score's Pearson protocol, the ΔLL measure, and precomputed token log-probabilities.

Synthetic reading times are built on the real corpus (its word lengths, frequencies, stories and sentences) from
a known generative model, so the expected scores are known in closed form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tuneshift.benchmarks import futrell2018 as ft
from tuneshift.data import naturalstories as ns
from tuneshift.data.naturalstories import load_naturalstories, load_token_logprobs
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.metrics import reading_times as rt

NOISE_SD = 30.0  # ms


@pytest.fixture(scope="module")
def words() -> pd.DataFrame:
    return load_naturalstories()


def _synthetic(words: pd.DataFrame, surprisal_slope: float, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """RT = 250 + 12·length + slope·surprisal + N(0, 30²) ms; surprisal independent of length (gamma, mean 6)."""
    rng = np.random.default_rng(seed)
    surprisal = rng.gamma(4.0, 1.5, len(words))
    rt = 250 + 12 * words["length"] + surprisal_slope * surprisal + rng.normal(0, NOISE_SD, len(words))
    return words.assign(mean_rt=rt), surprisal


def test_surprisal_effect_is_recovered_at_its_closed_form_size(words):
    data, surprisal = _synthetic(words, surprisal_slope=8.0)
    frame = rt.scored_words(data, surprisal)
    deltall = rt.deltall_scores(frame, n_boot=200).set_index("story")
    # Gaussian ΔLL = ½ ln(σ²_base / σ²_full), σ²_base = σ² + slope²·Var(s), Var(gamma(4, 1.5)) = 9.
    expected = 0.5 * np.log(1 + 8.0**2 * 9.0 / NOISE_SD**2)
    assert deltall.loc["all", "raw"] == pytest.approx(expected, rel=0.08)
    assert deltall.loc["all", "ci_low"] > 0.5 * expected
    assert (deltall.drop(index="all")["raw"] > 0).all()
    pearson = rt.pearsonr_scores(frame, n_boot=200).set_index("story")
    used = frame[frame["use_r"]]
    assert pearson.loc["all", "raw"] == pytest.approx(stats.pearsonr(used["surprisal"], used["mean_rt"])[0])


def test_pure_length_effect_scores_zero_on_deltall_but_not_on_pearson(words):
    """The confound: surprisal that only tracks length correlates with RT, yet adds no held-out likelihood."""
    data, _ = _synthetic(words, surprisal_slope=0.0, seed=1)
    length_only = 1.5 * words["length"].to_numpy() + np.random.default_rng(2).normal(0, 1.0, len(words))
    frame = rt.scored_words(data, length_only)
    assert rt.pearsonr_scores(frame, n_boot=50)["raw"].iat[0] > 0.5
    deltall = rt.deltall_scores(frame, n_boot=200).iloc[0]
    # Three useless slopes cost ~3/(2n) nats per word held out; anything real would be > 0.01.
    assert -0.002 < deltall["raw"] <= 0.0005
    assert deltall["ci_low"] < 0 < deltall["ci_high"] + 0.001


def test_vectorized_loso_equals_per_fold_lstsq(words):
    data, surprisal = _synthetic(words, surprisal_slope=4.0, seed=3)
    frame = rt.scored_words(data, surprisal)
    used = frame[frame["use_ll"]]
    gains = []
    for held_out in range(1, 11):
        test, train = used["story"] == held_out, used["story"] != held_out
        ll = []
        for columns in (rt._columns(full=True), rt._columns(full=False)):
            z = np.column_stack([np.ones(len(used)), used[columns].to_numpy()])
            y = used["mean_rt"].to_numpy()
            beta = np.linalg.lstsq(z[train], y[train], rcond=None)[0]
            variance = np.mean((y[train] - z[train] @ beta) ** 2)
            ll.append(stats.norm.logpdf(y[test], z[test] @ beta, np.sqrt(variance)).sum())
        gains.append((ll[0] - ll[1], test.sum()))
    scores = rt.deltall_scores(frame, n_boot=10).set_index("story")
    for story, (gain, n) in enumerate(gains, start=1):
        assert scores.loc[story, "raw"] == pytest.approx(gain / n, rel=1e-6, abs=1e-9)
    total = sum(g for g, _ in gains) / sum(n for _, n in gains)
    assert scores.loc["all", "raw"] == pytest.approx(total, rel=1e-6)


def test_pearson_follows_brainscore(words):
    frame = rt.scored_words(words, words["mean_rt"].to_numpy(), sentences="brainscore")
    assert rt.pearsonr_scores(frame, n_boot=10)["raw"].iat[0] == pytest.approx(1.0)  # Brain-Score's test_exact
    assert frame["use_r"].sum() == 10_256 - 481  # every sentence's first word dropped
    negative = rt.scored_words(words, -words["mean_rt"].to_numpy())
    row = rt.pearsonr_scores(negative, n_boot=10).iloc[0]
    assert row["value"] == pytest.approx(-1.0) and row["raw"] == pytest.approx(1.0)  # reported as |r|


def test_bad_parameters_are_named(words):
    with pytest.raises(InvalidParameterError, match="'surprisal'"):
        rt.scored_words(words, np.zeros(5))
    with pytest.raises(InvalidParameterError, match="'context'"):
        ft.passages(words, "document")


def test_passages_by_story_and_as_one_stream(words):
    by_story = ft.passages(words, "story")
    assert len(by_story) == 10 and sum(map(len, by_story)) == 10_256 and by_story[0][0] == "If"
    assert len(ft.passages(words, "stream")) == 1


def _tokens(words: pd.DataFrame, stories=(1, 2)) -> pd.DataFrame:
    """Split every word in two tokens (" " + first half, second half) with logprob −1 nat each."""
    rows = []
    for story in stories:
        offset = 0
        for word in words.loc[words["story"] == story, "word"]:
            half = (len(word) + 1) // 2
            lead = " " if offset else ""
            rows += [(story, lead + word[:half], -1.0, offset - len(lead)), (story, word[half:], -1.0, offset + half)]
            offset += len(word) + 1
    frame = pd.DataFrame(rows, columns=["story", "token", "logprob", "offset"])
    return frame[frame["token"] != ""]


def test_token_logprobs_sum_to_word_surprisal(words):
    tokens = _tokens(words)
    bits = ns.surprisal_from_token_logprobs(tokens, words)
    n_tokens = np.where(words["word"].str.len() > 1, 2, 1)
    in_story = words["story"].isin([1, 2]).to_numpy()
    np.testing.assert_allclose(bits[in_story], n_tokens[in_story] / np.log(2))
    assert np.isnan(bits[~in_story]).all()
    np.testing.assert_allclose(ns.surprisal_from_token_logprobs(tokens, words, logprob_base=2)[:3], [2, 2, 2])


def test_token_across_a_word_boundary_names_the_row(words):
    tokens = pd.DataFrame({"story": [1, 1], "token": ["If", " you were"], "logprob": [np.nan, -1.0], "offset": [0, 2]})
    with pytest.raises(InvalidInputError, match="row 1: token ' you were' spans two words"):
        ns.surprisal_from_token_logprobs(tokens, words, label="probs.csv")
    with pytest.raises(InvalidInputError, match=r"row 0: .*outside story 1"):
        ns.surprisal_from_token_logprobs(tokens.assign(offset=[99_999, 2]), words)
    with pytest.raises(InvalidInputError, match="missing column"):
        ns.surprisal_from_token_logprobs(tokens.drop(columns="offset"), words)


def test_gpt3_scores(words):
    with pytest.warns(UserWarning, match="1 token"):  # "peeked" (GPT-3 text) vs "peaked" (stimuli), story 2
        table = ft.score_token_logprobs(load_token_logprobs(), model="gpt3-davinci", n_boot=100)
    pooled = table[table["story"] == "all"].set_index("benchmark")
    assert pooled.loc["Futrell2018-pearsonr", "raw"] == pytest.approx(0.2070, abs=5e-4)
    assert pooled.loc["Futrell2018-deltall", "raw"] == pytest.approx(0.00737, abs=2e-4)
    assert set(table["story"]) == {"all", *range(1, 11)}


class _FakeModel:
    """Stands in for a LoadedModel: its 'readout' returns 2 bits per character (punctuation included), the
    confound of a random-weight model whose surprisal counts tokens."""

    name, layers = "fake", [0, 1, 2, 3]


def test_registered_benchmarks_return_one_row_at_the_output_layer(words, monkeypatch):
    from tuneshift.benchmarks._base import BENCHMARKS, summarize

    monkeypatch.setattr(ft, "model_surprisal", lambda model, words, **_: 2.0 * words["word"].str.len().to_numpy())
    results = {
        name: BENCHMARKS.get(name).run(_FakeModel(), ft.FutrellOptions(), progress=False)
        for name in ("Futrell2018-pearsonr", "Futrell2018-deltall")
    }
    pearson = results["Futrell2018-pearsonr"].scores
    assert len(pearson) == 1 and pearson["layer"].iat[0] == 3 and pearson["ceiling"].iat[0] == 0.858
    assert pearson["normalized"].iat[0] == pytest.approx(pearson["raw"].iat[0] / 0.858)
    assert pearson["raw"].iat[0] > 0.3  # length alone correlates with RT ...
    deltall = results["Futrell2018-deltall"]
    assert abs(deltall.scores["raw"].iat[0]) < 0.001  # ... but adds nothing over length + punctuation
    assert set(deltall.details["per_story_raw"]) == {str(s) for s in range(1, 11)}
    assert summarize(deltall)["best_layer"] is None  # the output surprisal: no layer was chosen
    # the values behind the scores: the measure per story (the paired unit) and every word's surprisal and RT
    values = results["Futrell2018-pearsonr"].values
    assert values.attrs["paired_unit"] == "story" and values.attrs["measure"] == "abs_r"
    per_story = results["Futrell2018-pearsonr"].details["per_story_raw"]
    np.testing.assert_allclose(values["abs_r"].sel(story=list(per_story)), list(per_story.values()))
    np.testing.assert_allclose(values["abs_r"], np.abs(values["r"]))
    assert int(values["n_words"].sum()) == int(values["used"].sum()) == pearson["n"].iat[0]
    np.testing.assert_allclose(values["surprisal"], 2.0 * words["word"].str.len())
    assert (
        deltall.values.attrs["measure"] == "delta_ll"
        and int(deltall.values["used"].sum()) == deltall.scores["n"].iat[0]
    )
    # ΔLL pools words: its score is the n_words-weighted mean of the stories' ΔLL, and the values say so
    assert deltall.values.attrs["weight"] == "n_words" and "weight" not in values.attrs
    weighted = (deltall.values["delta_ll"] * deltall.values["n_words"]).sum() / deltall.values["n_words"].sum()
    assert float(weighted) == pytest.approx(deltall.scores["raw"].iat[0], abs=1e-12)


PEARSON_SMOLLM2, DELTALL_SMOLLM2 = 0.3130, 0.0190  # benchmarks/futrell2018.py, context="story"


@pytest.mark.slow
def test_smollm2_scores_on_all_stories(smollm2):
    """The real model, per-story context; pinned to benchmarks/README.md. Through the activation cache: the README's
    first command (`tuneshift score`, run before the tests in CI with the same TUNESHIFT_CACHE) stores this very
    surprisal readout, so this takes seconds there (about 1.5 minutes on 2 CPU cores when computed); the readout's
    correctness is tested against the per-prefix reference in tests/models/test_readout.py."""
    table = ft.futrell2018(smollm2, progress=False, n_boot=50)
    pooled = table[table["story"] == "all"].set_index("benchmark")["raw"]
    assert pooled["Futrell2018-pearsonr"] == pytest.approx(PEARSON_SMOLLM2, abs=0.005)
    assert pooled["Futrell2018-deltall"] == pytest.approx(DELTALL_SMOLLM2, abs=0.002)


def test_score_cli_scores_precomputed_logprobs(tmp_path):
    """`tuneshift score --surprisal FILE` writes the GPT-3 file's numbers (pinned above) into the score tables;
    a neural benchmark is refused, and a file without the offset column is named in the error."""
    import gzip
    import json

    from typer.testing import CliRunner

    from tuneshift.cli.main import app
    from tuneshift.data.naturalstories import bundled_path

    shipped = bundled_path("all_stories_gpt3.csv")
    davinci = tmp_path / "davinci.csv"
    davinci.write_bytes(gzip.decompress(shipped.read_bytes()))
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["score", "--surprisal", str(davinci), "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out / "scores.csv").set_index("benchmark")
    assert set(scores["model"]) == {"davinci"}
    assert scores.loc["Futrell2018-pearsonr", "raw"] == pytest.approx(0.2070, abs=5e-4)
    assert scores.loc["Futrell2018-deltall", "raw"] == pytest.approx(0.00737, abs=2e-4)
    summary = json.loads((out / "summary.json").read_text())["davinci"]
    assert summary["Futrell2018-pearsonr"]["context"] == "precomputed"

    refused = CliRunner().invoke(app, ["score", "--surprisal", str(davinci), "-b", "Tuckute2024-linear"])
    assert isinstance(refused.exception, InvalidParameterError)  # the one pre-load check, before any file is read
    assert "reading-time benchmarks only" in str(refused.exception)
    broken = tmp_path / "broken.csv"
    pd.read_csv(shipped).drop(columns="offset").to_csv(broken, index=False)
    failed = CliRunner().invoke(app, ["score", "--surprisal", str(broken), "--out", str(out)])
    assert isinstance(failed.exception, InvalidInputError) and "broken.csv: missing column(s) ['offset']" in str(
        failed.exception
    )
