"""Pereira2018 from Brain-Score's assembly layout and from Pereira's per-subject .mat files."""

from __future__ import annotations

import numpy as np
import pytest

from tuneshift.data import DATASETS, load_pereira2018
from tuneshift.errors import DataNotFoundError, InvalidInputError, InvalidParameterError


def test_assembly_243_passages_context_and_absent_subject(pereira_assembly):
    root, truth = pereira_assembly
    ds = load_pereira2018(root, experiment="243sentences", download=False)
    # Subject 199 did not run 243sentences: left out silently, not counted as dropped NaN voxels.
    assert ds.neuroids["neuroid_id"].tolist() == ["018.0", "018.1", "018.2"]
    assert ds.n_dropped_neuroids == 0 and ds.meta["n_absent_neuroids"] == 2
    np.testing.assert_array_equal(ds.targets, truth["values"][:5, :3])
    assert ds.passages == [
        ["Alpha", "one.", "Alpha", "two", "words.", "Alpha", "three."],
        ["Beta", "one.", "Beta", "two."],
    ]
    # Read-out at each sentence's last word, with the passage's earlier sentences as context.
    assert ds.stimulus_word.tolist() == [1, 4, 6, 1, 3]
    assert ds.stimulus_text(1) == "Alpha one. Alpha two words."
    assert ds.stimulus_text(3) == "Beta one."
    assert ds.groups.tolist() == ["243.a"] * 3 + ["243.b"] * 2
    assert ds.ceiling == pytest.approx(0.35378928)
    assert ds.neuroids["region"].tolist() == ["LH_AntTemp", "LH_IFG", "LH_PostTemp"]


def test_assembly_384_drops_nan_voxel_with_warning(pereira_assembly):
    root, truth = pereira_assembly
    with pytest.warns(UserWarning, match="dropped 1 of 5 neuroids"):
        ds = DATASETS.get("Pereira2018.384sentences").load(root, download=False)
    assert ds.n_dropped_neuroids == 1
    assert ds.neuroids["neuroid_id"].tolist() == ["018.0", "018.1", "018.2", "199.0"]
    np.testing.assert_array_equal(ds.targets, truth["values"][5:, :4])
    assert not np.isnan(ds.targets).any()
    assert ds.ceiling == pytest.approx(0.36343748)
    assert [len(p) for p in ds.passages] == [6, 4]


def test_subject_and_region_selection(pereira_assembly):
    root, _ = pereira_assembly
    ds = load_pereira2018(root, experiment="243sentences", subjects=["018"], regions=["LH_IFG"], download=False)
    assert ds.neuroids["neuroid_id"].tolist() == ["018.1"]
    with pytest.raises(InvalidParameterError, match="subjects/regions"):
        load_pereira2018(root, experiment="243sentences", subjects=["999"], download=False)
    with pytest.raises(InvalidParameterError, match="experiment"):
        load_pereira2018(root, experiment="627sentences", download=False)


def test_missing_assembly_names_file_url_and_path(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_pereira2018(tmp_path, download=False)
    message = str(info.value)
    assert "assy_Pereira2018_language.nc" in message
    assert "https://brainscore-language.s3.amazonaws.com/assy_Pereira2018_language.nc" in message
    assert str(tmp_path / "Pereira2018" / "assy_Pereira2018_language.nc") in message
    assert "f8434b4022f5b2c862f0ff2854d5b3f5f2a7fb96" in message


def test_assembly_without_passage_label_is_refused(tmp_path, brainio_writer):
    brainio_writer(
        tmp_path / "Pereira2018" / "assy_Pereira2018_language.nc",
        np.zeros((2, 1)),
        {"stimulus": ["A b.", "C d."], "stimulus_id": ["x", "y"], "experiment": ["384sentences"] * 2},
        {"neuroid_id": ["n"], "subject": ["s"]},
    )
    with pytest.raises(InvalidInputError, match="passage_label missing along 'presentation'"):
        load_pereira2018(tmp_path, download=False)


def test_assembly_with_empty_sentence_is_refused(tmp_path, brainio_writer):
    brainio_writer(
        tmp_path / "Pereira2018" / "assy_Pereira2018_language.nc",
        np.zeros((2, 1)),
        {
            "stimulus": ["A b.", " "],
            "stimulus_id": ["x", "y"],
            "experiment": ["384sentences"] * 2,
            "passage_label": ["p", "p"],
        },
        {"neuroid_id": ["n"], "subject": ["s"]},
    )
    with pytest.raises(InvalidInputError, match="stimulus 'y' has no text"):
        load_pereira2018(tmp_path, download=False)


SENTENCES = ["One a.", "One b.", "Two a.", "Two b.", "Two c."]
MAT_ARGS = dict(
    sentences=SENTENCES,
    passage_of_sentence=[1, 1, 2, 2, 2],
    passages=["apple", "piano"],
    category_of_passage=[2, 1],
    categories=["music", "fruit"],
    roi_names=["Frontal_Inf_Tri_L", "Temporal_Sup_L"],
)


def _write_subjects(tmp_path, writer):
    rng = np.random.default_rng(1)
    examples = {s: rng.normal(size=(5, 4)).astype(np.float32) for s in ("M01", "P01")}
    for subject, values in examples.items():
        writer(
            tmp_path / "Pereira2018" / subject / "examples_243sentences.mat",
            values,
            roi_index=np.array([1, 2, 0, 2]),
            **MAT_ARGS,
        )
    return examples


def test_mat_release(tmp_path, pereira_mat_writer):
    examples = _write_subjects(tmp_path, pereira_mat_writer)
    ds = load_pereira2018(tmp_path, experiment="243sentences", source="mat")
    np.testing.assert_array_equal(ds.targets, np.concatenate([examples["M01"], examples["P01"]], axis=1))
    assert ds.neuroids["subject"].tolist() == ["M01"] * 4 + ["P01"] * 4
    assert ds.neuroids["region"].tolist()[:4] == ["Frontal_Inf_Tri_L", "Temporal_Sup_L", "unlabelled", "Temporal_Sup_L"]
    assert ds.meta["passage_category"].tolist() == ["fruit", "fruit", "music", "music", "music"]
    assert ds.groups.tolist() == ["apple", "apple", "piano", "piano", "piano"]
    assert ds.stimulus_text(4) == "Two a. Two b. Two c."
    assert ds.stimulus_id.tolist() == [f"243sentences.{i}" for i in range(5)]
    only_temporal = load_pereira2018(tmp_path, experiment="243sentences", source="mat", regions=["Temporal_Sup_L"])
    assert only_temporal.n_neuroids == 4


def test_mat_missing_variable_and_wrong_dims(tmp_path, pereira_mat_writer):
    path = tmp_path / "Pereira2018" / "M01" / "examples_243sentences.mat"
    pereira_mat_writer(path, np.zeros((5, 4)), roi_index=np.zeros(4), keySentences=None, **MAT_ARGS)
    with pytest.raises(InvalidInputError, match=r"examples_243sentences.mat: variable\(s\) keySentences missing"):
        load_pereira2018(tmp_path, experiment="243sentences", source="mat")
    pereira_mat_writer(path, np.zeros((4, 4)), roi_index=np.zeros(4), **MAT_ARGS)
    with pytest.raises(InvalidInputError, match="keySentences lists 5 sentences but examples has 4 rows"):
        load_pereira2018(tmp_path, experiment="243sentences", source="mat")


def test_mat_subjects_with_different_sentences_are_refused(tmp_path, pereira_mat_writer):
    _write_subjects(tmp_path, pereira_mat_writer)
    other = dict(MAT_ARGS, sentences=[*SENTENCES[:4], "Different."])
    pereira_mat_writer(
        tmp_path / "Pereira2018" / "P01" / "examples_243sentences.mat", np.zeros((5, 4)), roi_index=np.zeros(4), **other
    )
    with pytest.raises(InvalidInputError, match="keySentences differ"):
        load_pereira2018(tmp_path, experiment="243sentences", source="mat")


def test_mat_missing_release_says_where(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"osf\.io.*Pereira2018/<subject>/examples_384sentences\.mat"):
        load_pereira2018(tmp_path, source="mat")
