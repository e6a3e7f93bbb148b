"""The share recovered and its interval: the point estimate is the share of the reported scores, the interval the
paired bootstrap of that same statistic (a plain reference bootstrap here, same seed), no share over no change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tuneshift.benchmarks.store import Unit
from tuneshift.graft.share import paired_score, recovered


def _unit(best_raw: float, key: str = "k", **summary) -> Unit:
    return Unit(key, "m", "b", pd.DataFrame(), {"best_raw": best_raw, **summary})


class Store:
    """Stored values per unit key, as ResultStore.values gives them."""

    def __init__(self, **values: xr.Dataset):
        self.stored = values

    def values(self, unit: Unit) -> xr.Dataset | None:
        return self.stored.get(unit.key)


N_WORDS = np.array([900.0, 1100.0, 300.0, 2500.0, 700.0, 1500.0, 400.0, 1000.0])


def _stories(delta_ll: np.ndarray) -> tuple[xr.Dataset, float]:
    """Futrell2018-deltall's per-story values (decoy variables first, as a stored file lists them) and its score:
    ΔLL pooled over words, the word-weighted mean of the stories'."""
    values = xr.Dataset(
        {
            "ci_high": ("story", delta_ll + 0.01),
            "ci_low": ("story", delta_ll - 0.01),
            "delta_ll": ("story", delta_ll),
            "n_words": ("story", N_WORDS),
        },
        coords={"story": [str(i + 1) for i in range(len(delta_ll))]},
        attrs={"paired_unit": "story", "measure": "delta_ll"},
    )
    return values, float((delta_ll * N_WORDS).sum() / N_WORDS.sum())


def _futrell_triple(seed: int = 3) -> tuple[list[Unit], Store, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 0.002, len(N_WORDS))
    tuned = base + 0.02 + rng.normal(0.0, 0.004, len(N_WORDS))
    hybrid = base + 0.2 * (tuned - base) + rng.normal(0.0, 0.002, len(N_WORDS))
    stacked = np.stack([base, tuned, hybrid])
    made = [_stories(v) for v in stacked]
    units = [_unit(score, key=name) for (_, score), name in zip(made, ("b", "t", "h"), strict=True)]
    return units, Store(b=made[0][0], t=made[1][0], h=made[2][0]), stacked


def test_share_interval_is_the_paired_bootstrap_of_the_reported_score():
    (base, tuned, hybrid), store, stacked = _futrell_triple()
    result = recovered(base, tuned, hybrid, store, n_boot=2000, seed=7)
    b, t, h = (unit.summary["best_raw"] for unit in (base, tuned, hybrid))
    assert result["share"] == (h - b) / (t - b)  # the share of the reported scores, exactly
    # reference: the same draws of stories for all three models, each scored as the benchmark scores (pooled words)
    draws = np.random.default_rng(7).integers(0, len(N_WORDS), size=(2000, len(N_WORDS)))
    pooled = (stacked * N_WORDS)[:, draws].sum(axis=2) / N_WORDS[draws].sum(axis=1)  # (3, 2000)
    reference = np.percentile((pooled[2] - pooled[0]) / (pooled[1] - pooled[0]), [2.5, 97.5])
    assert [result["share_ci_low"], result["share_ci_high"]] == pytest.approx(reference, rel=1e-12)
    assert result["share_ci_low"] < result["share"] < result["share_ci_high"]
    assert result["ci_from"] == "8 paired story"
    # the unweighted mean of the stories is not the benchmark's score: its share differs from the reported one
    unweighted = (stacked[2].mean() - stacked[0].mean()) / (stacked[1].mean() - stacked[0].mean())
    assert abs(unweighted - result["share"]) > 1e-3


def test_no_change_is_no_share_and_a_change_within_noise_no_interval():
    (base, _, hybrid), store, stacked = _futrell_triple()
    same = _unit(base.summary["best_raw"] * (1 + 1e-12), key="b")  # tuned − base: rounding noise
    undefined = recovered(base, same, hybrid, store)
    assert np.isnan(undefined["share"]) and np.isnan(undefined["share_ci_low"]) and np.isnan(undefined["share_ci_high"])
    assert "undefined" in undefined["ci_from"]
    # a tuned model whose stories move ±0.01 around the base: a small pooled change, its own interval spans 0
    noisy, score = _stories(stacked[0] + 0.01 * np.array([1, -1, 1, -1, 1, -1, 1, -1]))
    store.stored["n"] = noisy
    result = recovered(base, _unit(score, key="n"), hybrid, store)
    assert np.isfinite(result["share"]) and np.isnan(result["share_ci_low"]) and np.isnan(result["share_ci_high"])
    assert result["ci_from"].startswith("none: tuned − base within noise")


def test_shares_from_a_per_story_summary_and_the_hybrid_score_interval():
    base = _unit(0.1, per_story_raw={"1": 0.0, "2": 0.2, "3": 0.1})
    tuned = _unit(0.5, per_story_raw={"1": 0.6, "2": 0.4, "3": 0.5})
    half = _unit(0.3, per_story_raw={"1": 0.3, "2": 0.3, "3": 0.3})  # exactly half way in every story
    result = recovered(base, tuned, half, store=None)
    assert result["share"] == pytest.approx(0.5) and result["ci_from"] == "3 paired story"
    assert result["share_ci_low"] == pytest.approx(0.5) and result["share_ci_high"] == pytest.approx(0.5)
    # per-story values whose mean is not the reported score (a pooled score): no paired interval from them
    assert paired_score(_unit(0.25, per_story_raw={"1": 0.3, "2": 0.3}), None) is None
    scored = _unit(0.3, ci_low=0.2, ci_high=0.35)  # no per-story values: the hybrid's own interval, mapped
    fallback = recovered(_unit(0.1), _unit(0.5), scored, store=None)
    assert (fallback["share_ci_low"], fallback["share_ci_high"]) == pytest.approx((0.25, 0.625))
    assert fallback["ci_from"] == "hybrid's score interval"


@pytest.mark.parametrize("n_neuroids, unit", [(12, "neuroid"), (3, "split")])
def test_neural_values_score_as_brain_score_at_the_best_layer(n_neuroids, unit):
    rng = np.random.default_rng(0)
    r = rng.normal(0.2, 0.1, size=(2, 4, 2 * n_neuroids))  # (layer, split, neuroid), two datasets side by side
    datasets = np.repeat(["A", "B"], n_neuroids)
    values = xr.Dataset(
        {"r": (("layer", "split", "neuroid"), r)},
        coords={
            "layer": [4, 7],
            "split": np.arange(4),
            "neuroid": np.arange(2 * n_neuroids).astype(str),
            "dataset": ("neuroid", datasets),
        },
        attrs={"paired_unit": "neuroid", "measure": "r"},
    )
    # median over neuroids, mean over splits, per dataset; the benchmark averages its datasets
    score = np.mean([np.median(r[1][:, datasets == d], axis=1).mean() for d in ("A", "B")])
    paired = paired_score(_unit(score, best_layer=7), Store(k=values))
    assert paired.unit == unit and paired.score()[0] == pytest.approx(score, rel=1e-12)
    assert len(paired.labels) == (2 * n_neuroids if unit == "neuroid" else 2 * 4)
    assert paired_score(_unit(score + 0.01, best_layer=7), Store(k=values)) is None  # not the reported score


def test_pearson_r_is_recomputed_from_the_pooled_words_of_the_stories():
    rng = np.random.default_rng(1)
    story = np.repeat(["1", "2", "3"], [40, 25, 35])
    surprisal = rng.gamma(2.0, 3.0, len(story))
    rt = 300 + 5 * surprisal + rng.normal(0, 30, len(story))
    used = rng.random(len(story)) > 0.2
    values = xr.Dataset(
        {
            "abs_r": ("story", [0.1, 0.2, 0.3]),
            "surprisal": ("word", surprisal),
            "mean_rt": ("word", rt),
            "used": ("word", used),
        },
        coords={"story": ["1", "2", "3"], "word_story": ("word", story)},
        attrs={"paired_unit": "story", "measure": "abs_r"},
    )
    pooled = abs(np.corrcoef(surprisal[used], rt[used])[0, 1])
    paired = paired_score(_unit(pooled), Store(k=values))
    assert paired.unit == "story" and paired.score()[0] == pytest.approx(pooled, rel=1e-9)
    twice_first = paired.score(np.array([[0, 0, 2]]))[0]  # story 1 drawn twice, story 2 left out
    keep = used & (story != "2")
    weights = np.where(story[keep] == "1", 2, 1)
    expected = abs(np.cov(surprisal[keep], rt[keep], fweights=weights, bias=True)[0, 1]) / np.sqrt(
        np.cov(surprisal[keep], fweights=weights, bias=True) * np.cov(rt[keep], fweights=weights, bias=True)
    )
    assert twice_first == pytest.approx(expected, rel=1e-9)
