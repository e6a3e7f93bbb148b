"""Blank2014 (TR chunks of stories) and Fedorenko2016 (words of sentences) from Brain-Score's assembly layout."""

from __future__ import annotations

import numpy as np
import pytest
from tests.data.conftest import record_as_fetched

from tuneshift.data import load_blank2014, load_fedorenko2016
from tuneshift.errors import DataNotFoundError, InvalidInputError

# (story, sentence_number_in_story, part_number_in_sentence, text presented in the TR) — reading order.
BLANK_ROWS = [
    ("Boar", 0, 0, "If you were "),
    ("Boar", 0, 1, "to journey north, "),
    ("Boar", 1, 0, "long-"),
    ("Boar", 1, 1, "bearded owners. "),
    ("Aqua", 0, 0, "Once upon a "),
    ("Aqua", 0, 1, "time. "),
]


def _write_blank(tmp_path, writer, rows, *, shuffle=True, **kwargs):
    order = [3, 0, 5, 2, 4, 1] if shuffle else list(range(len(rows)))  # assembly order is not reading order
    rows = [rows[i] for i in order]
    values = np.arange(len(rows) * 4, dtype=float).reshape(len(rows), 4)
    presentation = {
        "stimulus": [r[3] for r in rows],
        "stimulus_id": [f"{r[0]}.{r[1]}.{r[2]}" for r in rows],
        "story": [r[0] for r in rows],
        "sentence_number_in_story": [r[1] for r in rows],
        "part_number_in_sentence": [r[2] for r in rows],
    }
    neuroid = {
        "subject_id": ["061", "061", "085", "085"],
        "fROI_area": ["01_LH_PostTemp", "03_LH_IFG"] * 2,
        "neuroid_id": ["061.01_LH_PostTemp", "061.03_LH_IFG", "085.01_LH_PostTemp", "085.03_LH_IFG"],
    }
    writer(tmp_path / "Blank2014" / "assy_Blank2014_fROI.nc", values, presentation, neuroid, **kwargs)
    return values, presentation


def test_blank2014_reading_order_and_words(tmp_path, brainio_writer):
    values, presentation = _write_blank(tmp_path, brainio_writer, BLANK_ROWS, time_bin=True)
    ds = load_blank2014(tmp_path, download=False)
    assert ds.meta["story"] == ["Aqua", "Boar"]
    assert ds.passages == [
        ["Once", "upon", "a", "time."],
        ["If", "you", "were", "to", "journey", "north,", "long-", "bearded", "owners."],
    ]
    assert ds.stimulus_id.tolist() == ["Aqua.0.0", "Aqua.0.1", "Boar.0.0", "Boar.0.1", "Boar.1.0", "Boar.1.1"]
    assert ds.stimulus_word.tolist() == [2, 3, 2, 5, 6, 8]
    assert ds.stimulus_text(3) == "If you were to journey north,"
    # Rows follow the reordering: the target of stimulus Boar.0.1 is the assembly row that carried it.
    row = presentation["stimulus_id"].index("Boar.0.1")
    np.testing.assert_array_equal(ds.targets[3], values[row])
    assert ds.groups.tolist() == ["Aqua", "Aqua", "Boar", "Boar", "Boar", "Boar"]
    assert ds.neuroids["subject"].tolist() == ["061", "061", "085", "085"]
    assert ds.neuroids["region"].tolist() == ["01_LH_PostTemp", "03_LH_IFG"] * 2
    assert ds.ceiling == pytest.approx(0.21026591)


def test_blank2014_empty_tr_dropped_with_warning(tmp_path, brainio_writer):
    rows = [*BLANK_ROWS[:5], ("Aqua", 0, 1, " ")]
    _write_blank(tmp_path, brainio_writer, rows, shuffle=False)
    with pytest.warns(UserWarning, match="dropped 1 TRs without new words"):
        ds = load_blank2014(tmp_path, download=False)
    assert ds.n_stimuli == 5 and ds.meta["n_dropped_stimuli"] == 1


def test_blank2014_wrong_dims_and_missing(tmp_path, brainio_writer):
    with pytest.raises(DataNotFoundError, match=r"assy_Blank2014_fROI\.nc"):
        load_blank2014(tmp_path, download=False)
    path = tmp_path / "Blank2014" / "assy_Blank2014_fROI.nc"
    path.parent.mkdir(parents=True)
    import xarray as xr

    xr.DataArray(np.zeros((2, 3)), dims=("timepoint", "neuroid"), name="x").to_netcdf(path)
    record_as_fetched(path)  # past the checksum check, to the reader's own errors
    with pytest.raises(InvalidInputError, match="expected 'presentation' and 'neuroid'"):
        load_blank2014(tmp_path, download=False)
    path.write_bytes(b"not a netcdf file")
    record_as_fetched(path)
    with pytest.raises(InvalidInputError, match="not a readable netCDF file"):
        load_blank2014(tmp_path, download=False)


SENTENCES = ["ALEX WAS TIRED SO HE TOOK A NAP", "THE DOG RAN TO THE RED BARN DOOR"]


def _write_fedorenko(tmp_path, writer, word_num=None, nan_electrode=False):
    words = [w for s in SENTENCES for w in s.split()]
    values = np.random.default_rng(2).normal(size=(16, 3))
    if nan_electrode:
        values[5, 2] = np.nan
    presentation = {
        "stimulus_id": list(range(16)),
        "stimulus": words,
        "word": words,
        "word_num": word_num or [i % 8 for i in range(16)],
        "sentence_id": [i // 8 for i in range(16)],
    }
    neuroid = {"electrode": [0, 1, 2], "neuroid_id": [0, 1, 2], "subject_UID": [1, 1, 2]}
    writer(tmp_path / "Fedorenko2016" / "assy_Fedorenko2016_language.nc", values, presentation, neuroid)
    return values


def test_fedorenko2016_words_of_sentences(tmp_path, brainio_writer):
    values = _write_fedorenko(tmp_path, brainio_writer)
    ds = load_fedorenko2016(tmp_path, download=False)
    assert [" ".join(p) for p in ds.passages] == SENTENCES
    assert ds.stimulus_text(0) == "ALEX" and ds.stimulus_text(11) == "THE DOG RAN TO"
    assert ds.stimulus_passage.tolist() == [0] * 8 + [1] * 8
    np.testing.assert_array_equal(ds.targets, values)
    assert ds.neuroids["subject"].tolist() == ["1", "1", "2"]
    assert ds.groups.tolist() == [0] * 8 + [1] * 8
    assert ds.ceiling is None


def test_fedorenko2016_malformed(tmp_path, brainio_writer):
    _write_fedorenko(tmp_path, brainio_writer, word_num=[0, 1, 2, 3, 4, 5, 6, 6, *range(8)])
    with pytest.raises(InvalidInputError, match="sentence_id 0 has word_num"):
        load_fedorenko2016(tmp_path, download=False)
    _write_fedorenko(tmp_path, brainio_writer, nan_electrode=True)
    with pytest.warns(UserWarning, match="dropped 1 of 3 neuroids"):
        ds = load_fedorenko2016(tmp_path, download=False)
    assert ds.n_dropped_neuroids == 1 and ds.neuroids["neuroid_id"].tolist() == [0, 1]
