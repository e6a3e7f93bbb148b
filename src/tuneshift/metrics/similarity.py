"""Representational similarity without regression: linear CKA and RSA, as Brain-Score Language computes them.

Both are "test-only" cross-validated in Brain-Score (brainscore_language/metrics/{cka,rdm}/metric.py):
``ShuffleSplit(n_splits=10, train_size=None, test_size=0.9, random_state=1)``; the metric is computed on each
90 % subset of stimuli and averaged over the 10 subsets (nothing is fit, so the 10 % "train" part is unused).

* CKA (Kornblith et al. 2019), linear: ⟨HK_XH, HK_YH⟩_F / (‖HK_XH‖_F ‖HK_YH‖_F) with K = X Xᵀ, H the
  centring matrix — computed from per-layer Grams, so every layer costs one n × n matrix.
* RSA (Kriegeskorte et al. 2008): RDM = 1 − Pearson r between stimuli (rows) across features/neuroids;
  Spearman ρ between the upper triangles (k = 1, ties averaged) of the model and brain RDMs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from tuneshift.metrics.splits import Split, make_splits, shuffle_splits


@dataclass
class SimilarityResult:
    """score: mean over subsets (float, or (L,) for several layers); per_split: (S,) or (L, S)."""

    score: float | np.ndarray
    per_split: np.ndarray
    splits: list[Split]


def _as_layers(features: Any) -> tuple[list[np.ndarray], bool]:
    if isinstance(features, np.ndarray) and features.ndim == 2:
        return [features], False
    return [np.asarray(layer, dtype=float) for layer in features], True


def _subsets(n: int, cv: str | Sequence[Split] | None, groups: Sequence | None) -> list[Split]:
    """Brain-Score's 10 random 90 % subsets by default; else the *test* parts of ``make_splits(cv, ...)``."""
    return shuffle_splits(n, 10, None, 1, test_size=0.9) if cv is None else make_splits(cv, n, groups)


def _centred_gram(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    return x @ x.T


def _cka(grams: np.ndarray, target_gram: np.ndarray, subset: np.ndarray) -> np.ndarray:
    """Linear CKA of (L, n, n) Grams vs an (n, n) Gram on the stimuli in ``subset`` → (L,)."""

    def centre(k: np.ndarray) -> np.ndarray:
        k = k[..., subset, :][..., :, subset]
        k = k - k.mean(-1, keepdims=True)
        return k - k.mean(-2, keepdims=True)

    kx, ky = centre(grams), centre(target_gram)
    cross = (kx * ky).sum((-1, -2))
    return cross / np.sqrt((kx * kx).sum((-1, -2)) * (ky * ky).sum())


def cka(
    features: Any, targets: Any, cv: str | Sequence[Split] | None = None, groups: Sequence | None = None
) -> SimilarityResult:
    """Cross-validated linear CKA (Brain-Score ``cka``) of one layer (stimuli × features) or several."""
    layers, stacked = _as_layers(features)
    grams = np.stack([_centred_gram(np.asarray(layer, dtype=float)) for layer in layers])
    target_gram = _centred_gram(np.asarray(targets, dtype=float))
    splits = _subsets(target_gram.shape[0], cv, groups)
    per_split = np.stack([_cka(grams, target_gram, test) for _, test in splits], axis=-1)  # (L, S)
    score = per_split.mean(-1)
    return SimilarityResult(score if stacked else float(score[0]), per_split if stacked else per_split[0], splits)


def rdm(x: np.ndarray) -> np.ndarray:
    """1 − Pearson r between rows (stimuli) of a stimuli × features array → (n, n)."""
    return 1.0 - np.corrcoef(np.asarray(x, dtype=float))


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman ρ between each row of a (L, P) and b (P,)."""
    ra, rb = rankdata(a, axis=-1), rankdata(b)
    ra = ra - ra.mean(-1, keepdims=True)
    rb = rb - rb.mean()
    return (ra @ rb) / np.sqrt((ra * ra).sum(-1) * (rb @ rb))


def rsa(
    features: Any, targets: Any, cv: str | Sequence[Split] | None = None, groups: Sequence | None = None
) -> SimilarityResult:
    """Cross-validated RSA (Brain-Score ``rdm``): Spearman between RDM upper triangles on each 90 % subset."""
    layers, stacked = _as_layers(features)
    model_rdms = np.stack([rdm(layer) for layer in layers])
    brain_rdm = rdm(targets)
    splits = _subsets(brain_rdm.shape[0], cv, groups)
    per_split = []
    for _, test in splits:
        test = np.sort(test)
        upper = np.triu_indices(len(test), k=1)
        model = model_rdms[:, test][:, :, test][:, upper[0], upper[1]]
        per_split.append(_spearman_rows(model, brain_rdm[np.ix_(test, test)][upper]))
    per_split = np.stack(per_split, axis=-1)
    score = per_split.mean(-1)
    return SimilarityResult(score if stacked else float(score[0]), per_split if stacked else per_split[0], splits)
