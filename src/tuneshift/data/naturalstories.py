"""Natural Stories corpus (Futrell et al. 2021): 10 stories, 10,256 words, self-paced reading times.

One table, one row per word in reading order, joining everything the Futrell2018 benchmark needs:
the words (``all_stories.tok``), per-word mean reading times (``processed_wordinfo.tsv`` or a user file),
sentence starts (``stories-aligned.conllx``) and Google Books unigram counts (``freqs-1.tsv``). The corpus
ships with tuneshift (CC BY-NC-SA 4.0, see ``bundled/naturalstories/SOURCE.md``). GPT-3 davinci token
log-probabilities (``all_stories_gpt3.csv``) come from :func:`load_token_logprobs`.

Words are keyed by (story, position) = (``item``, ``zone``) in the corpus files; both are 1-based.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift.data._dataset import DATASETS, DatasetInfo
from tuneshift.data.validate import (
    check_reading_times,
    check_token_logprobs,
    check_unique,
    parse_counts,
    parse_numbers,
    read_table,
    warn_coverage,
)
from tuneshift.errors import InvalidInputError

LN2 = np.log(2.0)

N_WORDS = 10_256
N_STORIES = 10
CITATION = (
    "Futrell, Gibson, Tily, Blank, Vishnevetsky, Piantadosi, Fedorenko (2021). The Natural Stories corpus: a "
    "reading-time corpus of English texts containing rare syntactic constructions. "
    "Lang Resources & Evaluation 55."
)
LICENSE = "CC-BY-NC-SA-4.0"
BIBTEX = """@article{futrell2021natural,
  title={The Natural Stories corpus: a reading-time corpus of English texts containing rare syntactic constructions},
  author={Futrell, Richard and Gibson, Edward and Tily, Harry J. and Blank, Idan and Vishnevetsky, Anastasia and
          Piantadosi, Steven T. and Fedorenko, Evelina},
  journal={Language Resources and Evaluation}, volume={55}, pages={63--77}, year={2021}
}"""

# Brain-Score's sentence splitter (brainscore_language/data/futrell2018/data_packaging.py): a word ending in
# one of these closes a sentence unless the next word is lower case or the word is "Mr." (481 sentences).
_BRAINSCORE_SENTENCE_ENDS = (".", "?", "!", ".'", "?'", "!'", ";'")
_TSV = {"sep": "\t", "quoting": 3, "keep_default_na": False, "dtype": {"word": str}}  # 3 = csv.QUOTE_NONE


def bundled_path(name: str) -> Path:
    """Path of a bundled corpus file (``all_stories.tok``, ``processed_wordinfo.tsv``, ...), gzipped."""
    return Path(str(resources.files("tuneshift.data") / "bundled" / "naturalstories" / f"{name}.gz"))


def load_naturalstories(rts: str | os.PathLike | None = None) -> pd.DataFrame:
    """The 10,256 words of Natural Stories with reading times and the usual word-level predictors.

    Parameters
    ----------
    rts
        Reading-time file; ``None`` uses the bundled ``processed_wordinfo.tsv``. A tab-separated file with
        columns ``item`` (story 1–10), ``zone`` (position, 1-based), ``word`` and either ``meanItemRT``
        (one row per word, the processed_wordinfo format) or ``RT`` (one row per reader and word, the
        processed_RTs format, averaged here). Rows with an empty/NaN RT are excluded and counted in
        ``frame.attrs["n_rt_excluded"]``.

    Returns
    -------
    DataFrame in reading order with columns: ``story`` (1–10), ``position`` (1-based in story), ``word``,
    ``word_index`` (0-based in story), ``sentence_start`` (word opens a sentence in stories-aligned.conllx;
    485 sentences), ``sentence_start_brainscore`` (Brain-Score's punctuation splitter; 481 sentences),
    ``length`` (letters and digits, punctuation stripped), ``punctuation`` (count of the other characters:
    , . ' ! ...), ``frequency`` (Google Books count of the punctuation-stripped token), ``log_frequency``
    (log10(count + 1)), ``mean_rt`` (ms; NaN where no reader is left), ``n_readers``.
    """
    words = _read_tsv(bundled_path("all_stories.tok"), "all_stories.tok", ["word", "zone", "item"])
    words = words.rename(columns={"item": "story", "zone": "position"})[["story", "position", "word"]]
    words = words.sort_values(["story", "position"], kind="stable").reset_index(drop=True)
    words["word_index"] = words.groupby("story").cumcount()
    words["sentence_start"] = _conllx_sentence_starts(words)
    words["sentence_start_brainscore"] = _brainscore_sentence_starts(words["word"].to_numpy())
    words["length"] = words["word"].str.count(r"[^\W_]")
    words["punctuation"] = words["word"].str.count(r"[\W_]")
    words["frequency"] = _unigram_frequencies(words)
    words["log_frequency"] = np.log10(words["frequency"] + 1.0)
    mean_rt, n_readers, n_excluded = _reading_times(words, rts)
    words["mean_rt"] = mean_rt
    words["n_readers"] = n_readers
    words.attrs.update(n_rt_excluded=n_excluded, rts=str(rts or bundled_path("processed_wordinfo.tsv")))
    return words


def load_token_logprobs(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Token log-probabilities of the 10 stories computed elsewhere (an API model): `path` is a CSV in the format
    of the bundled ``all_stories_gpt3.csv`` (GPT-3 davinci, 2020), which is the default.

    File columns: ``token`` (with its leading space), ``logprob`` (natural log; empty where undefined, e.g. each
    story's first token), ``offset`` (character offset in the story text = the story's words joined by single
    spaces), ``story`` (counted from 0, as in the GPT-3 file). Returned with ``story`` 1–10, as in the corpus.
    Checked by :func:`tuneshift.data.validate.check_token_logprobs`: a log-prob that is not a number, is -inf or
    above 0, and two rows for one token raise InvalidInputError naming the file, line and column.
    """
    source = bundled_path("all_stories_gpt3.csv") if path is None else Path(path)
    tokens = read_table(source, sep=",", what="token log-probability file", quoting=0)
    tokens = check_token_logprobs(tokens, label=str(source))
    return tokens.assign(story=tokens["story"] + 1)


def story_texts(words: pd.DataFrame) -> dict[int, str]:
    """Text of each story as the GPT-3 offsets and the readout see it: words joined by single spaces."""
    return {int(story): " ".join(group) for story, group in words.groupby("story", sort=True)["word"]}


def _read_tsv(path: Path, label: str, columns: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(path, **_TSV)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"{label}: missing column(s) {missing}; found {list(frame.columns)}. Expected a tab-separated "
            f"file with a header naming {columns}."
        )
    return frame


def _conllx_sentence_starts(words: pd.DataFrame) -> np.ndarray:
    """True for words whose first sub-token opens a sentence block of stories-aligned.conllx.

    Tokens carry ``TokenId=story.position[.k]`` in the last column; sentences are blank-line separated blocks.
    """
    text = pd.read_csv(
        bundled_path("stories-aligned.conllx"),
        header=None,
        sep="\x01",
        names=["line"],
        skip_blank_lines=False,
        keep_default_na=False,
    )["line"]
    is_token = text.str.len() > 0
    opens = is_token & ~is_token.shift(1, fill_value=False)
    ids = text[opens].str.extract(r"TokenId=(\d+)\.(\d+)").astype(int)
    starts = pd.MultiIndex.from_arrays([ids[0], ids[1]])
    return pd.MultiIndex.from_arrays([words["story"], words["position"]]).isin(starts)


def _brainscore_sentence_starts(word: np.ndarray) -> np.ndarray:
    """Brain-Score's rule (word_within_sentence_id == 1), vectorized over the running word list."""
    ends = np.char.endswith(word.astype(str)[:, None], np.array(_BRAINSCORE_SENTENCE_ENDS)[None, :]).any(axis=1)
    next_lower = np.append(np.char.islower(word[1:].astype(str)), False)
    closes = ends & ~next_lower & (word != "Mr.")
    return np.concatenate([[True], closes[:-1]])


def _unigram_frequencies(words: pd.DataFrame) -> np.ndarray:
    """Google Books count per word: code ``story.position.word``, else ``.whole`` (Mr., Dr. have no .word)."""
    freqs = pd.read_csv(
        bundled_path("freqs-1.tsv"),
        header=None,
        names=["code", "order", "token", "count", "_"],
        **{**_TSV, "dtype": {"code": str, "token": str}},
    )
    counts = dict(zip(freqs["code"], freqs["count"].astype(float), strict=True))
    keys = words["story"].astype(str) + "." + words["position"].astype(str)
    return np.array([counts.get(f"{k}.word", counts.get(f"{k}.whole", np.nan)) for k in keys])


def _reading_times(words: pd.DataFrame, rts: str | os.PathLike | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-word mean RT (ms), number of readers, and the number of NaN-RT rows excluded, aligned to words."""
    path = Path(rts) if rts is not None else bundled_path("processed_wordinfo.tsv")
    label = str(path) if rts is not None else "bundled processed_wordinfo.tsv"
    frame = read_table(path, sep="\t", what="reading-time file", label=label)
    rt_column = next((c for c in ("meanItemRT", "RT") if c in frame.columns), None)
    missing = [c for c in ("item", "zone", "word") if c not in frame.columns] + ([] if rt_column else ["meanItemRT|RT"])
    if missing:
        raise InvalidInputError(
            f"{label}: missing column(s) {missing}; found {list(frame.columns)}. Expected tab-separated "
            "columns item, zone, word and meanItemRT (per-word means) or RT (one row per reader)."
        )
    # story 1-10 and position (1-based), compared as numbers: "01" is story 1
    keys = {column: parse_counts(frame[column], label=label, column=column) for column in ("item", "zone")}
    rt = parse_numbers(frame[rt_column], label=label, column=rt_column)
    check_reading_times(rt, label=label, column=rt_column)
    per_reader = rt_column == "RT"
    keyed = frame.assign(**keys)
    if per_reader and "WorkerId" in frame.columns:
        check_unique(keyed, ["WorkerId", "item", "zone"], label=label, what="reader and word")
    elif not per_reader:
        check_unique(keyed, ["item", "zone"], label=label, what="word")
    index = pd.MultiIndex.from_arrays([words["story"], words["position"]])
    row_to_word = index.get_indexer(pd.MultiIndex.from_arrays([keys["item"], keys["zone"]]))
    expected = np.where(row_to_word >= 0, words["word"].to_numpy()[row_to_word], None)
    mismatch = (row_to_word < 0) | (frame["word"].to_numpy() != expected)
    if mismatch.any():
        i = int(np.flatnonzero(mismatch)[0])
        wanted = "no such word" if row_to_word[i] < 0 else f"the stimulus word is {expected[i]!r}"
        raise InvalidInputError(
            f"{label}, line {i + 2}: item {frame['item'].iat[i]}, zone {frame['zone'].iat[i]}, word "
            f"{frame['word'].iat[i]!r} does not match the Natural Stories stimuli ({wanted}). "
            "Check the story/position columns (1-based) and that the file is for the current corpus release."
        )
    keep = ~np.isnan(rt)
    target = row_to_word[keep]
    # A per-word file counts nItem readers per row (1 if absent); a per-reader file counts one reader per row.
    has_counts = not per_reader and "nItem" in frame.columns
    readers = parse_counts(frame["nItem"], label=label, column="nItem")[keep] if has_counts else np.ones(keep.sum())
    total = np.bincount(target, weights=rt[keep] * readers, minlength=len(words))
    n_readers = np.bincount(target, weights=readers, minlength=len(words))
    mean_rt = np.divide(total, n_readers, out=np.full(len(words), np.nan), where=n_readers > 0)
    n_excluded = int((~keep).sum())
    if n_excluded:
        warnings.warn(f"{label}: {n_excluded} row(s) with an empty/NaN RT excluded.", stacklevel=3)
    warn_coverage(int((n_readers > 0).sum()), len(words), label=label, what="Natural Stories words with a reading time")
    return mean_rt, n_readers.astype(int), n_excluded


DATASETS.add(
    "NaturalStories",
    DatasetInfo(
        name="NaturalStories",
        loader=lambda data_dir=None, **kwargs: load_naturalstories(**kwargs),
        description="10 stories, 10,256 words, per-word mean self-paced reading times (Futrell2018 benchmarks)",
        citation=BIBTEX,
        bundled=bundled_path("processed_wordinfo.tsv"),
        license="CC BY-NC-SA 4.0",
    ),
)


def surprisal_from_token_logprobs(
    tokens: pd.DataFrame, words: pd.DataFrame, *, logprob_base: float = np.e, label: str = "token table"
) -> np.ndarray:
    """Per-word surprisal (bits) from token log-probabilities computed elsewhere.

    `tokens`: one row per token with columns ``story`` (as in `words`), ``token`` (text, leading space
    included), ``logprob`` (log p(token | preceding text) in base `logprob_base`, natural log by default as
    the OpenAI API returns; NaN where undefined) and ``offset`` (character offset of the token in the story
    text = the story's words joined by single spaces), e.g. :func:`load_token_logprobs`. A token belongs to the
    word holding its first non-space character; a token spanning two words is refused (its probability cannot
    be split). A word with an undefined token logprob, or with no token, gets NaN.
    """
    missing = [c for c in ("story", "token", "logprob", "offset") if c not in tokens.columns]
    if missing:
        raise InvalidInputError(
            f"{label}: missing column(s) {missing}; expected story, token, logprob, offset (one row per token)."
        )
    texts = story_texts(words)
    known = tokens["story"].isin(list(texts)).to_numpy()
    _refuse(label, ~known, lambda row: f"story {tokens['story'].iat[row]!r} is not in {list(texts)}")
    # All stories on one axis: the whole corpus joined by single spaces, so a story's text starts where its
    # first word does.
    word_length = words["word"].str.len().to_numpy()
    word_start = np.concatenate([[0], np.cumsum(word_length + 1)[:-1]])
    story_start = pd.Series(word_start).groupby(words["story"].to_numpy()).min()
    text_length = pd.Series({story: len(text) for story, text in texts.items()})
    token_text = tokens["token"].astype(str)
    offset = pd.to_numeric(tokens["offset"], errors="coerce").to_numpy()
    size = token_text.str.len().to_numpy()
    lead = size - token_text.str.lstrip().str.len().to_numpy()
    end = offset + size
    outside = np.isnan(offset) | (offset < 0) | (end > text_length.reindex(tokens["story"]).to_numpy())
    outside |= (lead == size) & (end >= text_length.reindex(tokens["story"]).to_numpy())
    _refuse(
        label,
        outside,
        lambda row: (
            f"token {token_text.iat[row]!r} at offset {tokens['offset'].iat[row]} "
            f"lies outside story {tokens['story'].iat[row]} ({text_length[tokens['story'].iat[row]]} characters)"
        ),
    )
    base = story_start.reindex(tokens["story"]).to_numpy()
    first = base + offset + lead
    last = base + np.maximum(end - 1, offset + lead)
    word_of_token = np.searchsorted(word_start, first, side="right") - 1
    crossing = word_of_token != np.searchsorted(word_start, last, side="right") - 1
    _refuse(
        label,
        crossing,
        lambda row: (
            f"token {token_text.iat[row]!r} spans two words; per-word surprisal "
            "needs tokens that do not cross word boundaries (offsets into the words joined by single spaces)"
        ),
    )
    logprob = pd.to_numeric(tokens["logprob"], errors="coerce").to_numpy(dtype=float)
    bits = -logprob * np.log(logprob_base) / LN2
    _warn_text_mismatch(label, token_text, offset.astype(int) + base.astype(int), " ".join(words["word"]))
    n_words = len(words)
    undefined = np.bincount(word_of_token, weights=np.isnan(bits), minlength=n_words) > 0
    covered = np.bincount(word_of_token, minlength=n_words) > 0
    total = np.bincount(word_of_token, weights=np.nan_to_num(bits), minlength=n_words)
    return np.where(undefined | ~covered, np.nan, total)


def _warn_text_mismatch(label: str, token_text: pd.Series, start: np.ndarray, corpus: str) -> None:
    """Warn when token texts differ from the stimuli at their offsets (a typo fixed in one, not the other)."""
    differs = sum(corpus[a : a + len(t)] != t for a, t in zip(start, token_text, strict=True))
    if differs:
        warnings.warn(
            f"{label}: {differs} token(s) differ in text from the stimuli at their offsets (e.g. a corrected "
            "typo); their log-probabilities are used as given.",
            stacklevel=3,
        )


def _refuse(label: str, bad: np.ndarray, describe: Callable[[int], str]) -> None:
    """Raise InvalidInputError naming the first bad row (0-based data row of the token table)."""
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"{label}, row {row}: {describe(row)}.")
