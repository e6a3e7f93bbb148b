"""Kernel-form OLS and ridge equal scikit-learn's LinearRegression and RidgeCV (the estimators Brain-Score uses)."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression as SkLinearRegression
from sklearn.linear_model import RidgeCV as SkRidgeCV

from tuneshift.errors import NotFittedError
from tuneshift.metrics import LinearRegression, RidgeCV
from tuneshift.metrics.regression import DEFAULT_ALPHAS

BACKENDS = ["numpy", "torch"]
SHAPES = [(40, 200), (80, 20), (60, 59)]  # features > samples, < samples, = samples - 1 (square after centring)


def relative_error(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("n", "p"), SHAPES)
def test_ols_equals_sklearn(backend, n, p):
    rng = np.random.default_rng(n + p)
    x, y, x_new = rng.normal(size=(n, p)), rng.normal(size=(n, 7)), rng.normal(size=(9, p))
    ours, theirs = LinearRegression(backend).fit(x, y), SkLinearRegression().fit(x, y)
    # float64 rounding only; 1e-6 is the brief's bound, the observed error is ~1e-13
    assert relative_error(ours.predict(x_new), theirs.predict(x_new)) < 1e-6
    assert relative_error(ours.coef_, theirs.coef_) < 1e-6
    assert relative_error(ours.intercept_, theirs.intercept_) < 1e-6


def test_ols_rank_deficient_uses_minimum_norm():
    """Duplicated stimuli make K_c singular: the eigen path (sklearn's tol cut) must give the min-norm answer."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 100))
    x = np.vstack([x, x[:5]])
    y = rng.normal(size=(35, 4))
    ours, theirs = LinearRegression().fit(x, y), SkLinearRegression().fit(x, y)
    assert relative_error(ours.coef_, theirs.coef_) < 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("per_target", [True, False])
@pytest.mark.parametrize(("n", "p"), SHAPES)
def test_ridge_gcv_equals_sklearn(backend, per_target, n, p):
    rng = np.random.default_rng(n * p)
    x = rng.normal(size=(n, p))
    y = x[:, :3] @ rng.normal(size=(3, 12)) * rng.uniform(0.05, 3, 12) + rng.normal(size=(n, 12))
    x_new = rng.normal(size=(9, p))
    ours = RidgeCV(DEFAULT_ALPHAS, per_target, backend).fit(x, y)
    theirs = SkRidgeCV(alphas=DEFAULT_ALPHAS, alpha_per_target=per_target).fit(x, y)
    np.testing.assert_array_equal(np.broadcast_to(theirs.alpha_, ours.alpha_.shape), ours.alpha_)
    assert relative_error(ours.predict(x_new), theirs.predict(x_new)) < 1e-6


def test_ridge_per_target_picks_different_alphas():
    """The test above must not pass trivially: per-target selection really picks several penalties here."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 80))
    y = x[:, :3] @ rng.normal(size=(3, 12)) * np.geomspace(0.01, 10, 12) + rng.normal(size=(60, 12))
    assert len(np.unique(RidgeCV().fit(x, y).alpha_)) > 1


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError):
        LinearRegression().predict(np.zeros((2, 2)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("n", "p"), [(40, 200), (80, 20)])  # dual and primal forms
@pytest.mark.parametrize("per_target", [False, True])
def test_ridge_loo_r_equals_brute_force_leave_one_out(backend, n, p, per_target):
    from sklearn.linear_model import Ridge

    from tuneshift.metrics._backend import get_backend
    from tuneshift.metrics.regression import DualBlocks, PrimalBlocks, RidgeGCVSolver

    rng = np.random.default_rng(n * p)
    x = rng.normal(size=(n, p))
    y = x[:, :3] @ rng.normal(size=(3, 4)) + rng.normal(size=(n, 4))
    b = get_backend(backend)
    xc, yc = x - x.mean(0), y - y.mean(0)
    blocks = (
        PrimalBlocks(b.asarray(xc), b.asarray(xc[:2]))
        if p < n
        else DualBlocks(b.asarray(xc @ xc.T), b.asarray(xc[:2] @ xc.T))
    )
    fit = RidgeGCVSolver(tuple(DEFAULT_ALPHAS), per_target)(blocks, b.asarray(yc), b)
    alpha = b.to_numpy(fit.alpha)
    loo = np.empty_like(y)
    for i in range(n):  # refit without stimulus i (intercept included), predict it
        keep = np.arange(n) != i
        for t in range(y.shape[1]):
            loo[i, t] = Ridge(alpha=alpha[t]).fit(x[keep], y[keep, t]).predict(x[i : i + 1])[0]
    expected = [np.corrcoef(loo[:, t], y[:, t])[0, 1] for t in range(y.shape[1])]
    # 1e-5: with p > n and α down to 1e-3 the systems are ill-conditioned (observed ≤ 1.5e-6 relative)
    np.testing.assert_allclose(b.to_numpy(fit.loo_r), expected, rtol=1e-5)
