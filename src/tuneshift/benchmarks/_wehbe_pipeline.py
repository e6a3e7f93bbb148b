"""The feature side of Aw et al. 2023's Wehbe2014 pipeline (awwkl/brain_language_summarization ``utils/utils.py``,
itself from mtoneva/brain_language_nlp), on the timing that :func:`~tuneshift.data.load_wehbe2014` returns:

1. word vectors from the model (the readout's job), the first ``SKIP_WORDS`` words dropped;
2. :func:`word_train_mask` turns a TR fold into training words; :func:`pca_word_features` fits PCA(10) on them;
3. :func:`tr_features`: mean of the words presented in each TR → delays of 1–4 TRs (40 features) → trim and z-score
   per run;
4. :func:`outer_splits`: 4 contiguous folds over the kept TRs, 5 TRs dropped at each train/test boundary
   (:func:`~tuneshift.metrics.splits.contiguous_splits` with ``trim_test=True``);
5. :func:`fold_features`: steps 2–3 for one fold, training and test rows z-scored separately.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.decomposition import PCA

from tuneshift.data import NeuralDataset
from tuneshift.data.wehbe2014 import TRIM, kept_tr_mask, zscore_runs
from tuneshift.metrics.splits import Split, contiguous_folds, contiguous_splits

SKIP_WORDS = 20  # words whose features the reference drops (their fixed-length context windows are incomplete)
DELAYS = (1, 2, 3, 4)  # TRs
N_COMPONENTS = 10
N_FOLDS = 4
FOLD_SKIP = 5  # TRs dropped at each train/test boundary


def outer_splits(n_trs: int, n_folds: int = N_FOLDS, skip: int = FOLD_SKIP) -> list[Split]:
    """(train, test) indices over the kept TRs of every outer fold, as the reference cuts them."""
    return contiguous_splits(n_trs, n_folds, skip, trim_test=True)


def word_train_mask(
    tr_train: np.ndarray,
    word_tr: np.ndarray,
    runs: np.ndarray,
    trim: tuple[int, int] = TRIM,
    *,
    reference_offset: bool = True,
) -> np.ndarray:
    """Which words are training words, given which kept TRs are training TRs (``tr_train``, over kept TRs).

    ``reference_offset=True`` reproduces awwkl's ``TR_to_word_CV_ind`` exactly: a word takes the label of the kept
    TR *before* its own (index ``tr - offset - 1``, with ``offset = run·20 + (run − 1)·15`` for runs 1..4), words
    in a run's trimmed start wrap around to earlier indices, and words after ``n_TRs − 15`` are test words.
    ``False`` uses the word's own TR and marks words in trimmed TRs as not training.
    """
    tr_train = np.asarray(tr_train, dtype=bool)
    runs = np.asarray(runs)
    start, end = trim
    if reference_offset:
        run = runs[word_tr]
        index = word_tr - (run * start + (run - 1) * end) - 1
        in_range = word_tr <= len(runs) - end
        return in_range & np.take(tr_train, index, mode="wrap")
    kept = kept_tr_mask(runs, trim)
    position = np.cumsum(kept) - 1
    return kept[word_tr] & tr_train[np.clip(position[word_tr], 0, None)]


def pca_word_features(
    word_features: np.ndarray, train_words: np.ndarray, n_components: int = N_COMPONENTS
) -> np.ndarray:
    """Project every word vector on the first principal components of the training words (full SVD, as the paper)."""
    pca = PCA(n_components=n_components, svd_solver="full").fit(word_features[train_words])
    return pca.transform(word_features)


def tr_average(word_features: np.ndarray, word_tr: np.ndarray, n_trs: int) -> np.ndarray:
    """Mean feature vector of the words presented in each TR, (n_trs, p); NaN for a TR without words."""
    sums = np.zeros((n_trs, word_features.shape[1]))
    np.add.at(sums, word_tr, word_features)
    counts = np.bincount(word_tr, minlength=n_trs)[:, None]
    with np.errstate(invalid="ignore"):
        return sums / np.where(counts > 0, counts, np.nan)


def delay(x: np.ndarray, delays: Sequence[int] = DELAYS) -> np.ndarray:
    """Concatenate copies of `x` shifted down by each delay: row t holds rows t − d (zeros before the start)."""
    shifted = []
    for d in delays:
        out = np.zeros_like(x)
        if d > 0:
            out[d:] = x[:-d]
        elif d < 0:
            out[:d] = x[-d:]
        else:
            out = x.copy()
        shifted.append(out)
    return np.concatenate(shifted, axis=1)


def tr_features(
    word_features: np.ndarray,
    word_tr: np.ndarray,
    runs: np.ndarray,
    delays: Sequence[int] = DELAYS,
    trim: tuple[int, int] = TRIM,
) -> np.ndarray:
    """Per-TR regressors for the kept TRs: TR means of the word features → delays → trim, z-score per run → NaN→0.

    ``word_features`` are the (PCA-reduced) vectors of the words whose TRs are ``word_tr`` (indices into all TRs;
    drop the first ``SKIP_WORDS`` words from both to match the reference). Returns (n_kept_TRs, p · len(delays)).
    """
    runs = np.asarray(runs)
    delayed = delay(tr_average(word_features, word_tr, len(runs)), delays)
    kept = kept_tr_mask(runs, trim)
    return np.nan_to_num(zscore_runs(delayed[kept], runs[kept]))


def _zscore(x: np.ndarray) -> np.ndarray:
    """Column z-score (population sd); constant columns become 0 (the reference's nan_to_num(zscore(x)))."""
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, np.inf)


def fold_features(
    word_vectors: np.ndarray, dataset: NeuralDataset, fold: int, n_folds: int = N_FOLDS, skip: int = FOLD_SKIP
) -> tuple[np.ndarray, np.ndarray]:
    """(X_train, X_test) of one outer fold, rows = the fold's kept TRs as in :func:`outer_splits`, from one layer's
    vectors of the words after ``SKIP_WORDS`` ((n_words − SKIP_WORDS, hidden)); PCA is fit on the fold's training
    words only, and each block is z-scored with its own TRs' mean and sd (as the reference does)."""
    meta = dataset.meta
    word_tr, runs, trim = meta["word_tr"][SKIP_WORDS:], meta["run"], meta["trim"]
    n_trs = dataset.n_stimuli
    train_words = word_train_mask(contiguous_folds(n_trs, n_folds) != fold, word_tr, runs, trim)
    features = tr_features(pca_word_features(word_vectors, train_words), word_tr, runs, trim=trim)
    train, test = outer_splits(n_trs, n_folds, skip)[fold]
    return _zscore(features[train]), _zscore(features[test])
