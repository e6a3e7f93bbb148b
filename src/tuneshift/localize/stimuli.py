"""The Fedorenko et al. 2010 language localizer: 240 sentences and 240 non-word lists of 12 words each.

Bundled from brain-score/language (MIT, ``bundled/SOURCE.md``). Every stimulus is its own passage (no context
across stimuli), as in Brain-Score's ``Fedorenko2010.localization`` and AlKhamissi et al. (2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift.errors import InvalidInputError

WORD_COLUMNS = [f"stim{i}" for i in range(2, 14)]
CONDITION_COLUMN = "stim14"
CONDITIONS = ("S", "N")  # sentence, non-word list
CITATION = (
    "Fedorenko, Hsieh, Nieto-Castañón, Whitfield-Gabrieli, Kanwisher (2010). New method for fMRI investigations "
    "of language: defining ROIs functionally in individual subjects. J Neurophysiol 104, 1177-1194."
)


@dataclass(frozen=True)
class LocalizerStimuli:
    """passages: one list of words per stimulus; is_sentence: (n,) bool, True for `S`, False for `N`;
    source: (n,) file stem each stimulus comes from (run and set)."""

    passages: list[list[str]]
    is_sentence: np.ndarray
    source: np.ndarray

    @property
    def n_sentences(self) -> int:
        return int(self.is_sentence.sum())

    @property
    def n_nonwords(self) -> int:
        return int((~self.is_sentence).sum())


def bundled_dir() -> Path:
    return Path(str(resources.files("tuneshift.localize") / "bundled"))


def load_localizer(directory: str | Path | None = None, *, lowercase: bool = True) -> LocalizerStimuli:
    """All stimuli of the ``langloc_fmri_run*_stim_set*.csv`` files in `directory` (default: the bundled copy).

    lowercase: lower-case every word, as Brain-Score and AlKhamissi et al. do (the files are upper case).
    """
    directory = Path(directory) if directory is not None else bundled_dir()
    paths = sorted(directory.glob("langloc_fmri_run*_stim_set*.csv"))
    if not paths:
        raise InvalidInputError(
            f"{directory}: no langloc_fmri_run*_stim_set*.csv file; expected the Fedorenko 2010 localizer files "
            "(columns stim1..stim14) as bundled in tuneshift/localize/bundled."
        )
    frames = [_read(path) for path in paths]
    table = pd.concat(frames, ignore_index=True)
    words = table[WORD_COLUMNS].to_numpy(dtype=str)
    if lowercase:
        words = np.char.lower(words)
    return LocalizerStimuli(
        passages=words.tolist(),
        is_sentence=(table[CONDITION_COLUMN] == "S").to_numpy(),
        source=table["source"].to_numpy(),
    )


def _read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in [*WORD_COLUMNS, CONDITION_COLUMN] if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{path}: missing column(s) {missing}; expected stim1..stim14 (12 words in stim2..stim13, condition "
            "S or N in stim14), as in Brain-Score's fedorenko2010_localization files."
        )
    bad = ~frame[CONDITION_COLUMN].isin(CONDITIONS)
    blank = (frame[WORD_COLUMNS].apply(lambda column: column.str.strip()) == "").any(axis=1)
    for problem, rows in (("condition is not S or N", bad), ("a word is empty", blank)):
        if rows.any():
            row = int(np.flatnonzero(rows.to_numpy())[0])
            raise InvalidInputError(f"{path}, row {row + 2}: {problem}; fix or remove that row.")
    return frame.assign(source=path.stem)
