"""The common in-memory form of every neural dataset, and the registry of datasets."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuneshift._registry import Registry
from tuneshift.data._fetch import FileCheck, RemoteFile, check_file, local_path, record_holder
from tuneshift.data.validate import check_neural_responses
from tuneshift.errors import InvalidInputError


@dataclass
class NeuralDataset:
    """Stimuli (as words in passages) and the neural responses to them, ready for an encoding model.

    A stimulus is read out from the model at word ``stimulus_word[i]`` of passage ``stimulus_passage[i]``, with the
    words before it in the same passage as context (passages are independent). ``targets[i]`` are the responses
    of all neuroids to stimulus ``i``. Cross-validation that respects passages uses ``groups``.

    Attributes
    ----------
    name: registry name (``"Pereira2018.384sentences"``...).
    passages: the text as words, one list per passage/story.
    stimulus_passage: (n_stimuli,) int index into ``passages``.
    stimulus_word: (n_stimuli,) int index of the word in that passage at which the representation is read (the
        last word of the sentence, or of the words presented up to that TR).
    stimulus_id: (n_stimuli,) str, unique.
    targets: (n_stimuli, n_neuroids) float, NaN-free.
    neuroids: one row per neuroid: ``neuroid_id``, ``subject``, ``region`` and whatever else the source carries
        (``experiment``, ``atlas``, ``fROI_area``, ``roi``...).
    groups: (n_stimuli,) group label for GroupKFold (passage/story/run).
    n_dropped_neuroids: neuroids dropped because they had NaN responses (a warning says so).
    ceiling: the published noise ceiling, when there is one.
    meta: source file(s), citation, and dataset-specific extras (per-stimulus text, timing...).
    """

    name: str
    passages: list[list[str]]
    stimulus_passage: np.ndarray
    stimulus_word: np.ndarray
    stimulus_id: np.ndarray
    targets: np.ndarray
    neuroids: pd.DataFrame
    groups: np.ndarray
    n_dropped_neuroids: int = 0
    ceiling: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_stimuli(self) -> int:
        return len(self.stimulus_id)

    @property
    def n_neuroids(self) -> int:
        return self.targets.shape[1]

    def stimulus_text(self, i: int) -> str:
        """The context the model sees for stimulus `i`: its passage up to and including its read-out word."""
        return " ".join(self.passages[self.stimulus_passage[i]][: self.stimulus_word[i] + 1])

    def select_neuroids(self, mask: np.ndarray | pd.Series) -> NeuralDataset:
        """A copy keeping only the neuroids where `mask` is true (e.g. ``ds.neuroids.subject == "018"``)."""
        mask = np.asarray(mask, dtype=bool)
        return replace(self, targets=self.targets[:, mask], neuroids=self.neuroids[mask].reset_index(drop=True))


def build_dataset(
    *,
    name: str,
    source: str | os.PathLike,
    passages: list[list[str]],
    stimulus_passage: Sequence[int] | np.ndarray,
    stimulus_word: Sequence[int] | np.ndarray,
    stimulus_id: Sequence[str] | np.ndarray,
    targets: np.ndarray,
    neuroids: pd.DataFrame,
    groups: Sequence[Any] | np.ndarray,
    ceiling: float | None = None,
    meta: dict[str, Any] | None = None,
) -> NeuralDataset:
    """Validate the pieces read from `source` and drop neuroids with NaN responses (with a warning).

    Every check names `source` and the offending stimulus/neuroid so that a malformed file is easy to fix.
    """
    stimulus_passage = np.asarray(stimulus_passage, dtype=np.int64)
    stimulus_word = np.asarray(stimulus_word, dtype=np.int64)
    stimulus_id = np.asarray([str(s) for s in stimulus_id], dtype=object)
    groups = np.asarray(groups)
    targets = np.asarray(targets)
    targets = targets if targets.dtype == np.float32 else targets.astype(np.float64)  # keep float32 (Wehbe)
    n = len(stimulus_id)
    if targets.ndim != 2 or targets.shape[0] != n:
        raise InvalidInputError(f"{source}: responses have shape {targets.shape}, expected ({n} stimuli, n_neuroids).")
    if targets.shape[1] != len(neuroids):
        raise InvalidInputError(
            f"{source}: {targets.shape[1]} response columns but {len(neuroids)} neuroid descriptions."
        )
    for label, values in (("stimulus_passage", stimulus_passage), ("stimulus_word", stimulus_word), ("groups", groups)):
        if len(values) != n:
            raise InvalidInputError(f"{source}: {label} has {len(values)} entries for {n} stimuli.")
    duplicated = pd.Series(stimulus_id).duplicated()
    if duplicated.any():
        raise InvalidInputError(
            f"{source}: stimulus ids are not unique, e.g. {stimulus_id[duplicated.to_numpy()][0]!r}; "
            "each stimulus needs its own id."
        )
    lengths = np.array([len(p) for p in passages])
    bad = (stimulus_passage < 0) | (stimulus_passage >= len(passages))
    bad[~bad] = (stimulus_word[~bad] < 0) | (stimulus_word[~bad] >= lengths[stimulus_passage[~bad]])
    if bad.any():
        raise InvalidInputError(
            f"{source}: stimulus {stimulus_id[bad][0]!r} points at a word outside its passage "
            "(empty text or a misaligned passage)."
        )
    if np.isinf(targets).any():
        raise InvalidInputError(f"{source}: responses contain infinite values.")
    nan_columns = np.isnan(targets).any(axis=0)
    n_dropped = int(nan_columns.sum())
    if n_dropped == targets.shape[1]:
        raise InvalidInputError(f"{source}: every neuroid has NaN responses; nothing is left to predict.")
    if n_dropped:
        warnings.warn(
            f"{name}: dropped {n_dropped} of {targets.shape[1]} neuroids with NaN responses ({source}).",
            stacklevel=3,
        )
        targets = targets[:, ~nan_columns]
        neuroids = neuroids[~nan_columns]
    ids = neuroids["neuroid_id"].tolist() if "neuroid_id" in neuroids.columns else None
    check_neural_responses(targets, label=f"{name} ({source})", neuroid_ids=ids)
    return NeuralDataset(
        name=name,
        passages=passages,
        stimulus_passage=stimulus_passage,
        stimulus_word=stimulus_word,
        stimulus_id=stimulus_id,
        targets=targets,
        neuroids=neuroids.reset_index(drop=True),
        groups=groups,
        n_dropped_neuroids=n_dropped,
        ceiling=ceiling,
        meta={"source": str(source), **(meta or {})},
    )


def passages_from_texts(
    texts: Sequence[str], passage_keys: Sequence[Any], source: str | os.PathLike, ids: Sequence[str]
) -> tuple[list[list[str]], np.ndarray, np.ndarray, list[Any]]:
    """Group text pieces (sentences, TR chunks) into passages, in the given order within each passage.

    Passages are ordered by sorted key (as Brain-Score iterates them); each text is split on whitespace and
    appended to its passage. Returns (passages, stimulus_passage, stimulus_word = index of the text's last word,
    the passage keys in passage order). A text with no words raises InvalidInputError naming it.
    """
    keys = sorted(set(passage_keys), key=_sort_key)
    index = {key: i for i, key in enumerate(keys)}
    passages: list[list[str]] = [[] for _ in keys]
    stimulus_passage = np.empty(len(texts), dtype=np.int64)
    stimulus_word = np.empty(len(texts), dtype=np.int64)
    for i, (text, key) in enumerate(zip(texts, passage_keys, strict=True)):
        words = text.split() if isinstance(text, str) else []
        if not words:
            raise InvalidInputError(
                f"{source}: stimulus {ids[i]!r} has no text ({text!r}); every stimulus needs at least one word."
            )
        passage = passages[index[key]]
        passage.extend(words)
        stimulus_passage[i] = index[key]
        stimulus_word[i] = len(passage) - 1
    return passages, stimulus_passage, stimulus_word, keys


def _sort_key(key: Any) -> tuple[int, Any]:
    """Numbers before strings, each in natural order, so mixed keys sort without a TypeError."""
    return (0, key) if isinstance(key, int | float | np.integer | np.floating) else (1, str(key))


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: how to load it, which files it needs, and how to cite it."""

    name: str
    loader: Callable[..., Any]  # a NeuralDataset for brain data; a word table for reading times
    description: str
    citation: str
    files: tuple[RemoteFile, ...] = ()
    bundled: Path | None = None
    license: str = ""

    def __post_init__(self) -> None:
        for remote in self.files:
            record_holder(remote, self.name)

    def load(self, data_dir: str | os.PathLike | None = None, **kwargs: Any) -> NeuralDataset:
        return self.loader(data_dir=data_dir, **kwargs)

    def paths(self, data_dir: str | os.PathLike | None = None) -> list[Path]:
        """Where each file is expected on this machine (the bundled file for bundled datasets)."""
        return [self.bundled] if self.bundled else [local_path(f, data_dir) for f in self.files]

    def check(self, data_dir: str | os.PathLike | None = None, *, full: bool = False) -> list[FileCheck]:
        """Each file's integrity (:func:`tuneshift.data._fetch.check_file`): a stat against the digest recorded at
        fetch, or with `full` the whole file hashed. Bundled data are trusted."""
        if self.bundled:
            return [FileCheck(self.bundled, "ok" if self.bundled.is_file() else "missing", "bundled")]
        return [check_file(remote, data_dir, full=full) for remote in self.files]

    def available(self, data_dir: str | os.PathLike | None = None) -> bool:
        """Every file is here and passes the cheap check (a file with a wrong checksum is not available)."""
        return all(check.ok for check in self.check(data_dir))


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def verify(name: str, data_dir: str | os.PathLike | None = None, *, full: bool = True) -> list[FileCheck]:
    """The integrity of each file of dataset `name`, by default hashing every file in full (``tuneshift data
    verify``); ``full=False`` trusts digests recorded at fetch while size and mtime are unchanged."""
    return DATASETS.get(name).check(data_dir, full=full)
