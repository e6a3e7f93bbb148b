"""Aggregating an attribution matrix (inputs × outputs) into per-input importance, as Wu et al. (2023) do: the
sparsification and the importance density of the paper's ``utils.compute_density`` (Tables 1 and 2). Registered
in :data:`AGGREGATORS` (inseq style), so other aggregations plug in by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tuneshift._registry import Registry

AGGREGATORS: Registry[Callable[..., np.ndarray]] = Registry("attribution aggregator")

#: Constants of the paper's analysis code (utils.compute_density), which produced its Tables 1 and 2.
LEVELS = 10
THRESHOLD = 7
DENSITY_P = 4
EPS = 1e-9


def aggregate(attribution: Any, fn: str = "wu2023_density", **kwargs: Any) -> np.ndarray:
    """Run aggregator `fn` (one of ``AGGREGATORS.names()``) on an :class:`~tuneshift.interpret.attribution.
    Attribution` (its ``matrix``) or on a raw (inputs × outputs) matrix."""
    matrix = getattr(attribution, "matrix", attribution)
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu().numpy()
    return AGGREGATORS.get(fn)(np.asarray(matrix), **kwargs)


@AGGREGATORS.register("wu2023_sparsify")
def sparsify(matrix: np.ndarray, levels: int = LEVELS, threshold: float = THRESHOLD, eps: float = EPS) -> np.ndarray:
    """The paper's sparsification, per output column m: clamp at 0, divide by the column's max over inputs
    (+eps), S = ceil(levels·x) ∈ {0..levels}, then zero the entries ≤ `threshold` (b; 7 in the analyses, 0 in
    the shipped attribution files)."""
    x = np.maximum(matrix, 0)
    x = np.ceil(x / (x.max(axis=0, keepdims=True) + eps) * levels) if x.size else x
    return np.where(x <= threshold, 0, x).astype(matrix.dtype, copy=False)


@AGGREGATORS.register("wu2023_density")
def importance_density(
    matrix: np.ndarray,
    threshold: float = THRESHOLD,
    p: float = DENSITY_P,
    levels: int = LEVELS,
    eps: float = EPS,
    normalize: bool = True,
) -> np.ndarray:
    """Importance density of each input token n: ‖S_n‖₁ / (‖S_n‖_p + eps), divided by its max over inputs.

    S is the sparsified matrix. Exactly the paper's ``utils.compute_density``: a matrix that is already
    sparsified (max == levels and min == 0, as in the shipped files) is only thresholded at `threshold`;
    anything else (a raw matrix) is sparsified first. Returns (n_inputs,) in [0, 1]."""
    x = np.asarray(matrix)
    if x.size == 0:
        return np.zeros(x.shape[0], dtype=x.dtype if x.dtype.kind == "f" else np.float32)
    if x.max() == levels and x.min() == 0:
        x = np.where(x <= threshold, 0, x).astype(x.dtype, copy=False)
    else:
        x = sparsify(x, levels=levels, threshold=threshold, eps=eps)
    l1 = x.sum(axis=-1)
    lp = (x**p).sum(axis=-1) ** (1.0 / p) + eps
    density = l1 / lp
    return density / (eps + density.max()) if normalize else density
