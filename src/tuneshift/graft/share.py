"""The share of the base→tuned change a hybrid recovers, and its interval from the benchmark's paired units.

share = (hybrid − base) / (tuned − base) of the benchmark's reported scores (best layer's raw score). Its interval
is a paired percentile bootstrap: the benchmark's units (stories, splits, neuroids, items) are resampled with
replacement — the same draw for base, tuned and hybrid — and each model's score is recomputed from the resampled
units *with the benchmark's own aggregate* (:class:`PairedScore`), so that a draw that keeps every unit once gives
back the reported score exactly. The aggregates:

- neural r(layer, split, neuroid): median over neuroids, mean over splits, mean over datasets (Brain-Score);
  neuroids are resampled within each dataset, or the splits where a dataset has under ``MIN_NEUROIDS`` neuroids;
- similarity / split-paired values: mean over splits, mean over datasets (splits resampled within each dataset);
- Futrell2018-deltall: ΔLL pooled over words, Σ n·ΔLL / Σ n over stories (n: ``n_words``; the held-out fits are the
  benchmark's, not refitted per draw);
- Futrell2018-pearsonr: |r| of the words pooled over the drawn stories (from the stored per-word values);
- items (capability): their mean, or the ``attrs["weight"]``-weighted mean (WikiText's tokens).

A result whose values do not give back its reported score (to float32 precision) gets no paired interval: the
resampled statistic would not be the statistic of the point estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from tuneshift.benchmarks.store import ResultStore, Unit
from tuneshift.metrics.encoding import aggregate
from tuneshift.study.compare import MIN_NEUROIDS, measure_of, weighted_mean

N_BOOT = 1000
CHUNK = 20_000_000  # array elements per bootstrap chunk (~160 MB of float64): neural r of many neuroids × splits
NO_CHANGE_RTOL = 1e-9  # |tuned − base| within this of the scores' size is no change: share NaN, not 1e9


@dataclass(frozen=True)
class PairedScore:
    """A result's score as a statistic of its paired units.

    unit: the units' dim ("story", "split", "neuroid", "item"); labels (n,): their labels; strata (n,): the
    dataset of each unit (a draw stays within its dataset); data: (n, ...) what each unit holds; statistic:
    ``statistic(data, strata, draws)`` with draws (B, n) unit indices (column j drawn within unit j's
    stratum) → (B,) scores. The score itself is the statistic at the draw that keeps every unit once.
    """

    unit: str
    labels: np.ndarray
    strata: np.ndarray
    data: np.ndarray
    statistic: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

    def score(self, draws: np.ndarray | None = None) -> np.ndarray:
        """The score at each draw (B, n) of unit indices, in chunks that keep memory bounded; no draw: the score."""
        draws = np.arange(len(self.labels))[None] if draws is None else draws
        per_draw = max(1, self.data[:1].size * draws.shape[1])
        step = max(1, CHUNK // per_draw)
        return np.concatenate(
            [self.statistic(self.data, self.strata, draws[i : i + step]) for i in range(0, len(draws), step)]
        )

    def pairs_with(self, other: PairedScore) -> bool:
        return (
            self.unit == other.unit
            and np.array_equal(self.labels, other.labels)
            and np.array_equal(self.strata, other.strata)
        )


def stratified_draws(strata: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) bootstrap draws of unit indices, each column resampled within its stratum."""
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(strata)), dtype=np.int64)
    for stratum in dict.fromkeys(strata.tolist()):
        members = np.flatnonzero(strata == stratum)
        draws[:, members] = members[rng.integers(0, len(members), size=(n_boot, len(members)))]
    return draws


def recovered(
    base: Unit, tuned: Unit, hybrid: Unit, store: ResultStore | None, *, n_boot: int = N_BOOT, seed: int = 0
) -> dict:
    """base, tuned, share = (hybrid − base)/(tuned − base) of the best raw scores, and its 95 % interval.

    The share is NaN where tuned − base is no change (|tuned − base| ≤ 1e-9 of the scores' size): a ratio over
    rounding noise would read as a huge share. The interval (``share_ci_low``/``share_ci_high``, ``ci_from``) is
    the paired bootstrap of the module docstring (percentiles of `n_boot` draws, `seed`); it is left out (NaN,
    ``ci_from`` says why) where the change's own paired interval includes 0 — the share is then unbounded — or
    where the units of the three results do not pair. Without paired values it falls back to the hybrid's own
    score interval (``ci_low``/``ci_high`` of its summary) mapped through the share, base and tuned taken as exact.
    """
    b, t, h = (float(unit.summary["best_raw"]) for unit in (base, tuned, hybrid))
    change = t - b
    no_change = abs(change) <= NO_CHANGE_RTOL * max(abs(b), abs(t)) or not np.isfinite(change)
    share = np.nan if no_change else (h - b) / change + 0.0  # + 0.0: the base's 0 / negative change reads 0, not -0
    out = {"base": b, "tuned": t, "share": share}
    if no_change:
        return {**out, **_no_interval("none: tuned − base is no change, the share is undefined")}
    paired = [paired_score(unit, store) for unit in (base, tuned, hybrid)]
    if all(p is not None for p in paired):
        if not (paired[0].pairs_with(paired[1]) and paired[0].pairs_with(paired[2])):
            return {**out, **_no_interval(f"none: the {paired[0].unit}s of base, tuned and hybrid differ")}
        draws = stratified_draws(paired[0].strata, n_boot, seed)
        base_boot, tuned_boot, hybrid_boot = (p.score(draws) for p in paired)
        changes = tuned_boot - base_boot
        change_low, change_high = np.nanpercentile(changes, [2.5, 97.5])
        over = f"{len(draws[0])} paired {paired[0].unit}"
        if change_low <= 0.0 <= change_high:
            noise = f"none: tuned − base within noise (95 % CI [{change_low:.3g}, {change_high:.3g}] over {over})"
            return {**out, **_no_interval(noise)}
        low, high = np.nanpercentile((hybrid_boot - base_boot) / changes, [2.5, 97.5])
        return {**out, "share_ci_low": low, "share_ci_high": high, "ci_from": over}
    ci = hybrid.summary.get("ci_low"), hybrid.summary.get("ci_high")
    if all(x is not None and np.isfinite(x) for x in ci):
        low, high = sorted((x - b) / change for x in ci)
        return {**out, "share_ci_low": low, "share_ci_high": high, "ci_from": "hybrid's score interval"}
    return {**out, **_no_interval("none")}


def _no_interval(why: str) -> dict:
    return {"share_ci_low": np.nan, "share_ci_high": np.nan, "ci_from": why}


def paired_score(unit: Unit, store: ResultStore | None) -> PairedScore | None:
    """The unit's score as a :class:`PairedScore` (from its stored values, else its ``per_story_raw`` summary), or
    None when it has no per-unit values or they do not give back its reported score (``best_raw``)."""
    values = store.values(unit) if store is not None else None
    found = _from_values(values, unit.summary.get("best_layer")) if values is not None else None
    if found is None and unit.summary.get("per_story_raw"):
        per_story = unit.summary["per_story_raw"]
        labels = np.array(list(per_story), dtype=str)
        found = PairedScore("story", labels, np.zeros(len(labels), int), np.array(list(per_story.values()), float),
                            _stratified_mean)  # fmt: skip
    if found is None:
        return None
    reported = float(unit.summary["best_raw"])
    return found if np.isclose(found.score()[0], reported, rtol=1e-5, atol=1e-7) else None


def _from_values(values: xr.Dataset, best_layer: int | None) -> PairedScore | None:
    """The :class:`PairedScore` of stored values (the aggregates of the module docstring), None if unknown."""
    dim = values.attrs.get("paired_unit")
    if not dim or not any(dim in v.dims for v in values.data_vars.values()):
        return None
    measured = values[measure_of(values)]
    if "layer" in measured.dims and best_layer is not None:
        measured = measured.sel(layer=best_layer)
    datasets = measured["dataset"].to_numpy().astype(str) if "dataset" in measured.coords else None
    if dim == "neuroid":
        r = measured.transpose("neuroid", "split").to_numpy().astype(float)  # (T, S)
        strata = _codes(datasets, len(r))
        if min(np.bincount(strata)) >= MIN_NEUROIDS:
            return PairedScore("neuroid", measured["neuroid"].to_numpy().astype(str), strata, r, _neuroid_score)
        # too few neuroids to resample: each dataset's splits, median over its neuroids, resampled
        per_split = np.stack([np.nanmedian(r[strata == code], axis=0) for code in np.unique(strata)])  # (D, S)
        labels = np.array([f"{code}:{split}" for code in range(len(per_split)) for split in measured["split"].values])
        split_strata = np.repeat(np.arange(len(per_split)), per_split.shape[1])
        return PairedScore("split", labels, split_strata, per_split.reshape(-1), _stratified_mean)
    labels = measured[dim].to_numpy().astype(str)
    if (
        dim == "story"
        and {"surprisal", "mean_rt", "used", "word_story"} <= set(values.variables)
        and (values.attrs.get("measure") == "abs_r")
    ):
        return PairedScore("story", labels, np.zeros(len(labels), int), _story_moments(values, labels), _pooled_abs_r)
    flat = measured.mean([d for d in measured.dims if d != dim]).to_numpy().astype(float)
    weight = values.attrs.get("weight") or ("n_words" if "n_words" in values else None)
    if weight and weight in values and values[weight].dims == (dim,):
        data = np.stack([flat, values[weight].to_numpy().astype(float)], axis=1)
        return PairedScore(dim, labels, np.zeros(len(labels), int), data, _weighted_mean)
    return PairedScore(dim, labels, _codes(datasets, len(labels)), flat, _stratified_mean)


def _codes(datasets: np.ndarray | None, n: int) -> np.ndarray:
    if datasets is None:
        return np.zeros(n, dtype=int)
    return np.unique(datasets, return_inverse=True)[1].reshape(-1)


def _stratified_mean(data: np.ndarray, strata: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Mean over each stratum's drawn units, mean over strata (a combined benchmark averages its datasets)."""
    return np.mean([data[draws[:, strata == c]].mean(axis=1) for c in np.unique(strata)], axis=0)


def _weighted_mean(data: np.ndarray, strata: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Σ w·v / Σ w over the drawn units; data (n, 2): value, weight."""
    return weighted_mean(data[:, 0], data[:, 1], draws)


def _neuroid_score(data: np.ndarray, strata: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Brain-Score's aggregate of (T, S) r over the drawn neuroids: median over neuroids, mean over splits, mean
    over datasets."""
    per_dataset = [aggregate(data[draws[:, strata == c]].swapaxes(-1, -2)) for c in np.unique(strata)]  # (B, S, T)
    return np.mean(per_dataset, axis=0)


def _story_moments(values: xr.Dataset, stories: np.ndarray) -> np.ndarray:
    """(stories, 6) sums over each story's scored words of (1, x, y, x², y², xy), x surprisal, y mean RT."""
    used = values["used"].to_numpy().astype(bool)
    x, y = values["surprisal"].to_numpy()[used], values["mean_rt"].to_numpy()[used]
    story = values["word_story"].to_numpy().astype(str)[used]
    moments = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)
    return np.stack([moments[story == s].sum(axis=0) for s in stories])


def _pooled_abs_r(data: np.ndarray, strata: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """|Pearson r| of the words of the drawn stories pooled, from their moments (data: :func:`_story_moments`)."""
    n, sx, sy, sxx, syy, sxy = np.moveaxis(data[draws].sum(axis=1), -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs((n * sxy - sx * sy) / np.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy)))
