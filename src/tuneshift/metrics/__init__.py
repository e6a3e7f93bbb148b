"""Brain-alignment metrics on plain arrays: cross-validated encoding (OLS / ridge → Pearson r), CKA, RSA,
noise ceilings; numpy or torch backend; one call scores every layer of a model on shared splits.

>>> from tuneshift.metrics import encoding_score, METRICS
>>> result = encoding_score(features, targets)            # Brain-Score linear_pearsonr
>>> result = METRICS.get("ridge_pearsonr")(layers, targets, groups=stories)

Every ``METRICS`` entry is called as ``metric(features, targets, **options)`` and returns a result with ``.score``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from tuneshift._registry import Registry
from tuneshift.metrics.ceiling import CEILINGS, CeilingResult, ceiling_normalize, extrapolation_ceiling, fit_saturating
from tuneshift.metrics.encoding import EncodingResult, HonestLayerScore, encoding_score, pearson_r
from tuneshift.metrics.regression import LinearRegression, RidgeCV
from tuneshift.metrics.similarity import SimilarityResult, cka, rsa
from tuneshift.metrics.splits import (
    contiguous_folds,
    contiguous_splits,
    group_kfold_splits,
    make_splits,
    shuffle_splits,
)

METRICS: Registry[Any] = Registry("metric")
METRICS.add("linear_pearsonr", partial(encoding_score, regression="linear"))
#: Brain-Score's ridge_pearsonr: one α shared by all neuroids (RidgeGCVTorch default); the "-ridge" benchmarks
#: add cv="group" (GroupKFold by story, seed 1234).
METRICS.add("ridge_pearsonr", partial(encoding_score, regression="ridge", alpha_per_target=False))
METRICS.add("ridge_pearsonr_per_target", partial(encoding_score, regression="ridge", alpha_per_target=True))
METRICS.add("cka", cka)
METRICS.add("rsa", rsa)
METRICS.add("rdm", rsa)  # Brain-Score's name for RSA

__all__ = [
    "CEILINGS",
    "METRICS",
    "CeilingResult",
    "EncodingResult",
    "HonestLayerScore",
    "LinearRegression",
    "RidgeCV",
    "SimilarityResult",
    "ceiling_normalize",
    "cka",
    "contiguous_folds",
    "contiguous_splits",
    "encoding_score",
    "extrapolation_ceiling",
    "fit_saturating",
    "group_kfold_splits",
    "make_splits",
    "pearson_r",
    "rsa",
    "shuffle_splits",
]
