"""Per-unit selectivity statistics, vectorized over every unit of every layer at once.

A unit is one dimension of one block's output. Its selectivity is Welch's t of sentences > non-words over the
localizer stimuli (Fedorenko et al. 2010; AlKhamissi et al. 2024), with the Welch–Satterthwaite degrees of
freedom, a one-sided p-value (the hypothesis is directional) and Benjamini–Hochberg FDR q-values over all the
units tested.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from tuneshift.errors import InvalidInputError, InvalidParameterError

SCOPES = ("model", "layer")


def welch_t(a: np.ndarray, b: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Welch's t of mean(a) > mean(b) along `axis` and its degrees of freedom.

    t = (ā − b̄) / √(s²_a/n_a + s²_b/n_b) with unbiased variances (ddof 1); df = (s²_a/n_a + s²_b/n_b)² /
    ((s²_a/n_a)²/(n_a − 1) + (s²_b/n_b)²/(n_b − 1)). Equals ``scipy.stats.ttest_ind(a, b, equal_var=False)``;
    a unit with zero variance in both groups gets NaN (as scipy).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n_a, n_b = a.shape[axis], b.shape[axis]
    if n_a < 2 or n_b < 2:
        raise InvalidInputError(f"Welch's t needs at least 2 stimuli per condition; got {n_a} and {n_b}.")
    var_a = a.var(axis=axis, ddof=1) / n_a
    var_b = b.var(axis=axis, ddof=1) / n_b
    total = var_a + var_b
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (a.mean(axis=axis) - b.mean(axis=axis)) / np.sqrt(total)
        df = total**2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    return t, df


def one_sided_p(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """P(T ≥ t) under Student's t with `df` degrees of freedom; t = +inf (no variance, no overlap) gets 0, NaN t
    (constant units) gets 1."""
    p = stats.t.sf(t, np.where(np.isnan(df), 1.0, df))
    return np.where(np.isnan(t), 1.0, p)


def fdr_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) over all entries of `p`, same shape."""
    p = np.asarray(p, dtype=np.float64)
    return stats.false_discovery_control(p.reshape(-1), method="bh").reshape(p.shape)


def n_selected(top: float, n_units: int) -> int:
    """Units kept for a fraction `top` of `n_units`: round(top · n), at least 1."""
    if not 0 < top <= 1:
        raise InvalidParameterError("top", "a fraction in (0, 1] (1% = 0.01)", top)
    return max(1, round(top * n_units))


def select_top(t: np.ndarray, top: float = 0.01, scope: str = "model") -> np.ndarray:
    """(layers, units) bool mask of the most sentence-selective units.

    scope "model": the top `top` fraction of all units of all layers (AlKhamissi et al.'s choice); "layer": the top
    `top` fraction of each layer. A unit whose conditions never overlap and never vary has t = ±inf and ranks
    accordingly; units with NaN t (constant) are never chosen; ties are broken by unit order.
    """
    if scope not in SCOPES:
        raise InvalidParameterError("scope", f"one of {SCOPES}", scope)
    ranked = np.where(np.isnan(t), -np.inf, t)
    if scope == "model":
        flat = ranked.reshape(-1)
        keep = np.argsort(-flat, kind="stable")[: n_selected(top, flat.size)]
        mask = np.zeros(flat.size, dtype=bool)
        mask[keep] = True
        mask = mask.reshape(t.shape)
    else:
        k = n_selected(top, t.shape[1])
        order = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
        mask = np.zeros(t.shape, dtype=bool)
        np.put_along_axis(mask, order, True, axis=1)
    return mask & ~np.isnan(t)


def parse_top(text: str | float) -> float:
    """'1%' -> 0.01, '0.5%' -> 0.005, '0.02' -> 0.02 (a bare number is a fraction)."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise InvalidParameterError("top", "a percentage such as 1% or a fraction such as 0.01", text) from None
    n_selected(value, 1)  # validates the range
    return value
