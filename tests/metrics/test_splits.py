"""Splits equal the scikit-learn splitters Brain-Score builds (brainscore_language/utils/transformations.py)."""

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, ShuffleSplit

from tuneshift.errors import InvalidParameterError
from tuneshift.metrics import contiguous_folds, contiguous_splits, make_splits


def assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for (a, b), (c, d) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_shuffle_default_is_brainscore_linear_pearsonr():
    theirs = list(ShuffleSplit(n_splits=10, train_size=0.9, test_size=None, random_state=1).split(np.zeros(384)))
    ours = make_splits("shuffle", 384)
    assert_same(ours, theirs)
    assert [len(test) for _, test in ours] == [39] * 10  # 384 - floor(0.9 · 384)


def test_group_is_brainscore_ridge_benchmarks():
    groups = np.repeat(np.arange(24), 4)[::-1]
    theirs = list(GroupKFold(n_splits=8, shuffle=True, random_state=1234).split(np.zeros(96), groups=groups))
    ours = make_splits("group", 96, groups, n_splits=8)
    assert_same(ours, theirs)
    for train, test in ours:  # whole passages held out
        assert not set(groups[train]) & set(groups[test])


def test_contiguous_drops_gap_around_test_block():
    splits = contiguous_splits(40, n_splits=4, gap=2)
    train, test = splits[1]
    np.testing.assert_array_equal(test, np.arange(10, 20))
    np.testing.assert_array_equal(train, np.r_[0:8, 22:40])
    np.testing.assert_array_equal(splits[3][1], np.arange(30, 40))


def test_contiguous_trim_test_shrinks_middle_test_blocks_as_toneva_wehbe():
    default, reference = contiguous_splits(40, 4, 2), contiguous_splits(40, 4, 2, trim_test=True)
    assert_same([default[0], default[3]], [reference[0], reference[3]])  # end folds: the gap comes out of training
    train, test = reference[1]
    np.testing.assert_array_equal(test, np.arange(12, 18))
    np.testing.assert_array_equal(train, np.r_[0:10, 20:40])
    np.testing.assert_array_equal(contiguous_folds(10, 3), [0, 0, 0, 1, 1, 1, 2, 2, 2, 2])  # remainder: last fold
    with pytest.raises(InvalidParameterError, match="n_splits"):
        contiguous_splits(3, n_splits=4)


def test_group_needs_groups():
    with pytest.raises(InvalidParameterError, match="groups"):
        make_splits("group", 10)
    with pytest.raises(InvalidParameterError, match="cv"):
        make_splits("loo", 10)
