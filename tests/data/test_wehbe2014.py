"""Wehbe2014: the subject_*.mat layout, and the feature pipeline against a loop port of the reference code
(awwkl/brain_language_summarization utils/utils.py) on the real timing shape (4 runs, 1,351 TRs, 5,176 words)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import zscore
from sklearn.decomposition import PCA

from tuneshift.data import load_wehbe2014
from tuneshift.data.wehbe2014 import (
    SKIP_WORDS,
    delay,
    fold_labels,
    fold_split,
    kept_tr_mask,
    pca_word_features,
    tr_features,
    word_tr_index,
    word_train_mask,
)
from tuneshift.errors import DataNotFoundError, InvalidInputError

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
    tr_train = fold_labels(n_kept) != fold
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
    np.testing.assert_array_equal(fold_labels(1211, 4), _ref_cv_ind(1211, 4))
    train, test = fold_split(1211, 0)
    assert test.tolist() == list(range(302)) and train[0] == 302 + 5 and train.size == 1211 - 302 - 5
    train, test = fold_split(1211, 1)
    assert test.tolist() == list(range(302 + 5, 604 - 5)) and train.size == 1211 - 302
    train, test = fold_split(1211, 3)
    assert test.tolist() == list(range(906, 1211)) and train[-1] == 906 - 1 - 5


def test_delay_shifts_rows_down():
    x = np.arange(1, 7, dtype=float).reshape(3, 2)
    np.testing.assert_array_equal(delay(x, (1, 2)), [[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 1, 2]])


# ---- the subject_*.mat loader ------------------------------------------------------------------------------------

N_TRS, TRIM = 16, (2, 1)
ROI_NAMES = ["Precentral_L", "Precentral_R", "Not_labelled"]


def _subject_files(tmp_path, writer, *, constant_voxel=False, other_starts=None):
    runs = np.repeat([1, 2], 8)
    time = np.column_stack([2.0 * np.arange(N_TRS), runs])
    word_trs = [*range(1, 7), *range(9, 15)]
    starts = np.array([2.0 * t + 0.1 + 0.5 * k for t in word_trs for k in range(4)])
    words = [f"w{i}" for i in range(starts.size)]
    rng = np.random.default_rng(3)
    data = {s: rng.normal(size=(N_TRS, 3)).astype(np.float32) for s in (1, 2)}
    if constant_voxel:
        data[2][8:, 1] = 5.0
    for s in (1, 2):
        writer(
            tmp_path / "Wehbe2014" / f"subject_{s}.mat",
            data[s],
            time,
            words,
            other_starts if (s == 2 and other_starts is not None) else starts,
            np.array([1, 2, 0]),
            ROI_NAMES,
        )
    return data, runs


def test_loader_trims_zscores_and_maps_words(tmp_path, wehbe_writer):
    data, runs = _subject_files(tmp_path, wehbe_writer)
    ds = load_wehbe2014(tmp_path, subjects=(1, 2), trim=TRIM, download=False)
    kept = np.r_[2:7, 10:15]
    assert ds.meta["kept_tr"].tolist() == kept.tolist()
    assert ds.stimulus_id.tolist() == [f"TR{t}" for t in kept]
    expected = np.concatenate([np.vstack([zscore(data[s][runs == r][2:-1]) for r in (1, 2)]) for s in (1, 2)], axis=1)
    np.testing.assert_allclose(ds.targets, expected, rtol=1e-5, atol=1e-5)
    assert len(ds.passages) == 1 and len(ds.passages[0]) == 48
    # Last word presented up to each kept TR: TR 2 → words of TRs 1–2 (index 7); TR 10 → 6 TRs of run 1 + 2 (31).
    assert ds.stimulus_word[0] == 7 and ds.stimulus_word[5] == 31
    assert ds.groups.tolist() == [1] * 5 + [2] * 5
    assert ds.neuroids["region"].tolist() == ["Precentral_L", "Precentral_R", "Not_labelled"] * 2
    assert ds.neuroids["subject"].tolist() == ["1"] * 3 + ["2"] * 3
    assert ds.ceiling == pytest.approx(0.104)


def test_loader_drops_constant_voxel(tmp_path, wehbe_writer):
    _subject_files(tmp_path, wehbe_writer, constant_voxel=True)
    with pytest.warns(UserWarning, match="dropped 1 of 6 neuroids"):
        ds = load_wehbe2014(tmp_path, subjects=(1, 2), trim=TRIM, download=False)
    assert ds.n_dropped_neuroids == 1 and "2.1" not in ds.neuroids["neuroid_id"].tolist()


def test_loader_refuses_mismatched_or_incomplete_files(tmp_path, wehbe_writer):
    with pytest.raises(DataNotFoundError, match=r"subject_1\.mat.*theo-73/www/plosone/files/subject_1\.mat"):
        load_wehbe2014(tmp_path, subjects=(1,), download=False)
    starts = np.array([2.0 * t + 0.2 + 0.5 * k for t in [*range(1, 7), *range(9, 15)] for k in range(4)])
    _subject_files(tmp_path, wehbe_writer, other_starts=starts)
    with pytest.raises(InvalidInputError, match=r"subject_2\.mat: word_start differs"):
        load_wehbe2014(tmp_path, subjects=(1, 2), trim=TRIM, download=False)
    wehbe_writer(
        tmp_path / "Wehbe2014" / "subject_1.mat",
        np.zeros((4, 3)),
        np.zeros((4, 2)),
        ["a"],
        np.array([1.0]),
        np.array([1, 2, 0]),
        ROI_NAMES,
        words=None,
    )
    with pytest.raises(InvalidInputError, match=r"subject_1\.mat: variable\(s\) words missing"):
        load_wehbe2014(tmp_path, subjects=(1,), download=False)
    wehbe_writer(
        tmp_path / "Wehbe2014" / "subject_1.mat",
        np.zeros((4, 3)),
        np.zeros((5, 2)),
        ["a"],
        np.array([1.0]),
        np.array([1, 2, 0]),
        ROI_NAMES,
    )
    with pytest.raises(InvalidInputError, match=r"data has shape \(4, 3\) and time \(5, 2\)"):
        load_wehbe2014(tmp_path, subjects=(1,), download=False)
