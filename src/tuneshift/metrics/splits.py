"""Cross-validation splits over stimuli, as index pairs (train, test).

Brain-Score Language (brainscore_language/utils/transformations.py, `Split`) uses scikit-learn splitters directly,
so these call the same classes with the same arguments and give the same index sets:

* ``shuffle`` — ``ShuffleSplit(n_splits=10, train_size=0.9, test_size=None, random_state=1)`` (the
  ``linear_pearsonr`` default; Brain-Score stratifies only when a stratification coordinate is given, which the
  language benchmarks do not).
* ``group`` — ``GroupKFold(n_splits, shuffle=True, random_state=1234)`` over passage/story labels (the "-ridge"
  benchmarks: Pereira2018 10 folds by story, Blank2014 8 folds by story).
* ``kfold`` — ``KFold(n_splits, shuffle=True, random_state=1)`` (Brain-Score's ``kfold=True``).
* ``contiguous`` — contiguous blocks with ``gap`` samples dropped from training on each side of the test block
  (Wehbe et al. 2014 via Toneva & Wehbe: 4 folds, 5 TRs; their reference's own variant is ``trim_test=True``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, ShuffleSplit

from tuneshift.errors import InvalidParameterError

Split = tuple[np.ndarray, np.ndarray]
SPLITTERS = ("shuffle", "group", "kfold", "contiguous")
DEFAULTS = {
    "shuffle": {"n_splits": 10, "random_state": 1},
    "group": {"n_splits": 10, "random_state": 1234},
    "kfold": {"n_splits": 10, "random_state": 1},
    "contiguous": {"n_splits": 4, "gap": 5},
}


def shuffle_splits(
    n_stimuli: int,
    n_splits: int = 10,
    train_size: float | None = 0.9,
    random_state: int | None = 1,
    test_size: float | None = None,
) -> list[Split]:
    """Brain-Score's default: random 90/10 splits, drawn independently (test sets may overlap). The CKA/RDM
    metrics use ``train_size=None, test_size=0.9`` and score the 90 % "test" part."""
    splitter = ShuffleSplit(n_splits=n_splits, train_size=train_size, test_size=test_size, random_state=random_state)
    return list(splitter.split(np.zeros(n_stimuli)))


def group_kfold_splits(groups: Sequence, n_splits: int = 10, random_state: int | None = 1234) -> list[Split]:
    """Whole passages/stories held out together; groups shuffled with ``random_state`` (scikit-learn >= 1.6)."""
    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise InvalidParameterError(
            "n_splits", f"at most the number of groups ({n_groups})", n_splits, "Lower n_splits or pass finer groups."
        )
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(len(groups)), groups=groups))


def kfold_splits(n_stimuli: int, n_splits: int = 10, random_state: int | None = 1) -> list[Split]:
    """Shuffled K-fold, as Brain-Score's ``kfold=True`` without stratification."""
    return list(KFold(n_splits=n_splits, shuffle=True, random_state=random_state).split(np.zeros(n_stimuli)))


def contiguous_folds(n_stimuli: int, n_splits: int = 4) -> np.ndarray:
    """Fold of every stimulus, (n_stimuli,): contiguous blocks of ``n_stimuli // n_splits``, the remainder in the
    last block (Toneva & Wehbe's ``CV_ind``)."""
    if not 0 < n_splits <= n_stimuli:
        raise InvalidParameterError("n_splits", f"between 1 and the number of stimuli ({n_stimuli})", n_splits)
    return np.minimum(np.arange(n_stimuli) // (n_stimuli // n_splits), n_splits - 1)


def contiguous_splits(n_stimuli: int, n_splits: int = 4, gap: int = 5, *, trim_test: bool = False) -> list[Split]:
    """Contiguous test blocks (:func:`contiguous_folds`) kept ``gap`` samples away from the training samples, so that
    the haemodynamic response does not leak across a boundary.

    ``trim_test=False``: the ``gap`` samples on each side of the test block are dropped from training.
    ``trim_test=True``: Toneva & Wehbe's reference (mtoneva/brain_language_nlp, used by Aw et al. 2023 on
    Wehbe2014): the first and last folds drop them from training, a middle fold drops ``gap`` samples at each end of
    its test block instead and trains on every other sample.
    """
    fold = contiguous_folds(n_stimuli, n_splits)
    positions = np.arange(n_stimuli)
    splits = []
    for k in range(n_splits):
        test = np.flatnonzero(fold == k)
        if trim_test and 0 < k < n_splits - 1:
            splits.append((np.flatnonzero(fold != k), test[gap : test.size - gap]))
        else:
            near = (positions >= test[0] - gap) & (positions <= test[-1] + gap)
            splits.append((np.flatnonzero(~near), test))
    return splits


def make_splits(
    cv: str | Sequence[Split],
    n_stimuli: int,
    groups: Sequence | None = None,
    *,
    n_splits: int | None = None,
    train_size: float = 0.9,
    random_state: int | None = None,
    gap: int | None = None,
) -> list[Split]:
    """Splits by name (with the Brain-Score defaults above) or an explicit list of (train, test) index arrays."""
    if not isinstance(cv, str):
        splits = [(np.asarray(train, dtype=np.intp), np.asarray(test, dtype=np.intp)) for train, test in cv]
        if not splits:
            raise InvalidParameterError("cv", "a non-empty list of (train, test) index arrays", cv)
        return splits
    if cv not in DEFAULTS:
        raise InvalidParameterError("cv", f"one of {SPLITTERS} or a list of (train, test) pairs", cv)
    defaults = DEFAULTS[cv]
    n_splits = n_splits or defaults["n_splits"]
    seed = defaults.get("random_state") if random_state is None else random_state
    if cv == "shuffle":
        return shuffle_splits(n_stimuli, n_splits, train_size, seed)
    if cv == "kfold":
        return kfold_splits(n_stimuli, n_splits, seed)
    if cv == "contiguous":
        return contiguous_splits(n_stimuli, n_splits, defaults["gap"] if gap is None else gap)
    if groups is None:
        raise InvalidParameterError(
            "groups", "one passage/story label per stimulus for cv='group'", None, "Pass groups=story_labels."
        )
    if len(groups) != n_stimuli:
        raise InvalidParameterError("groups", f"{n_stimuli} labels (one per stimulus)", f"{len(groups)} labels")
    return group_kfold_splits(groups, n_splits, seed)
