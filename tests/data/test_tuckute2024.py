"""Tuckute2024: the bundled CSV loads with no download, one passage per sentence."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from tuneshift.data import DATASETS, load_tuckute2024
from tuneshift.data.tuckute2024 import FROIS, bundled_path
from tuneshift.errors import InvalidInputError, InvalidParameterError


def test_bundled_netw_default():
    ds = DATASETS.get("Tuckute2024").load()
    assert ds.n_stimuli == 1000 and ds.targets.shape == (1000, 1)
    assert ds.stimulus_id[0] == "B.1" and ds.stimulus_id[-1] == "B.1000"
    # First row of the published CSV: B.1, "Taste that fowl and those fish.", lang_LH_netw 0.421033246.
    assert ds.targets[0, 0] == pytest.approx(0.421033246, abs=1e-12)
    assert ds.stimulus_text(0) == "Taste that fowl and those fish."
    assert len(ds.passages) == 1000  # every sentence is its own passage (Brain-Score digests them one by one)
    assert (ds.stimulus_word == np.array([len(ds.passages[p]) - 1 for p in ds.stimulus_passage])).all()
    assert ds.neuroids["neuroid_id"].tolist() == ["lang_LH_netw"]
    assert ds.ceiling is None and ds.n_dropped_neuroids == 0


def test_frois_and_all():
    frois = load_tuckute2024(targets="frois")
    assert frois.neuroids["region"].tolist() == list(FROIS)
    np.testing.assert_allclose(frois.targets[0], [0.31203292, 0.503357738, 0.171333328, 0.496015242, 0.479702804])
    both = load_tuckute2024(targets="all")
    assert both.targets.shape == (1000, 6)
    with pytest.raises(InvalidParameterError, match="targets"):
        load_tuckute2024(targets="rh")


def test_bundled_copy_is_the_published_file():
    # sha256 of bold_response_LH.csv as published (SOURCE.md): the bundled copy is unchanged
    digest = hashlib.sha256(bundled_path().read_bytes()).hexdigest()
    assert digest == "7b794f7efbd2abd76012d629e4f7a19bb758bb0a85a1fae8c50e8fadd52f1e0f"


def test_malformed_csv(tmp_path):
    frame = pd.read_csv(bundled_path()).head(3)
    frame.drop(columns="lang_LH_netw").to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(InvalidInputError, match=r"a\.csv: column\(s\) lang_LH_netw missing"):
        load_tuckute2024(path=tmp_path / "a.csv")
    frame.assign(item_id=["B.1", "B.1", "B.2"]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(InvalidInputError, match="stimulus ids are not unique"):
        load_tuckute2024(path=tmp_path / "b.csv")
    frame.assign(sentence=["A b.", "", "C d."]).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(InvalidInputError, match=r"stimulus 'B\.2' has no text"):
        load_tuckute2024(path=tmp_path / "c.csv")
    with_nan = frame.copy()
    with_nan.loc[1, "lang_LH_IFG"] = np.nan
    with_nan.to_csv(tmp_path / "d.csv", index=False)
    with pytest.warns(UserWarning, match="dropped 1 of 6 neuroids"):
        ds = load_tuckute2024(path=tmp_path / "d.csv", targets="all")
    assert ds.n_dropped_neuroids == 1 and "lang_LH_IFG" not in ds.neuroids["neuroid_id"].tolist()
