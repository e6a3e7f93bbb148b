"""Checks of the numbers and tables users hand in: reading times, token log-probabilities, neural responses.

Every error names the file, the row (file line, the header being line 1) and the column, says what was expected
and how to fix it; doubtful but usable data (outliers, partial coverage, constant responses) gives a warning that
says how much is affected. These run when a file is read, before any model is loaded.
"""

from __future__ import annotations

import gzip
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift.errors import InvalidInputError

#: Spellings of a missing value accepted in numeric columns (the row is then excluded, with a warning).
MISSING = ("", "NA", "NaN", "nan", "N/A")
#: A per-word reading time above this (ms) is flagged as an outlier (Futrell et al. 2018 keep 100-3000 ms).
OUTLIER_RT_MS = 5000.0
#: Above this (ms, ten minutes) a value cannot be a reading time: most likely another unit or a corrupt cell.
MAX_RT_MS = 600_000.0
#: A log-probability above this (natural log) is not a probability (a little slack for rounding).
MAX_LOGPROB = 1e-4


def read_table(
    path: str | os.PathLike, *, sep: str, what: str, label: str | None = None, quoting: int = 3
) -> pd.DataFrame:
    """A delimited UTF-8 text table (``.gz`` too) with every cell read as a string (so ``01``, ``1`` and ``1.0``
    stay distinct) and no cell turned into NaN. A missing, empty, header-only, non-UTF-8 or unparsable file raises
    InvalidInputError naming it (and the line, where there is one). `quoting` 3 = csv.QUOTE_NONE (TSVs whose words
    hold quote characters), 0 = QUOTE_MINIMAL."""
    path = Path(path)
    label = label or str(path)
    if not path.is_file():
        raise InvalidInputError(f"{label}: no such {what} ({'a directory' if path.is_dir() else 'missing'}).")
    try:
        frame = pd.read_csv(path, sep=sep, quoting=quoting, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise InvalidInputError(
            f"{label}: the {what} is empty; expected a header line and one row per entry."
        ) from None
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{label}: {_undecodable(path, error)}; save the {what} as UTF-8.") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise InvalidInputError(
            f"{label}: cannot read the {what} as {'tab' if sep == chr(9) else repr(sep)}-separated text: {error}"
        ) from None
    if frame.empty:
        raise InvalidInputError(f"{label}: the {what} has a header ({', '.join(frame.columns)}) but no rows.")
    return frame


def _undecodable(path: Path, error: UnicodeDecodeError) -> str:
    """'line N: byte 0x.. is not UTF-8', found in the raw bytes (pandas decodes in chunks, so its offset is not
    the file's)."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exact:
        line = data.count(b"\n", 0, exact.start) + 1
        column = exact.start - (data.rfind(b"\n", 0, exact.start) + 1) + 1
        return f"line {line}, byte {column}: 0x{data[exact.start]:02x} is not UTF-8 ({exact.reason})"
    return f"not UTF-8 ({error.reason})"


def _line(index: int) -> int:
    """File line of the 0-based data row `index` (the header is line 1)."""
    return index + 2


def _plain(value: object) -> object:
    """A numpy scalar as the Python number it holds (so that messages read 3, not np.int64(3))."""
    return value.item() if isinstance(value, np.generic) else value


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def parse_numbers(values: pd.Series, *, label: str, column: str, missing_ok: bool = True) -> np.ndarray:
    """Float values of a column read as strings; `MISSING` spellings become NaN (when `missing_ok`). A cell that is
    neither raises InvalidInputError naming `label`, the line and `column` ("FILE, line 6: RT 'fast' is not a
    number.")."""
    text = values.astype(str).str.strip()
    is_missing = text.isin(MISSING).to_numpy()
    numbers = pd.to_numeric(text.where(~is_missing), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(numbers) & (~is_missing if missing_ok else np.ones(len(text), dtype=bool))
    if bad.any():
        i = _first(bad)
        raise InvalidInputError(
            f"{label}, line {_line(i)}: {column} {values.iat[i]!r} is not a number."
            + (" Write a number, or leave the cell empty/NA to exclude the row." if missing_ok else "")
        )
    return numbers


def parse_counts(values: pd.Series, *, label: str, column: str) -> np.ndarray:
    """Positive integer counts (e.g. ``nItem``, readers per word)."""
    numbers = parse_numbers(values, label=label, column=column, missing_ok=False)
    bad = (numbers < 1) | (numbers != np.round(numbers)) | ~np.isfinite(numbers)
    if bad.any():
        i = _first(bad)
        raise InvalidInputError(f"{label}, line {_line(i)}: {column} {values.iat[i]!r} is not a positive whole number.")
    return numbers.astype(np.int64)


def check_reading_times(rt: np.ndarray, *, label: str, column: str) -> None:
    """Reading times (ms, NaN = excluded row) must be finite, > 0 and at most `MAX_RT_MS`; values above
    `OUTLIER_RT_MS` are counted in a warning."""
    defined = ~np.isnan(rt)
    bad = defined & (~np.isfinite(rt) | (rt <= 0) | (rt > MAX_RT_MS))
    if bad.any():
        i = _first(bad)
        raise InvalidInputError(
            f"{label}, line {_line(i)}: {column} {float(rt[i])!r} is not a possible reading time; expected a "
            f"finite number of milliseconds in (0, {MAX_RT_MS:,.0f}]. Check the unit (ms) and the cell."
        )
    outliers = defined & (rt > OUTLIER_RT_MS)
    if outliers.any():
        i = _first(outliers)
        warnings.warn(
            f"{label}: {int(outliers.sum())} reading time(s) above {OUTLIER_RT_MS:,.0f} ms (first: line {_line(i)}, "
            f"{rt[i]:,.0f} ms in column {column!r}); they weigh heavily on correlations and log-likelihoods. "
            "Futrell et al. (2018) exclude reading times outside 100-3000 ms.",
            stacklevel=3,
        )


def check_unique(frame: pd.DataFrame, keys: Sequence[str], *, label: str, what: str) -> None:
    """Refuse rows that repeat the same `keys` (they would be silently averaged or summed)."""
    repeated = frame.duplicated(list(keys), keep=False).to_numpy()
    if repeated.any():
        i = _first(repeated)
        same = frame[list(keys)].iloc[i]
        matches = (frame[list(keys)] == same).all(axis=1).to_numpy()
        lines = [_line(j) for j in np.flatnonzero(matches)[:5]]
        described = ", ".join(f"{key} {_plain(value)!r}" for key, value in same.items())
        raise InvalidInputError(
            f"{label}: lines {', '.join(map(str, lines))} are the same {what} ({described}); each may appear once. "
            "Remove the duplicate rows."
        )


def warn_coverage(n_covered: int, n_total: int, *, label: str, what: str) -> None:
    """Warn when a file covers only part of the stimuli, saying how much."""
    if n_covered < n_total:
        warnings.warn(
            f"{label} covers {n_covered:,} of {n_total:,} {what} ({100 * n_covered / n_total:.1f}%); only those are "
            "scored, so the score is not comparable to one on the full set.",
            stacklevel=3,
        )


def check_token_logprobs(tokens: pd.DataFrame, *, label: str) -> pd.DataFrame:
    """Validate a token log-probability table read with every column as text (one row per token: ``token``,
    ``logprob``, ``offset``, ``story``); return it with ``logprob`` (float, NaN where empty), ``offset`` and
    ``story`` (int) parsed.

    A log-prob that is not a number, -inf, or above 0; an offset that is not a whole number >= 0; two rows for the
    same (story, offset) — each raises InvalidInputError naming the file, line and column.
    """
    missing = [c for c in ("token", "logprob", "offset", "story") if c not in tokens.columns]
    if missing:
        raise InvalidInputError(
            f"{label}: missing column(s) {missing}; expected token, logprob, offset, story (one row per token, "
            "stories counted from 0, as in all_stories_gpt3.csv)."
        )
    if tokens.empty:
        raise InvalidInputError(f"{label}: no token rows after the header.")
    story = parse_numbers(tokens["story"], label=label, column="story", missing_ok=False)
    offset = parse_numbers(tokens["offset"], label=label, column="offset", missing_ok=False)
    for column, values in (("story", story), ("offset", offset)):
        bad = (values < 0) | (values != np.round(values)) | ~np.isfinite(values)
        if bad.any():
            i = _first(bad)
            raise InvalidInputError(
                f"{label}, line {_line(i)}: {column} {tokens[column].iat[i]!r} is not a whole number >= 0."
            )
    logprob = parse_numbers(tokens["logprob"], label=label, column="logprob")
    bad = ~np.isnan(logprob) & (~np.isfinite(logprob) | (logprob > MAX_LOGPROB))
    if bad.any():
        i = _first(bad)
        raise InvalidInputError(
            f"{label}, line {_line(i)}: logprob {tokens['logprob'].iat[i]!r} is not the log of a "
            "probability (finite and <= 0). A token the model could not score needs an empty cell, not -inf."
        )
    parsed = tokens.assign(logprob=logprob, offset=offset.astype(np.int64), story=story.astype(np.int64))
    check_unique(parsed, ["story", "offset"], label=label, what="token")
    return parsed


def check_neural_responses(
    targets: np.ndarray, *, label: str, neuroid_ids: Sequence[object] | None = None, tolerance: float = 0.0
) -> np.ndarray:
    """Warn about neuroids whose responses do not vary across stimuli (max - min <= `tolerance`): no model can
    predict them, so they score 0 and pull the mean down. Returns the (n_neuroids,) bool mask of constant ones."""
    targets = np.asarray(targets)
    if targets.ndim != 2 or targets.shape[0] < 2:
        return np.zeros(targets.shape[-1] if targets.ndim else 0, dtype=bool)
    with warnings.catch_warnings():  # all-NaN columns are the NaN check's business
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanmax(targets, axis=0) - np.nanmin(targets, axis=0)
    constant = spread <= tolerance
    if constant.any():
        first = int(np.flatnonzero(constant)[0])
        name = neuroid_ids[first] if neuroid_ids is not None else first
        everyone = " (all of them: check that the right column/file was read)" if constant.all() else ""
        warnings.warn(
            f"{label}: {int(constant.sum())} of {targets.shape[1]} neuroids have the same response to all "
            f"{targets.shape[0]} stimuli{everyone}, e.g. neuroid {name!r}; they cannot be predicted and score 0.",
            stacklevel=2,
        )
    return constant
