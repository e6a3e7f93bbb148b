"""CKA, RSA and ceilings against direct formulas, scipy, and known asymptotes."""

import numpy as np
import pytest
from scipy.optimize import curve_fit
from scipy.stats import spearmanr

from tuneshift.errors import InvalidParameterError, UnknownNameError
from tuneshift.metrics import CEILINGS, ceiling_normalize, cka, extrapolation_ceiling, fit_saturating, rsa
from tuneshift.metrics.ceiling import saturating
from tuneshift.metrics.splits import shuffle_splits


def test_cka_matches_formula_on_each_subset():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 30)), rng.normal(size=(50, 20))
    result = cka(x, y)
    _, subset = shuffle_splits(50, 10, None, 1, test_size=0.9)[0]

    def hsic(a, b):  # Kornblith et al. 2019: ‖AᵀB‖²_F on centred features
        a, b = a - a.mean(0), b - b.mean(0)
        return np.linalg.norm(a.T @ b) ** 2

    xs, ys = x[subset], y[subset]
    assert result.per_split[0] == pytest.approx(hsic(xs, ys) / np.sqrt(hsic(xs, xs) * hsic(ys, ys)), rel=1e-10)
    assert cka(x, x).score == pytest.approx(1.0)


def test_rsa_matches_scipy_spearman():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 12)), rng.normal(size=(40, 8))
    result = rsa([x, y], y)
    _, subset = result.splits[3]
    upper = np.triu_indices(len(subset), 1)
    model = 1 - np.corrcoef(x[subset])
    brain = 1 - np.corrcoef(y[subset])
    assert result.per_split[0, 3] == pytest.approx(spearmanr(model[upper], brain[upper])[0], rel=1e-10)
    assert result.score[1] == pytest.approx(1.0)


def test_fit_saturating_matches_curve_fit():
    rng = np.random.default_rng(2)
    n = np.arange(2, 10.0)
    curves = np.stack([saturating(n, v0, tau) for v0, tau in [(0.4, 1.5), (0.8, 4.0), (0.25, 0.7)]])
    curves = curves + rng.normal(scale=0.005, size=curves.shape)
    v0, tau = fit_saturating(n, curves)
    for row, ours_v0, ours_tau in zip(curves, v0, tau, strict=True):
        (ref_v0, ref_tau), _ = curve_fit(saturating, n, row, bounds=([0, -np.inf], [1, np.inf]))
        assert ours_v0 == pytest.approx(ref_v0, abs=1e-4)
        assert ours_tau == pytest.approx(ref_tau, rel=1e-3)


def test_extrapolation_ceiling_recovers_asymptote():
    """Subjects = shared signal + private noise. Predicting one subject from k − 1 others approaches r_max =
    sqrt(snr/(1+snr)) = 0.707 as the pool averages its noise away, so the extrapolated v0 must land near r_max
    (0.05: OLS on 90 stimuli loses a few hundredths to fitting noise) and above the k = 2 scores."""
    rng = np.random.default_rng(3)
    n_stimuli, n_subjects, voxels, snr = 100, 4, 3, 1.0
    signal = rng.normal(size=(n_stimuli, 1))
    targets = np.hstack([signal * np.sqrt(snr) + rng.normal(size=(n_stimuli, voxels)) for _ in range(n_subjects)])
    subjects = np.repeat(np.arange(n_subjects), voxels)
    result = extrapolation_ceiling(targets, subjects, n_bootstraps=20)
    assert result.ceiling == pytest.approx(np.sqrt(snr / (1 + snr)), abs=0.05)
    assert result.ceiling > np.nanmean(result.scores[2])
    assert result.bootstrap_v0.shape == (20, n_subjects * voxels)


def test_published_ceilings_and_normalization():
    assert CEILINGS.get("Pereira2018.384sentences") == 0.36343748
    assert ceiling_normalize(0.18171874, "Pereira2018.384sentences") == pytest.approx(0.5)
    assert ceiling_normalize(np.array([-0.1, 0.5]), 0.25).tolist() == [0.0, 1.0]
    with pytest.raises(UnknownNameError):
        ceiling_normalize(0.1, "Pereira2019")
    assert {name: CEILINGS.get(name) for name in CEILINGS} == {
        "Blank2014": 0.21026591,
        "Futrell2018": 0.858,
        "Pereira2018.243sentences": 0.35378928,
        "Pereira2018.384sentences": 0.36343748,
        "Wehbe2014": 0.104,
    }
    assert isinstance(ceiling_normalize(0.1, 0.2), float)
    assert np.isnan(ceiling_normalize(0.1, None)) and np.isnan(ceiling_normalize(0.1, float("nan")))
    assert np.isnan(ceiling_normalize(np.array([0.1, 0.2]), None)).all()  # no ceiling: NaN, shape kept
    with pytest.raises(InvalidParameterError, match="ceiling"):
        ceiling_normalize(0.1, 0.0)
