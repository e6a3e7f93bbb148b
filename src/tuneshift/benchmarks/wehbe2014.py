"""``Wehbe2014-ridge``: Aw et al. 2023's own encoding pipeline on Harry Potter chapter 9 (awwkl/brain_language_
summarization, ``utils/utils.py`` and ``utils/ridge_tools.py``), every layer of a model.

Per layer and per outer fold (4 contiguous folds over the 1,211 kept TRs, 5 TRs dropped at each train/test boundary):

1. word vectors = mean of each word's token states (``read_out(pooling="mean")``), the first ``SKIP_WORDS`` dropped;
2. PCA(10) fit on the fold's training words only (:func:`~tuneshift.benchmarks._wehbe_pipeline.word_train_mask`);
3. TR means → delays 1–4 TRs (40 features) → trim, z-score per run
   (:func:`~tuneshift.benchmarks._wehbe_pipeline.tr_features`);
4. training and test features z-scored separately (each with its own TRs' mean and sd, as the reference does);
   training voxels centred (the reference z-scores them; scaling a target changes neither its α nor its r);
5. ridge without intercept, α per voxel by unshuffled 10-fold inner CV over logspace(-6, 9, 16) maximising the mean
   validation R² (the reference's ``cross_val_ridge(method="plain")`` minimises the summed 1 − R²: same choice),
   refit on all training TRs — himalaya's ``RidgeCV`` (one SVD per inner fold shared by all α and voxels);
6. Pearson r per voxel on the test fold.

Score of a layer = median over voxels (all subjects pooled) of r, then mean over folds — the aggregation of the other
benchmarks (Brain-Score's); the reference's own (mean over folds and voxels per subject, mean over subjects) is
reported too, as ``raw_mean_voxels``. Ceiling 0.104.

Honest score: in each outer fold the layer is chosen by its inner-CV fit on the training TRs only — the median over
voxels of the inner 10-fold R² at each voxel's chosen α (``RidgeCV.cv_scores_``, a by-product of the α search) —
and that layer's test score is averaged over folds.

A result keeps every voxel's test r, ``r(layer, split, neuroid)`` (split = outer fold; ``BenchmarkResult.values``).

Deviation: the reference reads each word with a fixed window of the preceding ``seq_len`` words (one forward pass
per word). Here each word is read with the chapter so far as context (one pass per window of the model's context
length, windows overlapping by half; see :mod:`tuneshift.models.readout`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold

from tuneshift.benchmarks._base import (
    AW2023_CITATION,
    BENCHMARKS,
    Benchmark,
    BenchmarkResult,
    neuroid_values,
    score_rows,
)
from tuneshift.benchmarks._wehbe_pipeline import N_FOLDS, SKIP_WORDS, fold_features, outer_splits
from tuneshift.benchmarks.neural import citation, dataset_files, datasets_available
from tuneshift.data import NeuralDataset, load_wehbe2014
from tuneshift.data.wehbe2014 import SUBJECTS
from tuneshift.metrics.encoding import aggregate, pearson_r
from tuneshift.models.subject import POOLINGS, ReadoutOptions, Representations, Subject, choice

IDENTIFIER = "Wehbe2014-ridge"
ALPHAS = np.logspace(-6, 9, 16)  # the reference's 10**i for i in range(-6, 10)
N_INNER = 10
TARGETS_BATCH = 20_000  # voxels per himalaya batch (bounds its (α, validation TRs, voxels) working array)


@dataclass
class WehbeEncoding:
    """Every layer × outer fold × voxel result of :func:`wehbe_encoding`.

    r: (L, F, T) test-fold Pearson r; alphas: (L, F, T) chosen α; inner_r2: (L, F, T) inner-CV R² at that α.
    """

    layers: list[int]
    r: np.ndarray
    alphas: np.ndarray
    inner_r2: np.ndarray

    @property
    def score(self) -> np.ndarray:
        """(L,) median over voxels, mean over folds."""
        return aggregate(self.r)

    def honest(self) -> tuple[float, np.ndarray]:
        """Mean over folds of the test score of the layer with the best inner-CV R² (median over voxels) in each
        fold, and those layers' positions in ``layers``."""
        chosen = np.nanmedian(self.inner_r2, axis=-1).argmax(0)  # (F,)
        per_fold = np.nanmedian(self.r, axis=-1)[chosen, np.arange(self.r.shape[1])]
        return float(per_fold.mean()), chosen


@contextmanager
def himalaya_backend(name: str) -> Iterator[None]:
    """Use himalaya backend `name` ("numpy", "torch", "torch_cuda", ...) inside the block; restore the previous one."""
    from himalaya.backend import get_backend, set_backend

    previous = get_backend().name
    set_backend(name, on_error="raise")
    try:
        yield
    finally:
        set_backend(previous, on_error="raise")


def ridge_cv(x_train: np.ndarray, y_train: np.ndarray, alphas: Sequence[float] = ALPHAS, n_inner: int = N_INNER):
    """Fitted himalaya ``RidgeCV``: no intercept, α per target by unshuffled ``n_inner``-fold CV on R² (the reference's
    ``cross_val_ridge``); ``coef_`` (features, targets), ``best_alphas_`` and ``cv_scores_`` (targets,).
    Call inside :func:`himalaya_backend`; arrays come back in that backend's type."""
    from himalaya.ridge import RidgeCV
    from himalaya.scoring import r2_score

    model = RidgeCV(
        alphas=np.asarray(alphas, dtype=float),
        cv=KFold(n_splits=n_inner),
        solver_params={
            "score_func": r2_score,
            "n_targets_batch": TARGETS_BATCH,
            "n_targets_batch_refit": TARGETS_BATCH,
        },
    )
    return model.fit(x_train, y_train)


def wehbe_encoding(
    word_vectors: np.ndarray,
    dataset: NeuralDataset,
    layers: Sequence[int],
    *,
    alphas: Sequence[float] = ALPHAS,
    n_inner: int = N_INNER,
    backend: str = "numpy",
) -> WehbeEncoding:
    """Outer-fold encoding of every layer. word_vectors: (L, n_words, hidden), all words of the chapter (the first
    ``SKIP_WORDS`` are dropped here); dataset: from :func:`~tuneshift.data.load_wehbe2014`."""
    from himalaya.backend import get_backend

    targets = dataset.targets
    shape = (len(layers), N_FOLDS, targets.shape[1])
    r, chosen, inner = np.empty(shape), np.empty(shape), np.empty(shape)
    with himalaya_backend(backend):
        to_numpy = get_backend().to_numpy
        for fold, (train, test) in enumerate(outer_splits(dataset.n_stimuli)):
            y_train = targets[train]
            y_train = y_train - y_train.mean(0)
            y_test = targets[test]
            for i in range(len(layers)):
                vectors = np.asarray(word_vectors[i, SKIP_WORDS:], dtype=np.float64)
                x_train, x_test = fold_features(vectors, dataset, fold)
                fit = ridge_cv(x_train.astype(targets.dtype), y_train, alphas, n_inner)
                prediction = x_test.astype(targets.dtype) @ to_numpy(fit.coef_)
                r[i, fold] = pearson_r(prediction, y_test)
                chosen[i, fold] = to_numpy(fit.best_alphas_)
                inner[i, fold] = to_numpy(fit.cv_scores_)
    return WehbeEncoding(list(layers), r, chosen, inner)


@dataclass(frozen=True)
class WehbeOptions(ReadoutOptions):
    """Wehbe2014 options: word pooling (Aw et al.: the mean of its tokens) and the himalaya backend for the ridge
    fits (speed only: "torch_cuda" on a GPU)."""

    pooling: str = choice("mean", POOLINGS)
    backend: str = choice("numpy", ("numpy", "torch", "torch_cuda"))


def word_vectors(
    subject: Subject,
    words: Sequence[str],
    options: WehbeOptions | None = None,
    *,
    cache: bool = True,
    progress: bool = True,
) -> Representations:
    """(L, n_words, width) vectors of every word of the chapter at every layer (context: the chapter so far;
    memory-mapped when cached), and the layer labels."""
    options = options or WehbeOptions()
    return subject.representations(
        [list(words)],
        pooling=options.pooling,
        readout=options,
        cache=cache,
        progress=progress,
    )


def _subject_mean(r: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """(L,) the reference's aggregation of (L, F, T) r: mean over folds and voxels per subject, mean over subjects."""
    return np.mean([np.nanmean(r[..., subjects == s], axis=(-2, -1)) for s in np.unique(subjects)], axis=0)


def wehbe2014_ridge(
    subject: Subject,
    options: WehbeOptions | None = None,
    *,
    data_dir=None,
    subjects: Sequence[int] = SUBJECTS,
    download: bool = True,
    cache: bool = True,
    progress: bool = True,
) -> BenchmarkResult:
    """Score every layer of `subject` on Wehbe2014 (see the module docstring); one row per layer."""
    options = options or WehbeOptions()
    dataset = load_wehbe2014(data_dir, subjects=subjects, download=download)
    vectors, layers = word_vectors(subject, dataset.passages[0], options, cache=cache, progress=progress)
    encoding = wehbe_encoding(vectors, dataset, layers, backend=options.backend)
    honest, chosen = encoding.honest()
    scores = score_rows(
        subject.name,
        IDENTIFIER,
        layers,
        encoding.score,
        dataset.ceiling,
        raw_mean_voxels=_subject_mean(encoding.r, dataset.neuroids["subject"].to_numpy()),
    )
    details = {
        "n_stimuli": dataset.n_stimuli,
        "n_neuroids": dataset.n_neuroids,
        "n_dropped_neuroids": dataset.n_dropped_neuroids,
        "honest_layers_per_split": [layers[i] for i in chosen],
        "median_alpha": float(np.median(encoding.alphas)),
    }
    values = neuroid_values(encoding.r, layers, dataset.neuroids, dataset.name)
    return BenchmarkResult(scores, honest_raw=honest, details=details, values=values)


def _run(subject: Subject, options: WehbeOptions, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
    return wehbe2014_ridge(subject, options, cache=cache, progress=progress)


BENCHMARKS.add(
    IDENTIFIER,
    Benchmark(
        IDENTIFIER,
        "neural",
        _run,
        available=datasets_available(("Wehbe2014",)),
        options=WehbeOptions,
        files=dataset_files(("Wehbe2014",)),
        description="Wehbe2014: Aw et al.'s pipeline (PCA 10, delays 1-4, per-voxel ridge CV, 4 contiguous folds)",
        citation=citation(("Wehbe2014",), AW2023_CITATION),
    ),
)
