"""Writers of tiny data files in exactly the published layouts: BrainIO netCDF assemblies, Pereira's and Wehbe's
MATLAB v5 files.

A tiny file is not the published one, so it would fail the checksum check on load; a file written at a published
path gets the record a verified fetch writes (``<file>.sha1.json``, with the published sha1), as if it had been
downloaded, unless ``as_fetched=False``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import xarray as xr

from tuneshift.data import DATASETS
from tuneshift.data._fetch import _write_record, sha1sum, sidecar_path


def record_as_fetched(path: Path) -> Path:
    """Record `path` as a verified fetch of the published file at its place would (its sha1: the published one, or
    for a file without a published checksum its own); a path that is no published file is left as is."""
    remote = next(
        (f for n in DATASETS.names() for f in DATASETS.get(n).files if path.as_posix().endswith("/" + f.relpath)), None
    )
    sidecar_path(path).unlink(missing_ok=True)
    if remote is not None:
        _write_record(path, remote.sha1 or sha1sum(path))
    return path


def write_brainio(
    path: Path,
    values: np.ndarray,
    presentation: dict[str, list],
    neuroid: dict[str, list],
    *,
    time_bin: bool = False,
    as_fetched: bool = True,
) -> Path:
    """Write an assembly as BrainIO does: MultiIndex dims, ``reset_index`` (levels become plain coords), netCDF."""
    data = values[..., None] if time_bin else values
    dims = ("presentation", "neuroid", "time_bin") if time_bin else ("presentation", "neuroid")
    coords = {name: ("presentation", list(v)) for name, v in presentation.items()}
    coords |= {name: ("neuroid", list(v)) for name, v in neuroid.items()}
    if time_bin:
        coords |= {"time_bin_start": ("time_bin", [0]), "time_bin_end": ("time_bin", [1])}
    array = xr.DataArray(data, dims=dims, coords=coords, name="data")
    indexes = {"presentation": list(presentation), "neuroid": list(neuroid)}
    if time_bin:
        indexes["time_bin"] = ["time_bin_start", "time_bin_end"]
    array = array.set_index(indexes).reset_index(list(indexes))
    path.parent.mkdir(parents=True, exist_ok=True)
    array.to_netcdf(path)
    return record_as_fetched(path) if as_fetched else path


def cell(strings: list[str], shape: tuple[int, int] | None = None) -> np.ndarray:
    """A MATLAB cell array of strings (column by default), as scipy.io.savemat writes an object array."""
    out = np.empty(len(strings), dtype=object)
    out[:] = [np.array(s) for s in strings]
    return out.reshape(shape or (len(strings), 1))


@pytest.fixture
def brainio_writer():
    return write_brainio


@pytest.fixture
def pereira_assembly(tmp_path) -> tuple[Path, dict]:
    """Pereira2018.language layout: two experiments, subject 018 in both, subject 199 only in 384sentences
    (NaN in 243sentences, as in the published file), one 384 voxel of subject 199 with a NaN (a bad voxel)."""
    p243 = [("243.a", "Alpha one. Alpha two words. Alpha three.".split(". ")), ("243.b", ["Beta one", "Beta two"])]
    p384 = [("384.c", ["Gamma one", "Gamma two", "Gamma three"]), ("384.d", ["Delta one", "Delta two"])]
    rows = []
    for experiment, passages in (("243sentences", p243), ("384sentences", p384)):
        for index, (label, sentences) in enumerate(passages):
            rows += [(experiment, label, index + 1, s.rstrip(".") + ".") for s in sentences]
    n = len(rows)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n, 5))
    is243 = np.array([r[0] == "243sentences" for r in rows])
    values[is243, 3:] = np.nan  # subject 199 did not run 243sentences
    values[~is243 & (np.arange(n) == n - 1), 4] = np.nan  # one bad voxel in 384sentences
    presentation = {
        "stimulus_num": list(range(n)),
        "experiment": [r[0] for r in rows],
        "passage_label": [r[1] for r in rows],
        "passage_index": [r[2] for r in rows],
        "passage_category": ["cat"] * n,
        "stimulus": [r[3] for r in rows],
        "stimulus_id": [f"{r[0]}.{i}" for i, r in enumerate(rows)],
        "story": [f"{r[0]}.cat" for r in rows],
    }
    neuroid = {
        "subject": ["018", "018", "018", "199", "199"],
        "voxel_num": [0, 1, 2, 0, 1],
        "neuroid_id": ["018.0", "018.1", "018.2", "199.0", "199.1"],
        "atlas": ["language"] * 5,
        "roi": ["LH_AntTemp", "LH_IFG", "LH_PostTemp", "LH_AntTemp", "LH_IFG"],
        "filter_strategy": ["None"] * 5,
        "atlas_selection": ["from90to100prcnt"] * 5,
    }
    path = write_brainio(tmp_path / "Pereira2018" / "assy_Pereira2018_language.nc", values, presentation, neuroid)
    return tmp_path, {"values": values, "rows": rows, "path": path}


def write_pereira_mat(
    path: Path,
    examples: np.ndarray,
    sentences: list[str],
    passage_of_sentence: list[int],
    passages: list[str],
    category_of_passage: list[int],
    categories: list[str],
    roi_index: np.ndarray,
    roi_names: list[str],
    **overrides,
) -> Path:
    """One subject's examples_<experiment>.mat as in Pereira et al.'s release (v5, cells as object arrays)."""
    meta = {
        "nvoxels": examples.shape[1],
        "colToCoord": np.arange(examples.shape[1] * 3).reshape(-1, 3) + 1,
        "roiMultimaskAAL": roi_index.reshape(-1, 1).astype(float),
        "roisAAL": cell(roi_names),
    }
    contents = {
        "examples": examples,
        "keySentences": cell(sentences),
        "labelsPassageForEachSentence": np.asarray(passage_of_sentence, dtype=float).reshape(-1, 1),
        "keyPassages": cell(passages),
        "labelsPassageCategory": np.asarray(category_of_passage, dtype=float).reshape(-1, 1),
        "keyPassageCategory": cell(categories, (1, len(categories))),
        "meta": meta,
    }
    contents.update(overrides)
    contents = {k: v for k, v in contents.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, contents)
    return path


@pytest.fixture
def pereira_mat_writer():
    return write_pereira_mat


def write_wehbe_subject(
    path: Path,
    data: np.ndarray,
    time: np.ndarray,
    word_text: list[str],
    word_start: np.ndarray,
    roi_num: np.ndarray,
    roi_names: list[str],
    **overrides,
) -> Path:
    """subject_<s>.mat as in Wehbe et al.'s release: data, time, words (1×n struct: text, start, length), meta."""
    words = np.empty((1, len(word_text)), dtype=[("text", object), ("start", object), ("length", object)])
    for i, (text, start) in enumerate(zip(word_text, word_start, strict=True)):
        words[0, i] = (np.array([text]), np.array([[start]]), np.array([[0.5]]))
    meta = {
        "subject": 1,
        "nTRs": data.shape[0],
        "nvoxels": data.shape[1],
        "colToCoord": np.arange(data.shape[1] * 3).reshape(-1, 3) + 1,
        "colToROInum": roi_num.reshape(-1, 1).astype(float),
        "ROInumToName": cell(roi_names, (1, len(roi_names))),
        "voxel_size": np.array([[3, 3, 3]]),
    }
    contents = {"data": data, "time": time, "words": words, "meta": meta}
    contents.update(overrides)
    contents = {k: v for k, v in contents.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, contents)
    return record_as_fetched(path)


@pytest.fixture
def wehbe_writer():
    return write_wehbe_subject
