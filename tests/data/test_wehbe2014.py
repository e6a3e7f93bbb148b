"""Wehbe2014 loader: the subject_*.mat layout (its feature pipeline: tests/benchmarks/test_wehbe2014_pipeline.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import zscore

from tuneshift.data import load_wehbe2014
from tuneshift.errors import DataNotFoundError, InvalidInputError

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
