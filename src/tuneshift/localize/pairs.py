"""A base model's network against its tuned version's: overlap per layer and the change in selectivity.

Units are comparable across a base/tuned pair because tuning keeps the architecture: unit j of block i is the same
residual-stream dimension in both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tuneshift.errors import InvalidInputError
from tuneshift.localize.localizer import Localization


def compare_networks(base: Localization, tuned: Localization) -> pd.DataFrame:
    """One row per layer plus an "all" row: units in each network, their intersection and Jaccard overlap
    (|A ∩ B| / |A ∪ B|, NaN when both are empty), each model's mean t over all units and over its own network,
    the change of mean t (tuned − base), and the Pearson r between the two t-maps."""
    if base.t.shape != tuned.t.shape or not np.array_equal(base.layers, tuned.layers):
        raise InvalidInputError(
            f"{base.model} and {tuned.model} have different units (t-maps {base.t.shape} vs {tuned.t.shape}, layers "
            f"{base.layers.tolist()} vs {tuned.layers.tolist()}); a base/tuned pair shares its architecture."
        )
    a, b = base.mask, tuned.mask
    # per layer (rows 0..L-1) and over the whole model (last row), all as array ops
    both = _with_total((a & b).sum(axis=1))
    union = _with_total((a | b).sum(axis=1)).astype(float)
    n_a, n_b = _with_total(a.sum(axis=1)), _with_total(b.sum(axis=1))
    finite = np.isfinite(base.t) & np.isfinite(tuned.t)
    t_a, t_b = np.where(finite, base.t, 0.0), np.where(finite, tuned.t, 0.0)
    n_finite = _with_total(finite.sum(axis=1)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_a, mean_b = _with_total(t_a.sum(axis=1)) / n_finite, _with_total(t_b.sum(axis=1)) / n_finite
        frame = pd.DataFrame(
            {
                "layer": [*base.layers.astype(str), "all"],
                "n_base": n_a,
                "n_tuned": n_b,
                "n_both": both,
                "jaccard": np.where(union > 0, both / np.maximum(union, 1), np.nan),
                "mean_t_base": mean_a,
                "mean_t_tuned": mean_b,
                "delta_mean_t": mean_b - mean_a,
                "network_t_base": _with_total((t_a * a).sum(axis=1)) / n_a,
                "network_t_tuned": _with_total((t_b * b).sum(axis=1)) / n_b,
                "t_map_r": _pearson_rows(t_a, t_b, finite),
            }
        )
    return frame


def _with_total(per_layer: np.ndarray) -> np.ndarray:
    return np.append(per_layer, per_layer.sum())


def _pearson_rows(a: np.ndarray, b: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Pearson r of a and b over the finite entries of each row, then over all entries (last value)."""
    return np.append(_weighted_r(a, b, finite), _weighted_r(a.reshape(1, -1), b.reshape(1, -1), finite.reshape(1, -1)))


def _weighted_r(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    n = weight.sum(axis=1, keepdims=True)
    da = (a - (a * weight).sum(axis=1, keepdims=True) / n) * weight
    db = (b - (b * weight).sum(axis=1, keepdims=True) / n) * weight
    return (da * db).sum(axis=1) / np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))
