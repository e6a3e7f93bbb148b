"""Pereira et al. 2018: fMRI responses to sentences grouped in passages of 3–4 sentences.

Two experiments: ``384sentences`` (96 passages) and ``243sentences`` (72 passages). A stimulus is a sentence; its
passage's earlier sentences are its context (Brain-Score feeds each passage's sentences in order and reads the
last token of each). Two sources:

- ``source="brainscore"`` (default): Brain-Score's assembly ``Pereira2018.language`` — language-network voxels of
  10 subjects, both experiments (subjects that did not run an experiment have NaN there and are left out of it).
- ``source="mat"``: Pereira's original per-subject release,
  ``<data_dir>/Pereira2018/<subject>/examples_<experiment>.mat`` (variables ``examples``, ``keySentences``,
  ``labelsPassageForEachSentence``, ``keyPassages``, ``labelsPassageCategory``, ``keyPassageCategory``,
  ``meta``). These files hold all voxels with the AAL atlas (``meta.roiMultimaskAAL``/``meta.roisAAL``), not
  Brain-Score's language-network selection; ``regions`` selects AAL regions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from tuneshift.config import data_dir as resolve_data_dir
from tuneshift.data._brainio import assembly_file, read_assembly
from tuneshift.data._dataset import DATASETS, DatasetInfo, NeuralDataset, build_dataset, passages_from_texts
from tuneshift.data._fetch import fetch_file
from tuneshift.data._matlab import cellstr, column, load_mat, struct_field
from tuneshift.errors import DataNotFoundError, InvalidInputError, InvalidParameterError
from tuneshift.metrics.ceiling import CEILINGS

CITATION = """@article{pereira2018toward,
  title={Toward a universal decoder of linguistic meaning from brain activation},
  author={Pereira, Francisco and Lou, Bin and Pritchett, Brianna and Ritter, Samuel and Gershman, Samuel J
          and Kanwisher, Nancy and Botvinick, Matthew and Fedorenko, Evelina},
  journal={Nature communications},
  volume={9},
  number={1},
  pages={1--13},
  year={2018},
  publisher={Nature Publishing Group}
}"""
EXPERIMENTS = ("243sentences", "384sentences")
ASSEMBLY = assembly_file("Pereira2018.language", sha1="f8434b4022f5b2c862f0ff2854d5b3f5f2a7fb96", folder="Pereira2018")
RELEASE_URL = "https://osf.io/crwz7/"
MAT_VARIABLES = (
    "examples",
    "keySentences",
    "labelsPassageForEachSentence",
    "keyPassages",
    "labelsPassageCategory",
    "keyPassageCategory",
    "meta",
)
_PRESENTATION_COORDS = ("stimulus", "stimulus_id", "experiment", "passage_label")
_NEUROID_COORDS = ("neuroid_id", "subject")


def load_pereira2018(
    data_dir: str | os.PathLike | None = None,
    *,
    experiment: Literal["243sentences", "384sentences"] = "384sentences",
    source: Literal["brainscore", "mat"] = "brainscore",
    subjects: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    download: bool = True,
) -> NeuralDataset:
    """One Pereira2018 experiment as a :class:`NeuralDataset` (stimulus = sentence, passage = its passage).

    Parameters
    ----------
    experiment
        ``"384sentences"`` or ``"243sentences"``; Brain-Score scores them separately and averages.
    source
        ``"brainscore"``: ``<data_dir>/Pereira2018/assy_Pereira2018_language.nc`` (downloaded when missing).
        ``"mat"``: ``<data_dir>/Pereira2018/<subject>/examples_<experiment>.mat`` for every subject folder.
    subjects
        Keep only these subjects (``None``: all that ran the experiment).
    regions
        Keep only neuroids whose ``region`` is listed (fROI names for the assembly, AAL names for the .mat files).
    """
    if experiment not in EXPERIMENTS:
        raise InvalidParameterError("experiment", f"one of {EXPERIMENTS}", experiment)
    if source == "brainscore":
        dataset = _from_assembly(fetch_file(ASSEMBLY, data_dir, download=download), experiment)
    elif source == "mat":
        dataset = _from_mat(resolve_data_dir(data_dir) / "Pereira2018", experiment)
    else:
        raise InvalidParameterError("source", "'brainscore' or 'mat'", source)
    mask = np.ones(dataset.n_neuroids, dtype=bool)
    if subjects is not None:
        mask &= dataset.neuroids["subject"].astype(str).isin([str(s) for s in subjects]).to_numpy()
    if regions is not None:
        mask &= dataset.neuroids["region"].isin(list(regions)).to_numpy()
    if not mask.any():
        raise InvalidParameterError(
            "subjects/regions",
            f"values present in the data (subjects {sorted(set(dataset.neuroids['subject'].astype(str)))})",
            (subjects, regions),
        )
    return dataset if mask.all() else dataset.select_neuroids(mask)


def _from_assembly(path: Path, experiment: str) -> NeuralDataset:
    assembly = read_assembly(path)
    assembly.require("presentation", _PRESENTATION_COORDS)
    assembly.require("neuroid", _NEUROID_COORDS)
    assembly = assembly.subset(assembly.presentation["experiment"].astype(str).to_numpy() == experiment)
    if not len(assembly.presentation):
        raise InvalidInputError(f"{path}: no presentation has experiment == {experiment!r}.")
    # Subjects that did not run this experiment are all-NaN here: Brain-Score drops them (dropna('neuroid'));
    # they are expected, so they are not counted as dropped NaN voxels.
    ran = ~np.isnan(assembly.values).all(axis=0)
    neuroids = assembly.neuroid[ran].reset_index(drop=True)
    neuroids["region"] = neuroids["roi"] if "roi" in neuroids else neuroids.get("atlas", "language")
    neuroids["experiment"] = experiment
    return _build(
        path=path,
        experiment=experiment,
        sentences=assembly.presentation["stimulus"].tolist(),
        passage_labels=assembly.presentation["passage_label"].astype(str).tolist(),
        stimulus_id=assembly.presentation["stimulus_id"].astype(str).to_numpy(),
        targets=assembly.values[:, ran],
        neuroids=neuroids,
        extra={"n_absent_neuroids": int((~ran).sum()), "presentation": assembly.presentation},
    )


def _from_mat(folder: Path, experiment: str) -> NeuralDataset:
    files = sorted(folder.glob(f"*/examples_{experiment}.mat"))
    if not files:
        raise DataNotFoundError(
            f"Data file examples_{experiment}.mat not found for any subject. Download Pereira et al.'s per-subject "
            f"release from {RELEASE_URL} and put each subject's files at {folder}/<subject>/examples_{experiment}.mat "
            "(or point $TUNESHIFT_DATA / data_dir= at the folder that holds Pereira2018/)."
        )
    reference, blocks, tables = None, [], []
    for file in files:
        subject = file.parent.name
        stimuli, values, voxels = _read_subject_mat(file, subject)
        if reference is None:
            reference = (file, stimuli)
        elif stimuli["sentence"].tolist() != reference[1]["sentence"].tolist():
            raise InvalidInputError(
                f"{file}: keySentences differ from {reference[0]}; all subjects of one experiment must list the "
                "same sentences in the same order."
            )
        blocks.append(values)
        tables.append(voxels)
    file, stimuli = reference
    neuroids = pd.concat(tables, ignore_index=True)
    neuroids["experiment"] = experiment
    return _build(
        path=folder,
        experiment=experiment,
        sentences=stimuli["sentence"].tolist(),
        passage_labels=stimuli["passage_label"].tolist(),
        stimulus_id=np.array([f"{experiment}.{i}" for i in range(len(stimuli))], dtype=object),
        targets=np.concatenate(blocks, axis=1),
        neuroids=neuroids,
        extra={"passage_category": stimuli["passage_category"].to_numpy(), "files": [str(f) for f in files]},
    )


def _read_subject_mat(path: Path, subject: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """One subject's examples_<experiment>.mat → (stimuli table, examples, voxel table)."""
    mat = load_mat(path, MAT_VARIABLES)
    examples = np.asarray(mat["examples"], dtype=np.float32)
    if examples.ndim != 2:
        raise InvalidInputError(f"{path}: examples has shape {examples.shape}, expected (n_sentences, n_voxels).")
    n_sentences, n_voxels = examples.shape
    sentences = cellstr(mat["keySentences"])
    if len(sentences) != n_sentences:
        raise InvalidInputError(
            f"{path}: keySentences lists {len(sentences)} sentences but examples has {n_sentences} rows."
        )
    passage_of_sentence = column(
        mat["labelsPassageForEachSentence"], path, "labelsPassageForEachSentence", n_sentences
    ).astype(int)
    passages = cellstr(mat["keyPassages"])
    category_of_passage = column(mat["labelsPassageCategory"], path, "labelsPassageCategory", len(passages))
    categories = cellstr(mat["keyPassageCategory"])
    if passage_of_sentence.min() < 1 or passage_of_sentence.max() > len(passages):
        raise InvalidInputError(
            f"{path}: labelsPassageForEachSentence has values outside 1..{len(passages)} (keyPassages)."
        )
    meta = mat["meta"]
    roi_index = column(struct_field(meta, "roiMultimaskAAL", path, "meta"), path, "meta.roiMultimaskAAL", n_voxels)
    roi_names = cellstr(struct_field(meta, "roisAAL", path, "meta"))
    roi_index = np.nan_to_num(roi_index.astype(float)).astype(int)  # 0 = outside every AAL region
    region = np.where(roi_index > 0, np.asarray(["unlabelled", *roi_names], dtype=object)[roi_index], "unlabelled")
    voxels = pd.DataFrame(
        {
            "neuroid_id": [f"{subject}.{v}" for v in range(n_voxels)],
            "subject": subject,
            "region": region,
            "voxel_num": np.arange(n_voxels),
            "atlas": "AAL",
        }
    )
    stimuli = pd.DataFrame(
        {
            "sentence": sentences,
            "passage_label": np.asarray(passages, dtype=object)[passage_of_sentence - 1],
            "passage_category": np.asarray(categories, dtype=object)[
                category_of_passage[passage_of_sentence - 1].astype(int) - 1
            ],
        }
    )
    return stimuli, examples, voxels


def _build(
    *,
    path: Path,
    experiment: str,
    sentences: list[str],
    passage_labels: list[str],
    stimulus_id: np.ndarray,
    targets: np.ndarray,
    neuroids: pd.DataFrame,
    extra: dict,
) -> NeuralDataset:
    """Sentences in file order, concatenated per passage: a sentence's context is its passage's earlier ones."""
    passages, stimulus_passage, stimulus_word, keys = passages_from_texts(
        sentences, passage_labels, path, list(stimulus_id)
    )
    return build_dataset(
        name=f"Pereira2018.{experiment}",
        source=path,
        passages=passages,
        stimulus_passage=stimulus_passage,
        stimulus_word=stimulus_word,
        stimulus_id=stimulus_id,
        targets=targets,
        neuroids=neuroids,
        groups=np.asarray(passage_labels, dtype=object),
        ceiling=CEILINGS.get(f"Pereira2018.{experiment}"),
        meta={
            "sentence": np.asarray(sentences, dtype=object),
            "passage_label": keys,
            "citation": CITATION,
            "experiment": experiment,
            **extra,
        },
    )


def _loader(experiment: str):
    def load(data_dir: str | os.PathLike | None = None, **kwargs) -> NeuralDataset:
        return load_pereira2018(data_dir, experiment=experiment, **kwargs)

    load.__doc__ = f"Pereira2018 {experiment}; see :func:`load_pereira2018`."
    return load


for _experiment in EXPERIMENTS:
    DATASETS.add(
        f"Pereira2018.{_experiment}",
        DatasetInfo(
            name=f"Pereira2018.{_experiment}",
            loader=_loader(_experiment),
            description=f"Pereira 2018 {_experiment}, language-network voxels (Brain-Score assembly)",
            citation=CITATION,
            files=(ASSEMBLY,),
        ),
    )
