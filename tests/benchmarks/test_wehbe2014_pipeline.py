"""Wehbe2014 feature pipeline against a loop port of the reference code (awwkl/brain_language_summarization
utils/utils.py) on the real timing shape (4 runs, 1,351 TRs, 5,176 words)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import zscore
from sklearn.decomposition import PCA

from tuneshift.benchmarks._wehbe_pipeline import (
    SKIP_WORDS,
    delay,
    outer_splits,
    pca_word_features,
    tr_features,
    word_train_mask,
)
from tuneshift.data.wehbe2014 import kept_tr_mask, word_tr_index
from tuneshift.metrics.splits import contiguous_folds

# ---- reference, ported loop for loop (the oracle) -------------------------------------------------------------


def _ref_words_id(time, time_words):
    return np.array([np.where(t > time)[0][-1] for t in time_words])


def _ref_word_train(tr_train, time, runs, time_words):
    out = np.zeros(len(time_words), dtype=bool)
    for i, w in enumerate(_ref_words_id(time, time_words)):
        if w <= len(runs) - 15:
            offset = runs[w] * 20 + (runs[w] - 1) * 15
            if tr_train[w - offset - 1] == 1:
                out[i] = True
    return out


def _ref_tr_features(all_features, time, runs, time_words):
    words_id = _ref_words_id(time, time_words)
    tmp = np.zeros([time.shape[0], all_features.shape[1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in range(time.shape[0]):
            tmp[i] = np.mean(all_features[(words_id <= i) * (words_id > i - 1)], 0)
    tmp = np.concatenate([np.vstack([np.zeros((d, tmp.shape[1])), tmp[:-d]]) for d in range(1, 5)], axis=1)
    tmp = np.vstack([zscore(tmp[runs == i][20:-15]) for i in range(1, 5)])
    return np.nan_to_num(tmp)


def _ref_cv_ind(n, n_folds):
    ind = np.zeros(n)
    n_items = int(np.floor(n / n_folds))
    for i in range(n_folds - 1):
        ind[i * n_items : (i + 1) * n_items] = i
    ind[(n_folds - 1) * n_items :] = n_folds - 1
    return ind


@pytest.fixture(scope="module")
def timing():
    """1,351 TRs of 2 s in 4 runs; each run: 10 TRs rest, words every 0.5 s, 5 TRs rest (as in the release)."""
    lengths = [340, 337, 340, 334]
    runs = np.repeat([1, 2, 3, 4], lengths)
    time = 2.0 * np.arange(runs.size)
    starts, first = [], 0
    for length in lengths:
        onset = 2.0 * (first + 10)
        starts.append(onset + 0.5 * np.arange(4 * (length - 15)))
        first += length
    time_words = np.concatenate(starts)
    return time, runs, time_words


def test_word_tr_matches_reference(timing):
    time, _, time_words = timing
    np.testing.assert_array_equal(word_tr_index(time_words, time), _ref_words_id(time, time_words))


@pytest.mark.parametrize("fold", [0, 1, 3])
def test_word_train_mask_and_tr_features_match_reference(timing, fold):
    time, runs, time_words = timing
    time_words = time_words[SKIP_WORDS:]
    n_kept = int(kept_tr_mask(runs).sum())
    assert n_kept == 1211
    tr_train = contiguous_folds(n_kept) != fold
    word_tr = word_tr_index(time_words, time)
    train_words = word_train_mask(tr_train, word_tr, runs)
    np.testing.assert_array_equal(train_words, _ref_word_train(tr_train, time, runs, time_words))

    rng = np.random.default_rng(fold)
    word_vectors = rng.normal(size=(time_words.size, 24))
    reduced = pca_word_features(word_vectors, train_words)
    reference_pca = PCA(n_components=10, svd_solver="full").fit(word_vectors[train_words])
    np.testing.assert_allclose(reduced[~train_words], reference_pca.transform(word_vectors[~train_words]))

    features = tr_features(reduced, word_tr, runs)
    assert features.shape == (1211, 40)
    np.testing.assert_allclose(features, _ref_tr_features(reduced, time, runs, time_words), atol=1e-10)


def test_word_train_mask_without_reference_offset(timing):
    time, runs, time_words = timing
    word_tr = word_tr_index(time_words, time)
    kept = kept_tr_mask(runs)
    tr_train = np.ones(int(kept.sum()), dtype=bool)
    mask = word_train_mask(tr_train, word_tr, runs, reference_offset=False)
    np.testing.assert_array_equal(mask, kept[word_tr])  # every word in a kept TR trains, the rest do not


def test_folds_match_reference():
    np.testing.assert_array_equal(contiguous_folds(1211, 4), _ref_cv_ind(1211, 4))
    splits = outer_splits(1211)
    assert len(splits) == 4
    train, test = splits[0]
    assert test.tolist() == list(range(302)) and train[0] == 302 + 5 and train.size == 1211 - 302 - 5
    train, test = splits[1]
    assert test.tolist() == list(range(302 + 5, 604 - 5)) and train.size == 1211 - 302
    train, test = splits[3]
    assert test.tolist() == list(range(906, 1211)) and train[-1] == 906 - 1 - 5


def test_delay_shifts_rows_down():
    x = np.arange(1, 7, dtype=float).reshape(3, 2)
    np.testing.assert_array_equal(delay(x, (1, 2)), [[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 1, 2]])
