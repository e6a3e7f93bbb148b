"""Wehbe et al. 2014: 8 subjects read Harry Potter chapter 9 word by word (0.5 s per word) in the scanner.

Published release: ``subject_1.mat`` … ``subject_8.mat`` (MATLAB v5; description.txt beside them), each with
``data`` (1,351 TRs × voxels), ``time`` (TR start time in s, run 1–4), ``words`` (1×5,176 struct: ``text``,
``start`` time in s, ``length``) and ``meta`` (``colToCoord``, ``colToROInum``, ``ROInumToName`` — AAL — ...).

The loader gives the TRs that the paper's pipeline keeps (each run trimmed by 20 TRs at the start and 15 at the end,
1,211 TRs) with every voxel z-scored within its run, and the timing that the feature side of Aw et al. 2023's
pipeline needs (:mod:`tuneshift.benchmarks._wehbe_pipeline`: folds, PCA, delays).

TR of a word = the last TR that started strictly before the word (``np.where(start > time)[0][-1]``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tuneshift.data._dataset import DATASETS, DatasetInfo, NeuralDataset, build_dataset
from tuneshift.data._fetch import RemoteFile, fetch_file
from tuneshift.data._matlab import cellstr, column, load_mat, struct_field
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.metrics.ceiling import CEILINGS

CITATION = """@article{wehbe2014simultaneously,
  title={Simultaneously uncovering the patterns of brain regions involved in different story reading subprocesses},
  author={Wehbe, Leila and Murphy, Brian and Talukdar, Partha and Fyshe, Alona and Ramdas, Aaditya and
          Mitchell, Tom},
  journal={PLoS ONE},
  volume={9},
  number={11},
  pages={e112575},
  year={2014}
}"""
URL = "http://www.cs.cmu.edu/afs/cs/project/theo-73/www/plosone/files"
SUBJECTS = tuple(range(1, 9))
N_WORDS = 5176
N_TRS = 1351
TRIM = (20, 15)  # TRs dropped at the start and at the end of every run
# The release publishes no checksums: files are accepted as downloaded (``tuneshift data verify`` prints the sha1).
FILES = tuple(RemoteFile(f"Wehbe2014/subject_{s}.mat", (f"{URL}/subject_{s}.mat",), None) for s in SUBJECTS)
_VARIABLES = ("data", "time", "words", "meta")


def load_wehbe2014(
    data_dir: str | os.PathLike | None = None,
    *,
    subjects: Sequence[int] = SUBJECTS,
    trim: tuple[int, int] = TRIM,
    download: bool = True,
) -> NeuralDataset:
    """The kept TRs of the selected subjects, voxels z-scored per run; stimulus = TR, one passage = the chapter.

    Reads ``<data_dir>/Wehbe2014/subject_<s>.mat`` (downloaded when missing). A stimulus is read at the last word
    presented up to its TR (context: the chapter so far); ``groups`` is the run. All subjects must share the same
    TR times and words. ``meta`` holds the timing the feature pipeline needs: ``word_start``, ``word_tr`` (TR of
    every word, index into all 1,351 TRs), ``tr_time``, ``run`` (all TRs), ``kept_tr`` (indices of the stimuli).
    Voxels that are constant within a run (NaN after z-scoring) are dropped with a warning.
    """
    unknown = [s for s in subjects if s not in SUBJECTS]
    if unknown or not subjects:
        raise InvalidParameterError("subjects", f"a non-empty subset of {SUBJECTS}", list(subjects))
    blocks, tables, reference = [], [], None
    for subject in subjects:
        path = fetch_file(FILES[subject - 1], data_dir, download=download)
        recording = _read_subject(path, subject)
        if reference is None:
            reference = recording
        else:
            _check_same_timing(reference, recording)
        kept = kept_tr_mask(recording["run"], trim)
        blocks.append(zscore_runs(recording["data"][kept], recording["run"][kept]))
        tables.append(recording["voxels"])
    timing = reference
    runs, tr_time = timing["run"], timing["tr_time"]
    kept = kept_tr_mask(runs, trim)
    kept_tr = np.flatnonzero(kept)
    word_tr = word_tr_index(timing["word_start"], tr_time)
    # Last word presented up to (and including) each kept TR.
    last_word = np.searchsorted(word_tr, kept_tr, side="right") - 1
    if (last_word < 0).any():
        raise InvalidInputError(
            f"{timing['path']}: TR {kept_tr[last_word < 0][0]} is kept but no word was presented before it; "
            f"check `trim` ({trim}) and the words' start times."
        )
    return build_dataset(
        name="Wehbe2014",
        source=timing["path"].parent,
        passages=[list(timing["word_text"])],
        stimulus_passage=np.zeros(len(kept_tr), dtype=np.int64),
        stimulus_word=last_word,
        stimulus_id=np.array([f"TR{t}" for t in kept_tr], dtype=object),
        targets=np.concatenate(blocks, axis=1),
        neuroids=pd.concat(tables, ignore_index=True),
        groups=runs[kept],
        ceiling=CEILINGS.get("Wehbe2014"),
        meta={
            "word_start": timing["word_start"],
            "word_tr": word_tr,
            "tr_time": tr_time,
            "run": runs,
            "kept_tr": kept_tr,
            "trim": trim,
            "citation": CITATION,
        },
    )


def _read_subject(path, subject: int) -> dict:
    mat = load_mat(path, _VARIABLES)
    data = np.asarray(mat["data"], dtype=np.float32)
    time = np.asarray(mat["time"], dtype=np.float64)
    if data.ndim != 2 or time.ndim != 2 or time.shape != (data.shape[0], 2):
        raise InvalidInputError(
            f"{path}: data has shape {data.shape} and time {time.shape}; expected data (n_TRs, n_voxels) and "
            "time (n_TRs, 2) = [TR start (s), run]."
        )
    words = mat["words"]
    if words.dtype.names is None or not {"text", "start"} <= set(words.dtype.names):
        raise InvalidInputError(f"{path}: words must be a struct array with fields text and start.")
    word_text = np.asarray(cellstr(words["text"]), dtype=object)
    word_start = np.array([float(np.asarray(s).ravel()[0]) for s in words["start"].ravel(order="F")])
    if np.isnan(word_start).any() or (np.diff(word_start) < 0).any():
        raise InvalidInputError(f"{path}: words.start must be increasing times without NaN.")
    if np.isnan(time).any():
        raise InvalidInputError(f"{path}: time contains NaN.")
    meta = mat["meta"]
    n_voxels = data.shape[1]
    roi_num = column(struct_field(meta, "colToROInum", path, "meta"), path, "meta.colToROInum", n_voxels).astype(int)
    roi_names = cellstr(struct_field(meta, "ROInumToName", path, "meta"))
    # ROInumToName[k - 1] names ROI k; number 0 (unlabelled) is named by the list's last entry.
    names = np.asarray([roi_names[-1], *roi_names[:-1]], dtype=object)
    if roi_num.max() >= len(names) or roi_num.min() < 0:
        raise InvalidInputError(f"{path}: meta.colToROInum has values outside 0..{len(names) - 1}.")
    coords = np.asarray(struct_field(meta, "colToCoord", path, "meta"))
    if coords.shape != (n_voxels, 3):
        raise InvalidInputError(f"{path}: meta.colToCoord has shape {coords.shape}, expected ({n_voxels}, 3).")
    voxels = pd.DataFrame(
        {
            "neuroid_id": [f"{subject}.{v}" for v in range(n_voxels)],
            "subject": str(subject),
            "region": names[roi_num],
            "voxel_num": np.arange(n_voxels),
            "x": coords[:, 0],
            "y": coords[:, 1],
            "z": coords[:, 2],
            "atlas": "AAL",
        }
    )
    return {
        "path": path,
        "data": data,
        "tr_time": time[:, 0],
        "run": time[:, 1].astype(int),
        "word_text": word_text,
        "word_start": word_start,
        "voxels": voxels,
    }


def _check_same_timing(reference: dict, other: dict) -> None:
    for key in ("tr_time", "run", "word_start", "word_text"):
        a, b = reference[key], other[key]
        if a.shape != b.shape or not (a == b).all():
            raise InvalidInputError(
                f"{other['path']}: {key} differs from {reference['path']}; all subjects saw the same chapter with "
                "the same timing, so their files must agree."
            )


def word_tr_index(word_start: np.ndarray, tr_time: np.ndarray) -> np.ndarray:
    """TR of each word: the last TR whose start time is strictly before the word's start (0 for earlier words)."""
    return np.maximum(np.searchsorted(tr_time, word_start, side="left") - 1, 0)


def kept_tr_mask(runs: np.ndarray, trim: tuple[int, int] = TRIM) -> np.ndarray:
    """Boolean mask over all TRs: true except the first ``trim[0]`` and last ``trim[1]`` TRs of every run."""
    runs = np.asarray(runs)
    start, end = trim
    kept = np.zeros(len(runs), dtype=bool)
    for run in np.unique(runs):
        rows = np.flatnonzero(runs == run)
        kept[rows[start : len(rows) - end]] = True
    return kept


def zscore_runs(x: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """Z-score every column within each run (population sd, as scipy.stats.zscore); constant columns become NaN."""
    x = np.asarray(x, dtype=np.result_type(x, np.float32))
    out = np.empty_like(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        for run in np.unique(runs):
            rows = runs == run
            block = x[rows]
            sd = block.std(axis=0)
            out[rows] = (block - block.mean(axis=0)) / np.where(sd > 0, sd, np.nan)
    return out


DATASETS.add(
    "Wehbe2014",
    DatasetInfo(
        name="Wehbe2014",
        loader=load_wehbe2014,
        description="Harry Potter ch. 9, 5,176 words, 1,211 kept TRs × whole-brain voxels of 8 subjects",
        citation=CITATION,
        files=FILES,
    ),
)
