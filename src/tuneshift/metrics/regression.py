"""Cross-validated linear encoding models in kernel (dual) form, shared by all neuroids and all layers.

Every regression here predicts test targets from training targets through the centred Gram matrix of the
features, so one eigendecomposition per (layer, split) serves every neuroid and every ridge penalty:

* OLS with intercept, minimum norm (what scikit-learn's ``LinearRegression`` returns: ``scipy.linalg.lstsq`` on
  centred data, singular values below ``tol·σ_max`` with ``tol = 1e-6`` treated as zero)::

      Ŷ_test = K_test,train · K_c⁺ · (Y_train − ȳ) + ȳ,     K_c = X_c X_cᵀ,  X_c = X_train − x̄

  because pinv(X_c) = X_cᵀ (X_c X_cᵀ)⁺.
* Ridge with the penalty chosen by efficient leave-one-out (generalized) CV, exactly scikit-learn's ``_RidgeGCV``
  in "eigen" mode (``RidgeCV``; Brain-Score's ``RidgeGCVTorch`` port): with K_c = Q Λ Qᵀ and the intercept
  direction 1/√n left unpenalized, G = (K_c + αI)⁻¹ − 11ᵀ/(nα), dual coefficients c = G (Y − ȳ), LOO residuals
  c / diag(G); per target (``alpha_per_target=True``) or shared, the α with the smallest mean squared LOO
  residual wins (first one on ties).

The Gram of the whole stimulus set is computed once per layer (after subtracting the mean over all stimuli, which
changes nothing mathematically but keeps float precision); each split's centred blocks are derived from it.
Memory is O(layers · n² + n · neuroids).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tuneshift.errors import InvalidInputError, InvalidParameterError, NotFittedError
from tuneshift.metrics._backend import Backend, get_backend

DEFAULT_ALPHAS = np.logspace(-3, 3, 7)
#: scikit-learn >= 1.7 ``LinearRegression(tol=1e-6)`` passes ``cond=tol`` to ``scipy.linalg.lstsq``.
OLS_RCOND = 1e-6


def gram(features: Any, backend: Backend) -> Any:
    """Gram matrices X Xᵀ of (..., stimuli, features) after removing the mean over stimuli → (..., n, n)."""
    x = backend.asarray(features)
    x = x - x.mean(-2)[..., None, :]
    return x @ backend.swap(x)


def centered_blocks(grams: Any, train: Any, test: Any) -> tuple[Any, Any]:
    """From Grams (..., n, n): K_c over training stimuli and K_test,train, both centred on the training mean."""
    row_mean = grams[..., :, train].mean(-1)  # (..., n): mean over training stimuli of x_i · x_k
    total = row_mean[..., train].mean(-1)[..., None, None]
    k_train = grams[..., train, :][..., :, train] - row_mean[..., train, None] - row_mean[..., None, train] + total
    k_test = grams[..., test, :][..., :, train] - row_mean[..., test, None] - row_mean[..., None, train] + total
    return k_train, k_test


class Solver(Protocol):
    """Predicts centred test targets (..., m, T) from K_c (..., n, n), K_test,train (..., m, n), Y_c (n, T)."""

    def __call__(self, k_train: Any, k_test: Any, y_centered: Any, backend: Backend) -> tuple[Any, Any]: ...


@dataclass(frozen=True)
class OLSSolver:
    """Minimum-norm least squares.

    Fast path: K_c has the constant vector as its only null direction when the features span the training
    stimuli, and test rows and centred targets are orthogonal to it, so K_c⁺ Y_c = (K_c + s·11ᵀ/n)⁻¹ Y_c — one
    Cholesky solve. When a Cholesky pivot falls below ``pivot_floor``·trace(K_c) (near rank deficiency: duplicate
    stimuli, fewer features than stimuli), the exact path is used instead: eigendecomposition with eigenvalues
    below ``max(rcond², 10·n·eps)·λ_max`` dropped, i.e. scikit-learn's ``tol·σ_max`` cut (the floor only matters
    in float32, where eigenvalues carry that much rounding noise).
    """

    rcond: float = OLS_RCOND
    pivot_floor: float = 1e-9

    def __call__(self, k_train: Any, k_test: Any, y_centered: Any, backend: Backend) -> tuple[Any, None]:
        n = k_train.shape[-1]
        diag = backend.diagonal(k_train)
        shift = diag.mean(-1)[..., None, None] / n
        solution, pivots = backend.cho_solve(k_train + shift, backend.swap(k_test))
        floor = max(self.pivot_floor, 10 * n * backend.eps) * n * shift[..., 0]  # n·shift = trace ≥ λ_max
        if backend.all(pivots >= floor):  # NaN pivots (failed factorization) compare False
            return backend.swap(solution) @ y_centered, None
        eigvals, eigvecs = backend.eigh(k_train)
        cutoff = max(self.rcond**2, 10 * n * backend.eps) * eigvals[..., -1:]
        keep = eigvals > cutoff
        inverse = backend.where(keep, 1.0 / backend.where(keep, eigvals, 1.0), 0.0)
        hat = ((k_test @ eigvecs) * inverse[..., None, :]) @ backend.swap(eigvecs)  # (..., m, n)
        return hat @ y_centered, None


@dataclass(frozen=True)
class RidgeGCVSolver:
    """Ridge with α from leave-one-out CV over ``alphas`` (scikit-learn ``RidgeCV`` / Brain-Score
    ``RidgeGCVTorch``). Returns the chosen α per target as info (shape (..., T))."""

    alphas: Sequence[float] = field(default_factory=lambda: tuple(DEFAULT_ALPHAS))
    alpha_per_target: bool = True

    def __call__(self, k_train: Any, k_test: Any, y_centered: Any, backend: Backend) -> tuple[Any, Any]:
        n = k_train.shape[-1]
        eigvals, eigvecs = backend.eigh(k_train)
        proj = backend.swap(eigvecs) @ y_centered  # (..., n, T)
        squared = eigvecs * eigvecs
        y_sum = y_centered.sum(-2)
        loo_mse = []
        for alpha in self.alphas:
            shrink = 1.0 / (eigvals + alpha)
            dual = eigvecs @ (proj * shrink[..., None]) - y_sum / (n * alpha)
            g_diag = (squared @ shrink[..., None])[..., 0] - 1.0 / (n * alpha)
            loo_mse.append(((dual / g_diag[..., None]) ** 2).mean(-2))
        loo_mse = backend.stack(loo_mse)  # (A, ..., T)
        if not self.alpha_per_target:
            loo_mse = loo_mse.mean(-1)[..., None] + 0 * loo_mse
        best = backend.argmin(loo_mse, axis=0)
        alpha = backend.asarray(np.asarray(self.alphas, dtype=float))[best]  # (..., T)
        dual = eigvecs @ (proj / (eigvals[..., None] + alpha[..., None, :])) - y_sum / (n * alpha[..., None, :])
        return k_test @ dual, alpha


REGRESSIONS = ("linear", "ridge")


def make_solver(regression: str | Solver, alphas: Sequence[float] | None = None, alpha_per_target: bool = True):
    """ "linear" (Brain-Score ``linear_pearsonr``) or "ridge" (GCV over ``alphas``, default logspace(-3, 3, 7))."""
    if regression == "linear":
        return OLSSolver()
    if regression == "ridge":
        grid = tuple(float(a) for a in (DEFAULT_ALPHAS if alphas is None else alphas))
        if not grid or min(grid) <= 0:
            raise InvalidParameterError("alphas", "a non-empty sequence of positive penalties", alphas)
        return RidgeGCVSolver(grid, alpha_per_target)
    if callable(regression):
        return regression
    raise InvalidParameterError("regression", f"one of {REGRESSIONS} or a Solver", regression)


class KernelRegression:
    """Estimator form of a solver (fit on X, Y; predict on new X), for use outside cross-validation and for
    checks against scikit-learn. ``coef_`` is (targets, features) like scikit-learn's."""

    def __init__(self, solver: Solver, backend: str = "numpy"):
        self.solver = solver
        self.backend = get_backend(backend)

    def fit(self, x: Any, y: Any) -> KernelRegression:
        b = self.backend
        x, y = b.asarray(x), b.asarray(y)
        if x.ndim != 2 or y.ndim not in (1, 2) or x.shape[0] != y.shape[0]:
            raise InvalidInputError(f"fit expects X (n, p) and Y (n,) or (n, T) with equal n; got {x.shape}, {y.shape}")
        y2 = y[:, None] if y.ndim == 1 else y
        x_mean, y_mean = x.mean(0), y2.mean(0)
        xc = x - x_mean
        k = xc @ b.swap(xc)
        dual_by_identity, info = self.solver(k, k * 0 + b.asarray(np.eye(x.shape[0])), y2 - y_mean, b)
        coef = b.swap(b.swap(xc) @ dual_by_identity)  # (T, p)
        self.coef_ = b.to_numpy(coef[0] if y.ndim == 1 else coef)
        intercept = y_mean - coef @ x_mean
        self.intercept_ = b.to_numpy(intercept[0] if y.ndim == 1 else intercept)
        self.alpha_ = None if info is None else b.to_numpy(info)
        return self

    def predict(self, x: Any) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise NotFittedError("Call fit(X, Y) before predict(X).")
        return np.asarray(x, dtype=float) @ self.coef_.T + self.intercept_


def LinearRegression(backend: str = "numpy") -> KernelRegression:
    """Minimum-norm OLS with intercept; equal to ``sklearn.linear_model.LinearRegression``."""
    return KernelRegression(OLSSolver(), backend)


def RidgeCV(
    alphas: Sequence[float] = tuple(DEFAULT_ALPHAS), alpha_per_target: bool = True, backend: str = "numpy"
) -> KernelRegression:
    """Ridge with leave-one-out α; equal to ``sklearn.linear_model.RidgeCV(alphas, alpha_per_target=...)``."""
    return KernelRegression(RidgeGCVSolver(tuple(alphas), alpha_per_target), backend)
