"""Notebook API: cross-validated encoding score from plain arrays, for one layer or many at once.

``encoding_score(features, targets)`` reproduces Brain-Score Language's ``linear_pearsonr``: 10 ShuffleSplit
(train 0.9, random_state=1) splits over stimuli; OLS with intercept fit on the training stimuli; Pearson r per
neuroid on the test stimuli (Brain-Score's batched form, norms + 1e-8); median over neuroids, then mean over
splits. With several layers (layers × stimuli × features, or a list of stimuli × features arrays of any widths)
all layers share the splits and the targets, and one score per layer comes back.

Honest best layer (``honest=True``): the maximum over layers of test scores is optimistically biased (the layer is
chosen on the test data; over 30–80 layers the bias is not small). For each outer split we instead choose the
layer with the best *inner* cross-validated score computed on that split's training stimuli only (``inner_splits``
folds: GroupKFold over the training groups when ``groups`` is given, else shuffled KFold, seed 0; same regression,
same aggregation), and report that layer's outer-test score; the honest score is the mean over outer splits.
For ridge, the layer is chosen by default from the leave-one-out predictions of the training stimuli that the GCV
fit computes anyway (the r of those predictions, median over neuroids): the same question asked of the same
training stimuli, without the 5 × more fits of an inner CV (``honest_method="inner"`` keeps the inner CV).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.metrics._backend import Backend, get_backend
from tuneshift.metrics.regression import LayerDesign, RidgeGCVSolver, Solver, make_solver
from tuneshift.metrics.splits import Split, group_kfold_splits, kfold_splits, make_splits
from tuneshift.progress import Tracker
from tuneshift.progress import progress as progress_of

#: Brain-Score's ``pearsonr`` adds this to both norms (brainscore_language/metrics/linear_predictivity/metric.py).
BRAINSCORE_EPS = 1e-8
_CHUNK_BYTES = 512 * 2**20


def pearson_r(a: Any, b: Any, eps: float = BRAINSCORE_EPS) -> Any:
    """Pearson r between matching columns of (..., stimuli, neuroids) arrays → (..., neuroids).

    Brain-Score's form Σ (a_c / (‖a_c‖ + eps)) (b_c / (‖b_c‖ + eps)), written as one division so that only three
    (..., stimuli, neuroids) temporaries are made (the layer sweep is memory-bound here)."""
    am = a - a.mean(-2)[..., None, :]
    bm = b - b.mean(-2)[..., None, :]
    a_norm = ((am * am).sum(-2)) ** 0.5 + eps
    b_norm = ((bm * bm).sum(-2)) ** 0.5 + eps
    return (am * bm).sum(-2) / (a_norm * b_norm)


class CrossValidated(NamedTuple):
    """Every (layer, split, neuroid) of a cross-validation: test r, and the solver's α and leave-one-out r."""

    r: np.ndarray  # (L, S, T) Pearson r on each split's test stimuli
    alpha: np.ndarray | None  # (L, S, T) ridge α chosen by GCV, or None
    loo_r: np.ndarray | None  # (L, S, T) r of the leave-one-out predictions of the training stimuli, or None


def cross_validated_r(
    design: LayerDesign,
    targets: Any,
    splits: Sequence[Split],
    solver: Solver,
    backend: Backend,
    eps: float = BRAINSCORE_EPS,
    tracker: Tracker | None = None,
) -> CrossValidated:
    """Test-split Pearson r for every (layer, split, neuroid) → (L, S, T), with what the solver reports besides
    (ridge: the chosen α and the leave-one-out r). Layers are processed in chunks that keep each split's working
    set under ~512 MiB; `tracker` advances by one per (layer, split) fit."""
    n_layers, n_targets = design.n_layers, targets.shape[-1]
    r = np.empty((n_layers, len(splits), n_targets))
    extras: dict[str, np.ndarray] = {}
    for s, (train, test) in enumerate(splits):
        chunk = max(1, int(_CHUNK_BYTES // design.working_bytes(len(train), n_targets)))
        train_idx, test_idx = backend.index(train), backend.index(test)
        y_train, y_test = targets[train_idx], targets[test_idx]
        y_mean = y_train.mean(0)
        for start in range(0, n_layers, chunk):
            blocks = design.blocks(slice(start, start + chunk), train_idx, test_idx)
            fit = solver(blocks, y_train - y_mean, backend)
            # r is shift-invariant: the training mean ȳ need not be added back to the prediction
            r[start : start + chunk, s] = backend.to_numpy(pearson_r(fit.prediction, y_test, eps))
            for name in ("alpha", "loo_r"):
                value = getattr(fit, name)
                if value is not None:
                    extras.setdefault(name, np.empty_like(r))[start : start + chunk, s] = backend.to_numpy(value)
            if tracker is not None:
                tracker.advance(min(chunk, n_layers - start))
    return CrossValidated(r, extras.get("alpha"), extras.get("loo_r"))


def aggregate(r: np.ndarray) -> np.ndarray:
    """Brain-Score aggregation of (..., S, T) r: median over neuroids (NaN skipped), then mean over splits."""
    return np.nanmedian(r, axis=-1).mean(-1)


@dataclass
class HonestLayerScore:
    """Best layer chosen per outer split on training stimuli only (see module docstring)."""

    score: float
    per_split: np.ndarray  # (S,) outer-test score of the chosen layer
    chosen_layers: np.ndarray  # (S,) layer index chosen in each split
    inner_scores: np.ndarray  # (S, L) inner-CV score of every layer


@dataclass
class EncodingResult:
    """Scores of one layer (scalars, (T,), (S,)) or of L layers (leading axis L on every array)."""

    score: float | np.ndarray  # median over neuroids, mean over splits
    per_neuroid: np.ndarray  # (T,) | (L, T): mean over splits of r
    per_split: np.ndarray  # (S,) | (L, S): median over neuroids per split
    split_neuroid: np.ndarray  # (S, T) | (L, S, T): every r
    splits: list[Split]
    alphas: np.ndarray | None = None  # ridge: chosen α, shaped like split_neuroid
    breakdown: dict[str, dict[Any, float | np.ndarray]] = field(default_factory=dict)
    honest: HonestLayerScore | None = None

    @property
    def best_layer(self) -> int:
        """Index of the layer with the highest score (test-selected: optimistic; see ``honest``)."""
        return int(np.argmax(self.score))

    @property
    def best_score(self) -> float:
        return float(np.max(self.score))


def _layer_design(features: Any, backend: Backend) -> tuple[LayerDesign, bool]:
    """The layers of a 2-D array, a 3-D stack, or a list of 2-D arrays; and whether several layers were given."""
    if isinstance(features, np.ndarray | Sequence) and not isinstance(features, np.ndarray):
        layers = list(features)
        stacked = True
    else:
        ndim = getattr(features, "ndim", None)
        if ndim not in (2, 3):
            raise InvalidInputError(
                f"features must be stimuli × features (2-D), layers × stimuli × features (3-D) or a list of 2-D "
                f"arrays; got shape {getattr(features, 'shape', None)}."
            )
        stacked = ndim == 3
        layers = list(features) if stacked else [features]
    if not layers or any(np.ndim(layer) != 2 for layer in layers):
        raise InvalidInputError("every layer must be a 2-D stimuli × features array.")
    n = {np.shape(layer)[0] for layer in layers}
    if len(n) != 1:
        raise InvalidInputError(f"all layers must have the same number of stimuli; got {sorted(n)}.")
    return LayerDesign(layers, backend), stacked


def _breakdown(r: np.ndarray, neuroid_labels: Mapping[str, Sequence]) -> dict[str, dict[Any, np.ndarray]]:
    """Per label value: median over that value's neuroids per split, mean over splits → (L,)."""
    out = {}
    for name, labels in neuroid_labels.items():
        labels = np.asarray(labels)
        if labels.shape != (r.shape[-1],):
            raise InvalidParameterError(
                f"neuroid_labels[{name!r}]", f"{r.shape[-1]} labels (one per neuroid)", labels.shape
            )
        out[name] = {value: aggregate(r[..., labels == value]) for value in np.unique(labels)}
    return out


def _inner_splits(train: np.ndarray, groups: np.ndarray | None, n_inner: int) -> list[Split]:
    """Folds of the training stimuli `train` (indices into all stimuli) for the honest layer choice, seed 0."""
    if groups is not None:
        folds = group_kfold_splits(groups[train], n_inner, random_state=0)
    else:
        folds = kfold_splits(train.size, n_inner, random_state=0)
    return [(train[a], train[b]) for a, b in folds]


def honest_layer_score(
    design: LayerDesign,
    targets: Any,
    splits: Sequence[Split],
    outer: CrossValidated,
    solver: Solver,
    backend: Backend,
    groups: np.ndarray | None = None,
    inner_splits: int = 5,
    eps: float = BRAINSCORE_EPS,
    tracker: Tracker | None = None,
    method: str = "auto",
) -> HonestLayerScore:
    """Choose the layer on each outer split's training stimuli, report its outer-test score.

    method: "inner" — an inner ``inner_splits``-fold CV on the training stimuli (same regression, same
    aggregation); "loo" — the leave-one-out predictions of the training stimuli that the ridge GCV fit already
    made (median over neuroids of their r), so no fit is added; "auto" — "loo" when the solver reports it (ridge),
    else "inner".
    """
    if method not in ("auto", "inner", "loo"):
        raise InvalidParameterError("honest_method", "'auto', 'inner' or 'loo'", method)
    if method == "loo" and outer.loo_r is None:
        raise InvalidParameterError("honest_method", "'inner' for a regression without GCV", method)
    if method != "inner" and outer.loo_r is not None:
        inner_scores = np.nanmedian(outer.loo_r, axis=-1).T  # (S, L)
    else:
        inner_scores = np.stack(
            [
                aggregate(
                    cross_validated_r(
                        design, targets, _inner_splits(train, groups, inner_splits), solver, backend, eps, tracker
                    ).r
                )
                for train, _ in splits
            ]
        )  # (S, L)
    chosen = inner_scores.argmax(1)
    per_split = np.nanmedian(outer.r, axis=-1)[chosen, np.arange(len(splits))]
    return HonestLayerScore(float(per_split.mean()), per_split, chosen, inner_scores)


def encoding_score(
    features: Any,
    targets: Any,
    regression: str | Solver = "linear",
    cv: str | Sequence[Split] = "shuffle",
    groups: Sequence | None = None,
    *,
    n_splits: int | None = None,
    train_size: float = 0.9,
    random_state: int | None = None,
    gap: int | None = None,
    alphas: Sequence[float] | None = None,
    alpha_per_target: bool = False,
    neuroid_labels: Mapping[str, Sequence] | None = None,
    honest: bool = False,
    inner_splits: int = 5,
    honest_method: str = "auto",
    backend: str | Backend = "numpy",
    device: str | None = None,
    dtype: Any = None,
    correlation_eps: float = BRAINSCORE_EPS,
    progress: bool = False,
) -> EncodingResult:
    """Cross-validated encoding score of ``targets`` (stimuli × neuroids) from ``features``.

    features: stimuli × features, layers × stimuli × features, or a list of stimuli × features arrays.
    regression: "linear" (min-norm OLS, Brain-Score ``linear_pearsonr``) or "ridge" (leave-one-out α over
        ``alphas``, default logspace(-3, 3, 7); ``alpha_per_target=False`` as Brain-Score's ``ridge_pearsonr``,
        True as ``RidgeCV(alpha_per_target=True)``).
    cv: "shuffle" (10 × 90/10, seed 1), "group" (GroupKFold by ``groups``, 10 folds, seed 1234), "kfold",
        "contiguous" (4 blocks, ``gap`` 5), or explicit (train, test) index pairs; ``n_splits``/``random_state``
        override the defaults (Blank2014-ridge: cv="group", n_splits=8).
    neuroid_labels: e.g. {"subject": subject_per_neuroid, "region": roi_per_neuroid} → ``result.breakdown``.
    honest: also choose the best layer per split on training stimuli only → ``result.honest``; honest_method:
        "auto" (ridge: from the GCV fit's leave-one-out predictions, no extra fit; OLS: inner CV), "inner", "loo".
    backend: "numpy" or "torch" (CUDA when present; float64 unless ``dtype`` says otherwise).
    progress: report the fits done (a bar on a terminal, plain lines in a log; see tuneshift.progress).
    """
    b = get_backend(backend, device=device, dtype=dtype)
    design, stacked = _layer_design(features, b)
    y = b.asarray(targets)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != design.n_stimuli:
        raise InvalidInputError(
            f"targets must be stimuli × neuroids with {design.n_stimuli} stimuli (as features); got {tuple(y.shape)}."
        )
    if not bool((y == y).all()):
        raise InvalidInputError("targets contain NaN; drop those neuroids (Brain-Score does dropna('neuroid')).")
    group_array = None if groups is None else np.asarray(groups)
    splits = make_splits(
        cv, design.n_stimuli, group_array, n_splits=n_splits, train_size=train_size, random_state=random_state, gap=gap
    )
    solver = make_solver(regression, alphas, alpha_per_target)
    inner_fits = inner_splits if honest and (honest_method == "inner" or not isinstance(solver, RidgeGCVSolver)) else 0
    n_fits = design.n_layers * len(splits) * (1 + inner_fits)
    name = regression if isinstance(regression, str) else "regression"
    with progress_of(f"fitting {name}", n_fits, enabled=progress, unit="layer × split fits") as tracker:
        outer = cross_validated_r(design, y, splits, solver, b, correlation_eps, tracker)
        honest_result = (
            honest_layer_score(
                design, y, splits, outer, solver, b, group_array, inner_splits, correlation_eps, tracker, honest_method
            )
            if honest
            else None
        )
    r, info = outer.r, outer.alpha
    per_split = np.nanmedian(r, axis=-1)
    result = EncodingResult(
        score=per_split.mean(-1),
        per_neuroid=r.mean(1),
        per_split=per_split,
        split_neuroid=r,
        splits=splits,
        alphas=info,
        breakdown=_breakdown(r, neuroid_labels or {}),
        honest=honest_result,
    )
    if not stacked:
        result.score = float(result.score[0])
        result.per_neuroid, result.per_split, result.split_neuroid = r.mean(1)[0], per_split[0], r[0]
        result.alphas = None if info is None else info[0]
        result.breakdown = {k: {v: float(s[0]) for v, s in d.items()} for k, d in result.breakdown.items()}
    return result
