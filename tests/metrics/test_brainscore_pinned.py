"""Brain-Score parity without the old venv: scores that Brain-Score Language 2.3.0 / brainscore_core 2.5.0
(numpy 1.26.4, xarray 2022.3.0, scikit-learn 1.9.1) computed on these exact seeded inputs.

Provenance: `python benchmarks/brainscore_parity.py --write-json benchmarks/brainscore/parity_results.json`
(2026-11-22); the "brainscore" column of that file is pinned here. tuneshift matched every one to < 1e-15.
"""

import pytest

from tuneshift.metrics import METRICS
from tuneshift.metrics._synthetic import synthetic_encoding_data

PINNED = [  # seed, our metric, options, (n, p, T, snr), Brain-Score's score
    (0, "linear_pearsonr", {}, (200, 400, 600, 1.0), 0.18666746635593662),
    (1, "linear_pearsonr", {}, (200, 50, 600, 1.0), 0.35132988794918363),
    (2, "ridge_pearsonr", {"cv": "group"}, (200, 400, 600, 1.0), 0.23417753804512437),
    (3, "ridge_pearsonr", {"cv": "group", "n_splits": 8}, (160, 80, 300, 0.5), 0.2629597101123037),
    (4, "cka", {}, (120, 300, 200, 1.0), 0.46791240797734146),
    (5, "rsa", {}, (120, 300, 200, 1.0), 0.1709663838278824),
]


@pytest.mark.parametrize(("seed", "metric", "options", "shape", "expected"), PINNED)
def test_matches_brainscore(seed, metric, options, shape, expected):
    n, p, t, snr = shape
    features, targets, groups = synthetic_encoding_data(n, p, t, snr=snr, seed=seed)
    # the brief's parity bound is 1e-3; the implementations agree to float rounding, so hold them to 1e-9
    assert METRICS.get(metric)(features, targets, groups=groups, **options).score == pytest.approx(expected, abs=1e-9)
