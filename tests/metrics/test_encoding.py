"""encoding_score: known signal recovered, noise gives ~0, layers share splits, backends agree."""

import numpy as np
import pytest

from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.metrics import METRICS, encoding_score
from tuneshift.metrics._synthetic import synthetic_encoding_data


def test_known_snr_recovers_expected_r():
    """n ≫ p: OLS finds the best linear predictor, r = sqrt(s / (2 (1 + s))) (see synthetic_encoding_data) with
    s = ‖w‖² = snr · χ²₁₀ / 10 per neuroid; the median neuroid has s = 0.934 (χ²₁₀ median 9.342) → r = 0.4914."""
    features, targets, _ = synthetic_encoding_data(400, 10, 300, snr=1.0, seed=1)
    result = encoding_score(features, targets)
    s = 9.342 / 10
    # per-neuroid r on 40 test stimuli has sd ≈ 0.12; the median over 300 neuroids and mean over 10 splits has
    # sd ≈ 0.01; fitting 11 parameters on 360 stimuli lowers r by about 3 % (0.015)
    assert result.score == pytest.approx(np.sqrt(s / (2 * (1 + s))), abs=0.03)
    assert result.per_neuroid.shape == (300,) and result.per_split.shape == (10,)


def test_pure_noise_scores_near_zero():
    rng = np.random.default_rng(2)
    result = encoding_score(rng.normal(size=(300, 400)), rng.normal(size=(300, 400)))
    # null r on 30 test stimuli has sd 1/√30 ≈ 0.18; the median over 400 neuroids has sd ≈ 0.011
    assert abs(result.score) < 0.05


def test_layers_share_splits_and_equal_single_calls():
    layers, targets, _ = synthetic_encoding_data(120, 60, 50, n_layers=3, seed=3)
    stacked = encoding_score(layers, targets)
    singles = [encoding_score(layer, targets).score for layer in layers]
    np.testing.assert_allclose(stacked.score, singles, rtol=1e-12)
    assert stacked.score[0] > stacked.score[2]  # the generator makes deeper layers noisier
    assert stacked.best_layer == 0
    listed = encoding_score([layers[0], layers[1][:, :20]], targets)  # layers of different widths
    assert listed.score[0] == pytest.approx(singles[0], rel=1e-12)


def test_honest_layer_chooses_on_training_folds():
    layers, targets, groups = synthetic_encoding_data(100, 150, 30, snr=2.0, n_layers=4, seed=4)
    result = encoding_score(layers, targets, cv="group", groups=groups, honest=True)
    honest = result.honest
    assert honest.chosen_layers.shape == (10,) and honest.inner_scores.shape == (10, 4)
    np.testing.assert_array_equal(honest.chosen_layers, 0)  # the informative layer wins in every split
    assert honest.score == pytest.approx(result.score[0], rel=1e-12)
    assert honest.score <= result.best_score + 1e-12


@pytest.mark.parametrize("regression", ["linear", "ridge"])
def test_numpy_and_torch_backends_agree(regression):
    layers, targets, _ = synthetic_encoding_data(100, 150, 40, n_layers=2, seed=5)
    a = encoding_score(layers, targets, regression=regression, backend="numpy")
    b = encoding_score(layers, targets, regression=regression, backend="torch")
    np.testing.assert_allclose(a.split_neuroid, b.split_neuroid, atol=1e-9)


def test_breakdown_by_subject():
    features, targets, _ = synthetic_encoding_data(150, 20, 60, seed=6)
    targets[:, 30:] = np.random.default_rng(0).normal(size=(150, 30))  # subject "b" carries no signal
    labels = np.repeat(["a", "b"], 30)
    result = encoding_score(features, targets, neuroid_labels={"subject": labels})
    by_subject = result.breakdown["subject"]
    assert by_subject["a"] > 0.3 and abs(by_subject["b"]) < 0.1
    expected = np.median(result.split_neuroid[:, :30], axis=1).mean()
    assert by_subject["a"] == pytest.approx(expected, rel=1e-12)


def test_ridge_alphas_reported_per_neuroid():
    features, targets, groups = synthetic_encoding_data(80, 100, 20, seed=7)
    result = METRICS.get("ridge_pearsonr_per_target")(features, targets, cv="group", groups=groups, n_splits=5)
    assert result.alphas.shape == (5, 20)
    assert set(np.unique(result.alphas)) <= set(np.logspace(-3, 3, 7))


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidInputError, match="stimuli"):
        encoding_score(np.zeros((10, 3)), np.zeros((11, 2)))
    with pytest.raises(InvalidInputError, match="NaN"):
        encoding_score(np.ones((10, 3)), np.full((10, 2), np.nan))


@pytest.mark.parametrize("n_features", [20, 200])  # primal (p < n_train) and dual (p ≥ n_train) forms
def test_degenerate_layer_in_a_stack_equals_sklearn(n_features):
    """A rank-2 layer (like sentence-final '.' tokens at the embedding layer) takes the exact eigen path on its
    own while its neighbours keep the Cholesky path; every layer must equal scikit-learn's LinearRegression."""
    from sklearn.linear_model import LinearRegression

    from tuneshift.metrics import pearson_r

    layers, targets, _ = synthetic_encoding_data(120, n_features, 30, n_layers=3, seed=7)
    rng = np.random.default_rng(7)
    layers[1] = rng.normal(size=(120, 2)) @ rng.normal(size=(2, n_features))
    result = encoding_score(layers, targets)
    for layer, features in enumerate(layers):
        for split, (train, test) in enumerate(result.splits):
            predicted = LinearRegression().fit(features[train], targets[train]).predict(features[test])
            expected = pearson_r(predicted, targets[test])
            # float64 rounding of two different factorizations (observed < 1e-12); r itself is O(0.1–1)
            np.testing.assert_allclose(result.split_neuroid[layer, split], expected, atol=1e-8)


def test_honest_ridge_layer_from_leave_one_out_agrees_with_inner_cv():
    layers, targets, groups = synthetic_encoding_data(100, 150, 30, snr=2.0, n_layers=4, seed=4)
    loo = encoding_score(layers, targets, regression="ridge", cv="group", groups=groups, honest=True)
    inner = encoding_score(
        layers, targets, regression="ridge", cv="group", groups=groups, honest=True, honest_method="inner"
    )
    np.testing.assert_array_equal(loo.honest.chosen_layers, 0)  # no fit added, same choice as the inner CV
    np.testing.assert_array_equal(inner.honest.chosen_layers, 0)
    assert loo.honest.score == pytest.approx(inner.honest.score, rel=1e-12)
    assert loo.alphas.shape == loo.split_neuroid.shape
    with pytest.raises(InvalidParameterError, match="honest_method"):
        encoding_score(layers, targets, honest=True, honest_method="loo")  # OLS has no GCV
