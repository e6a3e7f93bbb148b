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

Both have an equivalent primal (feature-space) form, used for a split whenever the layers have fewer features than
training stimuli (p < n_train: the Gram is then rank-deficient and only its expensive eigendecomposition would do,
while the p × p covariance C = X_cᵀX_c is full rank)::

      OLS:   Ŷ_test = X_test,c C⁻¹ X_cᵀ Y_c                    (Cholesky; eigen cut as above if C is singular)
      ridge: C = V Λ Vᵀ, Z = X_c V;  G Y_c = (Y_c − Z (Λ + α)⁻¹ Zᵀ Y_c) / α,
             diag(G) = (1 − 1/n)/α − Σ_j Z_ij² / (α (λ_j + α)),   Ŷ_test = X_test,c V (Λ + α)⁻¹ Zᵀ Y_c

(the same G as above, written with the thin SVD X_c = U Λ^½ Vᵀ and the intercept direction in U's complement).
``LayerDesign`` holds the layers once and hands every split the cheaper form: the Gram of the whole stimulus set is
computed once per layer (after subtracting the mean over all stimuli, which changes nothing mathematically but keeps
float precision) and each split's centred blocks are derived from it; the primal blocks are the centred rows.
Memory is O(layers · n · min(n, p) + n · neuroids).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

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


class DualBlocks(NamedTuple):
    """One split in kernel form: K_c (..., n, n) over training stimuli and K_test,train (..., m, n)."""

    k_train: Any
    k_test: Any


class PrimalBlocks(NamedTuple):
    """One split in feature form: training rows X_c (..., n, p) and test rows (..., m, p), centred on the
    training mean."""

    x_train: Any
    x_test: Any


Blocks = DualBlocks | PrimalBlocks


class LayerDesign:
    """Every layer's features over the same stimuli, giving each split its centred blocks in the cheaper form.

    Layers of equal width p are kept as one centred (L, n, p) stack and splits with more training stimuli than
    features get ``PrimalBlocks``; otherwise (or for layers of different widths, or when only Grams are known)
    ``DualBlocks`` from (L, n, n) Grams computed once, on first use.
    """

    def __init__(self, features: Any, backend: Backend):
        self.backend = backend
        layers = list(features)
        widths = {np.shape(layer)[-1] for layer in layers}
        self.n_layers, self.n_stimuli = len(layers), np.shape(layers[0])[0]
        self._x = None
        self._grams = None
        if len(widths) == 1 and widths.pop() < self.n_stimuli - 1:
            x = backend.stack([backend.asarray(layer) for layer in layers])
            self._x = x - x.mean(-2)[..., None, :]
        else:
            self._grams = backend.stack([gram(layer, backend) for layer in layers])

    @classmethod
    def from_grams(cls, grams: Any, backend: Backend) -> LayerDesign:
        """A dual-only design from precomputed Grams (L, n, n) (e.g. sums of per-subject Grams)."""
        design = cls.__new__(cls)
        design.backend, design._x, design._grams = backend, None, grams
        design.n_layers, design.n_stimuli = grams.shape[0], grams.shape[-1]
        return design

    def is_primal(self, n_train: int) -> bool:
        return self._x is not None and self._x.shape[-1] < n_train

    def working_bytes(self, n_train: int, n_targets: int) -> int:
        """Rough per-layer working set of one split's solve (float64), for chunking the layers."""
        if self.is_primal(n_train):
            p = self._x.shape[-1]
            return 8 * (4 * n_train * max(p, n_targets) + 3 * p * p)
        return 4 * 8 * n_train * max(n_train, n_targets)

    def blocks(self, layers: slice, train: Any, test: Any) -> Blocks:
        if self.is_primal(len(train)):
            x = self._x[layers]
            x_train, x_test = x[..., train, :], x[..., test, :]
            mean = x_train.mean(-2)[..., None, :]
            return PrimalBlocks(x_train - mean, x_test - mean)
        if self._grams is None:
            self._grams = self._x @ self.backend.swap(self._x)
        return DualBlocks(*centered_blocks(self._grams[layers], train, test))


class Fit(NamedTuple):
    """What a solver returns for one split.

    prediction: centred test predictions (..., m, T).
    alpha: ridge α chosen per target by leave-one-out CV (..., T), or None.
    loo_r: Pearson r, per target, between the leave-one-out predictions of the training stimuli and their targets
        (..., T): a training-only estimate of held-out accuracy that GCV gets for free, or None.
    """

    prediction: Any
    alpha: Any = None
    loo_r: Any = None


class Solver(Protocol):
    """Predicts centred test targets (..., m, T) from one split's blocks and centred training targets Y_c (n, T)."""

    def __call__(self, blocks: Blocks, y_centered: Any, backend: Backend) -> Fit: ...


def _eigen_cutoff(eigvals: Any, rcond: float, backend: Backend) -> Any:
    """Inverse eigenvalues with those below ``max(rcond², 10·dim·eps)·λ_max`` set to 0 (scikit-learn's lstsq
    ``tol·σ_max`` cut on the singular values; the floor only matters in float32)."""
    cutoff = max(rcond**2, 10 * eigvals.shape[-1] * backend.eps) * eigvals[..., -1:]
    keep = eigvals > cutoff
    return backend.where(keep, 1.0 / backend.where(keep, eigvals, 1.0), 0.0)


@dataclass(frozen=True)
class OLSSolver:
    """Minimum-norm least squares.

    Dual fast path: K_c has the constant vector as its only null direction when the features span the training
    stimuli, and test rows and centred targets are orthogonal to it, so K_c⁺ Y_c = (K_c + s·11ᵀ/n)⁻¹ Y_c — one
    Cholesky solve. Primal fast path: one Cholesky solve with C = X_cᵀX_c. When a Cholesky pivot falls below
    ``pivot_floor``·mean diagonal (near rank deficiency: duplicate stimuli or features, collinear features), the
    exact path is used instead: eigendecomposition with small eigenvalues dropped (``_eigen_cutoff``).
    """

    rcond: float = OLS_RCOND
    pivot_floor: float = 1e-9

    def _cholesky_failed(self, pivots: Any, matrix: Any, backend: Backend) -> Any:
        """Per matrix (...,): True where a pivot is below the floor (NaN pivots, i.e. failed factorizations,
        compare False and so count as failed)."""
        mean_diagonal = backend.diagonal(matrix).mean(-1)[..., None]
        floor = max(self.pivot_floor, 10 * pivots.shape[-1] * backend.eps) * mean_diagonal
        return ~(pivots >= floor).all(-1)

    def __call__(self, blocks: Blocks, y_centered: Any, backend: Backend) -> Fit:
        if isinstance(blocks, PrimalBlocks):
            x_train, x_test = blocks
            matrix = backend.swap(x_train) @ x_train  # C
            solution, pivots = backend.cho_solve(matrix, backend.swap(x_test))  # C⁻¹ X_testᵀ: (..., p, m)
            hat = backend.swap(solution) @ backend.swap(x_train)  # (..., m, n)
        else:
            matrix, k_test = blocks  # K_c
            shift = backend.diagonal(matrix).mean(-1)[..., None, None] / matrix.shape[-1]
            solution, pivots = backend.cho_solve(matrix + shift, backend.swap(k_test))
            hat = backend.swap(solution)
        failed = self._cholesky_failed(pivots, matrix, backend)
        if backend.any(failed):  # the exact path, only for the matrices that need it (e.g. a constant layer)
            eigvals, eigvecs = backend.eigh(matrix[failed])
            inverse = _eigen_cutoff(eigvals, self.rcond, backend)
            test_rows = blocks[1][failed] @ eigvecs
            train_rows = blocks[0][failed] @ eigvecs if isinstance(blocks, PrimalBlocks) else eigvecs
            hat[failed] = (test_rows * inverse[..., None, :]) @ backend.swap(train_rows)
        return Fit(hat @ y_centered)


@dataclass(frozen=True)
class RidgeGCVSolver:
    """Ridge with α from leave-one-out CV over ``alphas`` (scikit-learn ``RidgeCV`` / Brain-Score
    ``RidgeGCVTorch``). Returns the chosen α per target as info (shape (..., T))."""

    alphas: Sequence[float] = field(default_factory=lambda: tuple(DEFAULT_ALPHAS))
    alpha_per_target: bool = True

    def __call__(self, blocks: Blocks, y_centered: Any, backend: Backend) -> Fit:
        n = blocks[0].shape[-2]
        y_sum = y_centered.sum(-2)
        primal = isinstance(blocks, PrimalBlocks)
        if primal:
            x_train, x_test = blocks
            eigvals, eigvecs = backend.eigh(backend.swap(x_train) @ x_train)
            basis, test_basis = x_train @ eigvecs, x_test @ eigvecs  # Z (..., n, p), X_test V (..., m, p)
        else:
            k_train, k_test = blocks
            eigvals, basis = backend.eigh(k_train)  # Q (..., n, n)
            test_basis = k_test @ basis
        proj = backend.swap(basis) @ y_centered  # (..., r, T)
        squared = basis * basis
        loo_mse, best_mse, best_residual = [], None, None
        for alpha in self.alphas:
            shrink = 1.0 / (eigvals + alpha)
            if primal:  # G = (I − Z (Λ + α)⁻¹ Zᵀ − 11ᵀ/n) / α
                dual = (y_centered - basis @ (proj * shrink[..., None]) - y_sum / n) / alpha
                g_diag = ((1 - 1 / n) - (squared @ shrink[..., None])[..., 0]) / alpha
            else:  # G = Q (Λ + α)⁻¹ Qᵀ − 11ᵀ/(nα)
                dual = basis @ (proj * shrink[..., None]) - y_sum / (n * alpha)
                g_diag = (squared @ shrink[..., None])[..., 0] - 1.0 / (n * alpha)
            residual = dual / g_diag[..., None]  # leave-one-out residuals y_i − ŷ_i^(−i) (..., n, T)
            mse = (residual**2).mean(-2)
            loo_mse.append(mse)
            # the residuals of the best α so far (first minimum, as argmin below), per target or for all at once
            score = mse if self.alpha_per_target else mse.mean(-1)[..., None] + 0 * mse
            if best_mse is None:
                best_mse, best_residual = score, residual
            else:
                better = score < best_mse
                best_mse = backend.where(better, score, best_mse)
                best_residual = backend.where(better[..., None, :], residual, best_residual)
        loo_mse = backend.stack(loo_mse)  # (A, ..., T)
        if not self.alpha_per_target:
            loo_mse = loo_mse.mean(-1)[..., None] + 0 * loo_mse
        best = backend.argmin(loo_mse, axis=0)
        alpha = backend.asarray(np.asarray(self.alphas, dtype=float))[best]  # (..., T)
        # both forms: Ŷ_test = test_basis (Λ + α)⁻¹ proj (K_test·1 = 0 removes the dual's intercept term)
        prediction = test_basis @ (proj / (eigvals[..., None] + alpha[..., None, :]))
        return Fit(prediction, alpha, _pearson_columns(y_centered - best_residual, y_centered))


def _pearson_columns(a: Any, b: Any) -> Any:
    """Pearson r between matching columns of (..., n, T) arrays → (..., T)."""
    am, bm = a - a.mean(-2)[..., None, :], b - b.mean(-2)[..., None, :]
    return (am * bm).sum(-2) / (((am * am).sum(-2) * (bm * bm).sum(-2)) ** 0.5)


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
        n, p = xc.shape
        if p < n:  # predictions at the unit test rows e_j are the coefficients
            fit = self.solver(PrimalBlocks(xc, b.asarray(np.eye(p))), y2 - y_mean, b)
            coef = fit.prediction
        else:  # predictions at K_test = I are the dual coefficients c; w = X_cᵀ c
            fit = self.solver(DualBlocks(xc @ b.swap(xc), b.asarray(np.eye(n))), y2 - y_mean, b)
            coef = b.swap(xc) @ fit.prediction
        coef = b.swap(coef)  # (T, p)
        self.coef_ = b.to_numpy(coef[0] if y.ndim == 1 else coef)
        intercept = y_mean - coef @ x_mean
        self.intercept_ = b.to_numpy(intercept[0] if y.ndim == 1 else intercept)
        self.alpha_ = None if fit.alpha is None else b.to_numpy(fit.alpha)
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
