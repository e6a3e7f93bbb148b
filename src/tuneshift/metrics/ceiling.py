"""Noise ceilings: the published values (``CEILINGS``), the one ceiling normalization, and Brain-Score's
``ExtrapolationCeiling`` (brainscore_language/benchmarks/blank2014/ceiling.py) computed from per-subject data.

Extrapolation ceiling, as Brain-Score does it:
1. For every subset size k = 2..S and every combination of k subjects, hold out each subject of the combination
   and predict its neuroids from the other k − 1 subjects' neuroids with the benchmark's own metric
   (cross-validated; one r per split and neuroid).
2. Per neuroid, for each of ``n_bootstraps`` bootstraps (RandomState(0), restarted for every neuroid): for each k,
   resample with replacement the (combination, split) r values of that k and average them; fit
   v(k) = v0·(1 − exp(−k/τ)) with v0 ∈ [0, 1] (scipy ``curve_fit`` in Brain-Score).
3. Neuroid ceiling = median over bootstraps of v0; ceiling = median over neuroids.

Here step 1 is one batched cross-validation per (held-out subject, k): the pools' Grams are sums of per-subject
Grams and are stacked like layers. Step 2 draws the same bootstrap indices for all neuroids at once (they have the
same number of values per k) and fits the curve by profiling: for fixed τ the best v0 is the clipped linear
least-squares coefficient, so only τ is searched (a log grid, then golden-section refinement), for all
(bootstrap, neuroid) curves at once. Order of the flattened (combination, split) values: combination-major,
combinations in ``itertools.combinations(sorted(subjects))`` order — the resampling scheme is Brain-Score's,
bit-identical draws are not claimed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuneshift._registry import Registry
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.metrics._backend import get_backend
from tuneshift.metrics.encoding import cross_validated_r
from tuneshift.metrics.regression import LayerDesign, gram, make_solver
from tuneshift.metrics.splits import Split, make_splits

#: Published noise ceilings (raw-score units: Pearson r), the one home of these numbers: the data modules and the
#: benchmarks look their ceiling up here. Pereira2018 and Blank2014: Brain-Score's ExtrapolationCeiling of
#: linear_pearsonr (brainscore_language/benchmarks/<name>); Futrell2018: Brain-Score's Spearman-Brown corrected
#: split-half consistency of reading times; Wehbe2014: Aw et al. 2023.
CEILINGS: Registry[float] = Registry("ceiling")
for _name, _value in {
    "Pereira2018.243sentences": 0.35378928,
    "Pereira2018.384sentences": 0.36343748,
    "Blank2014": 0.21026591,
    "Wehbe2014": 0.104,
    "Futrell2018": 0.858,
}.items():
    CEILINGS.add(_name, _value)


def combined_ceiling(ceilings: list[float | None]) -> float | None:
    """Ceiling of a benchmark that averages datasets (Pereira2018-linear): the mean, None when one has none."""
    return float(np.mean(ceilings)) if all(c is not None for c in ceilings) else None


def ceiling_normalize(raw: float | np.ndarray, ceiling: float | str | None) -> float | np.ndarray:
    """raw / ceiling clipped to [0, 1] (Brain-Score's ``ceiling_normalize``); keep ``raw`` alongside it.

    ``ceiling``: a positive number, a name in ``CEILINGS``, or None / NaN / ±inf for a benchmark without a ceiling
    (every value NaN). Returns a float for a scalar ``raw``, else an array of its shape.
    """
    if isinstance(ceiling, str):
        ceiling = CEILINGS.get(ceiling)
    if ceiling is None or not np.isfinite(ceiling):
        normalized = np.full(np.shape(raw), np.nan)
    elif ceiling > 0:
        normalized = np.clip(np.asarray(raw, dtype=float) / float(ceiling), 0.0, 1.0)
    else:
        raise InvalidParameterError("ceiling", "a positive number, a name in CEILINGS or None", ceiling)
    return float(normalized) if normalized.ndim == 0 else normalized


def saturating(n: np.ndarray, v0: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """v0·(1 − exp(−n/τ)): Brain-Score's ceiling growth curve in the number of subjects n."""
    return v0 * (1.0 - np.exp(-n / tau))


def fit_saturating(
    n: np.ndarray, y: np.ndarray, n_grid: int = 400, n_refine: int = 60
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares v0 ∈ [0, 1], τ ∈ ℝ \\ {0} of ``saturating`` for many curves y (..., len(n)) at once.

    For fixed τ the optimum is v0 = clip(Σ y·g / Σ g², 0, 1) with g = 1 − exp(−n/τ), so the residual is
    searched over τ only: a grid of ±10^[-2, 4] and golden-section refinement around the best grid point.
    """
    n = np.asarray(n, dtype=float)
    y = np.asarray(y, dtype=float)

    def profile(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = 1.0 - np.exp(np.clip(-n / tau[..., None], -300, 300))
        v0 = np.clip((y * g).sum(-1) / (g * g).sum(-1), 0.0, 1.0)
        return v0, ((y - v0[..., None] * g) ** 2).sum(-1)

    log_grid = np.linspace(-2, 4, n_grid)
    grid = np.concatenate([-(10.0 ** log_grid[::-1]), 10.0**log_grid])  # sign · log-spaced magnitude
    sse = np.stack([profile(np.full(y.shape[:-1], t))[1] for t in grid], axis=-1)
    best = sse.argmin(-1)
    # refine in u = sign·log10|τ| between the grid neighbours (same sign side)
    u_grid = np.concatenate([-log_grid[::-1] - 10, log_grid + 10])  # monotone coordinate, sides apart

    def to_tau(u: np.ndarray) -> np.ndarray:
        return np.where(u < 0, -(10.0 ** (-u - 10)), 10.0 ** (u - 10))

    lo = u_grid[np.maximum(best - 1, 0)]
    hi = u_grid[np.minimum(best + 1, len(grid) - 1)]
    same_side = np.sign(lo) == np.sign(hi)
    lo = np.where(same_side, lo, u_grid[best])
    hi = np.where(same_side, hi, u_grid[best])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(n_refine):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        left_better = profile(to_tau(a))[1] <= profile(to_tau(b))[1]
        hi, lo = np.where(left_better, b, hi), np.where(left_better, lo, a)
    tau = to_tau((lo + hi) / 2)
    v0, _ = profile(tau)
    return v0, tau


@dataclass
class CeilingResult:
    ceiling: float  # median over neuroids of per_neuroid
    per_neuroid: np.ndarray  # (T,): median over bootstraps of v0
    bootstrap_v0: np.ndarray  # (B, T)
    bootstrap_tau: np.ndarray  # (B, T)
    subject_counts: np.ndarray  # (K,) subset sizes 2..S
    scores: dict[int, np.ndarray]  # k → (combinations containing the neuroid's subject × splits, T) r values


def holdout_scores(
    targets: Any,
    subjects: Sequence,
    regression: str = "linear",
    splits: Sequence[Split] | None = None,
    backend: str = "numpy",
    **solver_kwargs: Any,
) -> dict[int, np.ndarray]:
    """Step 1: for k = 2..S, r of every neuroid predicted from the other k − 1 subjects of every k-combination
    containing its subject, on every split → {k: (C(S−1, k−1) · n_splits, T)}."""
    b = get_backend(backend)
    y = np.asarray(targets, dtype=float)
    subjects = np.asarray(subjects)
    if subjects.shape != (y.shape[1],):
        raise InvalidInputError(f"subjects must give one label per neuroid ({y.shape[1]}); got {subjects.shape}.")
    names = sorted(set(subjects.tolist()))
    if len(names) < 2:
        raise InvalidInputError(f"the extrapolation ceiling needs at least 2 subjects; got {names}.")
    splits = list(splits) if splits is not None else make_splits("shuffle", y.shape[0])
    solver = make_solver(regression, **solver_kwargs)
    subject_grams = {s: gram(y[:, subjects == s], b) for s in names}
    scores: dict[int, np.ndarray] = {}
    for k in range(2, len(names) + 1):
        block = np.full((0, y.shape[1]), np.nan)
        for held_out in names:
            others = [s for s in names if s != held_out]
            pools = list(itertools.combinations(others, k - 1))
            grams = b.stack([sum(subject_grams[s] for s in pool) for pool in pools])  # (C, n, n)
            design = LayerDesign.from_grams(grams, b)
            r = cross_validated_r(design, b.asarray(y[:, subjects == held_out]), splits, solver, b).r
            values = r.reshape(-1, r.shape[-1])  # (C · S, T_subject), combination-major
            if block.shape[0] == 0:
                block = np.full((values.shape[0], y.shape[1]), np.nan)
            block[:, subjects == held_out] = values
        scores[k] = block
    return scores


def extrapolation_ceiling(
    targets: Any,
    subjects: Sequence,
    regression: str = "linear",
    cv: str | Sequence[Split] = "shuffle",
    groups: Sequence | None = None,
    n_bootstraps: int = 100,
    backend: str = "numpy",
    **split_kwargs: Any,
) -> CeilingResult:
    """Brain-Score's ExtrapolationCeiling from targets (stimuli × neuroids) with a subject label per neuroid,
    scored with the same regression and splits as the benchmark (defaults: ``linear_pearsonr``)."""
    y = np.asarray(targets, dtype=float)
    splits = make_splits(cv, y.shape[0], None if groups is None else np.asarray(groups), **split_kwargs)
    scores = holdout_scores(y, subjects, regression, splits, backend)
    counts = np.array(sorted(scores))
    rng = np.random.RandomState(0)
    draws = []  # same index draws for every neuroid: Brain-Score reseeds RandomState(0) per neuroid
    for _ in range(n_bootstraps):
        draws.append([rng.choice(len(scores[k]), size=len(scores[k]), replace=True) for k in counts])
    boot = np.stack(
        [np.stack([scores[k][idx].mean(0) for k, idx in zip(counts, draw, strict=True)], -1) for draw in draws]
    )  # (B, T, K)
    v0, tau = fit_saturating(counts, boot)
    per_neuroid = np.nanmedian(v0, axis=0)
    return CeilingResult(float(np.nanmedian(per_neuroid)), per_neuroid, v0, tau, counts, scores)
