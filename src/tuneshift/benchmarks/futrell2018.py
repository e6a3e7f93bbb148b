"""Futrell2018: does a model's surprisal predict human reading times on the Natural Stories corpus?

Two measures of the same surprisal (bits, −log2 p(word | preceding words), summed over the word's tokens):

``Futrell2018-pearsonr`` — Brain-Score's protocol (brainscore_language/benchmarks/futrell2018): Pearson r between
surprisal and the per-word mean reading time over all words except the first word of each sentence, reported as
|r|, ceiling 0.858 (Spearman-Brown corrected split-half consistency), normalized = |r| / ceiling clipped to [0, 1].
Its weakness: surprisal grows with the number of tokens, hence with word length, and reading time grows with word
length too, so a random-weight model already scores r ≈ 0.35.

``Futrell2018-deltall`` — ΔLL, the gain in held-out log-likelihood per word (nats) of a linear model of the
per-word mean reading time (ms) when surprisal and its spillover to the next two words (surprisal of words t,
t−1, t−2 as predictors of the RT of word t) join a baseline of word length (letters), log10 unigram frequency,
their squares and product, the number of punctuation characters attached to the word (each with the same two
spillover lags) and position in the story; Gaussian likelihood with the training residual variance. It is the
"delta log-likelihood" of the reading-time literature (Goodkind & Bicknell 2018; Wilcox et al. 2020; Oh & Schuler
2023), hence the name. The baseline is what a random-weight model's surprisal (≈ Σ over its tokens of log2
vocabulary + a fixed per-token offset) encodes: the token count, a nonlinear function of length and frequency,
plus punctuation tokens on clause- and sentence-final words, which are read slowly (wrap-up). With length and
frequency alone (linear) a random-init SmolLM2 scored 0.0045 nats/word, a length-only surprisal 0.034 without the
punctuation term; with this baseline both score ≈ 0 (slightly below 0 from fitting three useless slopes).
Cross-validation is leave-one-story-out (10 folds); all folds and all bootstrap draws are solved at once from
per-story sufficient statistics (ZᵀZ, Zᵀy, yᵀy): no Python loop over folds or draws.

Both use the same words: sentence-initial words dropped (Brain-Score), and for ΔLL also the first two words of
each story (no spillover predictors) and words whose surprisal is undefined.

Confidence intervals (95 %, percentile) resample **stories** for the pooled scores: words of one story share
topic, readers and spillover, so they are not independent; the story is the unit that LOSO generalizes over.
With 10 stories the interval is coarse, and honest about it. Per-story intervals resample words within the story
(the only unit left; they ignore autocorrelation and are therefore somewhat too narrow).

The statistics live in :mod:`tuneshift.metrics.reading_times`, the alignment of token log-probabilities with the
corpus in :mod:`tuneshift.data.naturalstories`; each benchmark computes only its own measure.

Context: ``"story"`` (default; each story is one passage: context never crosses stories) or ``"stream"`` (Brain-Score's
parity mode: all 10,256 words form one passage, context runs across stories and is truncated at the model's
maximum length by the readout's windows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuneshift.benchmarks._base import BENCHMARKS, BRAINSCORE_CITATION, Benchmark, BenchmarkResult
from tuneshift.data.naturalstories import BIBTEX, bundled_path, load_naturalstories, surprisal_from_token_logprobs
from tuneshift.errors import InvalidInputError
from tuneshift.metrics.ceiling import CEILINGS, ceiling_normalize
from tuneshift.metrics.reading_times import (
    N_BOOT,
    SENTENCE_SPLITS,
    check_choice,
    deltall_scores,
    pearsonr_scores,
    scored_words,
)
from tuneshift.models.subject import ReadoutOptions, Subject, choice, is_precomputed

CEILING = CEILINGS.get("Futrell2018")
CONTEXTS = ("story", "stream")
MEASURES = {"Futrell2018-pearsonr": "pearsonr", "Futrell2018-deltall": "deltall"}
#: Per benchmark, the per-story variables its values keep: name in the values ← column of the score table; the
#: first is the measure the pooled score summarizes (|r| or ΔLL).
STORY_VALUES = {
    "Futrell2018-pearsonr": {"abs_r": "raw", "r": "value"},
    "Futrell2018-deltall": {"delta_ll": "raw", "ll_baseline": "ll_baseline", "ll_full": "ll_full"},
}
#: The per-story variable a measure's score is a weighted mean of: ΔLL pools words, Σ n·ΔLL / Σ n over stories (|r|
#: is of the pooled words, not a mean of stories). Paired comparisons bootstrap the score's change with it.
STORY_WEIGHTS = {"Futrell2018-deltall": "n_words"}
USED = {"Futrell2018-pearsonr": "use_r", "Futrell2018-deltall": "use_ll"}  # scored_words' mask of each measure
DELTALL_CITATION = (
    "Goodkind & Bicknell (2018). Predictive power of word surprisal for reading times is a linear function of "
    "language model quality. CMCL."
)


@dataclass(frozen=True)
class FutrellOptions(ReadoutOptions):
    """context: "story" (each story its own passage) or "stream" (Brain-Score: one passage across stories);
    sentences: which words open a sentence (dropped): "conllx" boundaries or "brainscore"'s punctuation rule."""

    context: str = choice("story", CONTEXTS)
    sentences: str = choice("conllx", tuple(SENTENCE_SPLITS))


# ---------------------------------------------------------------------------------------------- model surprisal
def passages(words: pd.DataFrame, context: str = "story") -> list[list[str]]:
    """The readout's passages: one per story (``"story"``) or all words as one stream (``"stream"``)."""
    check_choice("context", context, CONTEXTS)
    if context == "stream":
        return [words["word"].tolist()]
    return [group.tolist() for _, group in words.groupby("story", sort=True)["word"]]


def model_surprisal(
    subject: Subject,
    words: pd.DataFrame,
    *,
    context: str = "story",
    readout: ReadoutOptions | None = None,
    cache: bool = True,
    progress: bool = True,
) -> np.ndarray:
    """Surprisal (bits) of every corpus word under `subject`, in the order of `words` (NaN where undefined).
    A subject whose surprisal was computed elsewhere (``precomputed``) is read one story per passage."""
    if is_precomputed(subject):
        context = "story"
    bits = subject.surprisal(passages(words, context), readout=readout, cache=cache, progress=progress)
    if len(bits) != len(words):
        raise InvalidInputError(f"{subject.name} returned {len(bits)} surprisals for {len(words)} stimuli words.")
    return np.asarray(bits, dtype=float)


# ------------------------------------------------------------------------------------------------------- tables
def score_surprisal(
    surprisal: np.ndarray,
    *,
    model: str,
    layer: int | None = None,
    words: pd.DataFrame | None = None,
    context: str = "story",
    sentences: str = "conllx",
    measures: tuple[str, ...] = tuple(MEASURES),
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """The `measures` (benchmark ids) of per-word surprisal (bits, corpus order), pooled (``story="all"``) and
    per story.

    Columns: model, benchmark, layer, story, raw (|r| or ΔLL nats/word), ceiling, normalized (|r| only; ΔLL has
    no noise ceiling without per-reader RTs: NaN), value (signed r / ΔLL), ci_low, ci_high, n, unit, context,
    sentences, ll_baseline, ll_full (ΔLL rows: held-out log-likelihood per word of each model).
    """
    words = load_naturalstories() if words is None else words
    frame = scored_words(words, surprisal, sentences=sentences)
    tables = []
    if "Futrell2018-pearsonr" in measures:
        pearson = pearsonr_scores(frame, n_boot=n_boot, seed=seed)
        tables.append(
            pearson.assign(
                benchmark="Futrell2018-pearsonr",
                ceiling=CEILING,
                unit="|r|",
                normalized=ceiling_normalize(pearson["raw"].to_numpy(), CEILING),
            )
        )
    if "Futrell2018-deltall" in measures:
        deltall = deltall_scores(frame, n_boot=n_boot, seed=seed)
        tables.append(
            deltall.assign(benchmark="Futrell2018-deltall", ceiling=np.nan, normalized=np.nan, unit="nats/word")
        )
    table = pd.concat(tables, ignore_index=True)
    table = table.assign(model=model, layer=layer, context=context, sentences=sentences)
    first = ["model", "benchmark", "layer", "story", "raw", "ceiling", "normalized", "value", "ci_low", "ci_high"]
    return table[first + [c for c in table.columns if c not in first]]


def score_token_logprobs(
    tokens: pd.DataFrame,
    *,
    model: str,
    logprob_base: float = np.e,
    label: str = "token table",
    words: pd.DataFrame | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Both measures for token log-probabilities computed elsewhere (format of
    :func:`tuneshift.data.naturalstories.load_token_logprobs`).

    Context is whatever produced the log-probabilities (GPT-3: one story at a time, ``context="story"``).
    `options` go to :func:`score_surprisal` (sentences, n_boot, seed).
    """
    words = load_naturalstories() if words is None else words
    surprisal = surprisal_from_token_logprobs(tokens, words, logprob_base=logprob_base, label=label)
    return score_surprisal(surprisal, model=model, words=words, **options)


def futrell2018(
    subject: Subject,
    options: FutrellOptions | None = None,
    *,
    measures: tuple[str, ...] = tuple(MEASURES),
    cache: bool = True,
    progress: bool = True,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Read the 10 stories through `subject` and score its surprisal on `measures`, pooled and per story (see
    :func:`score_surprisal`). layer = the subject's last layer (the output), None without layers."""
    options = options or FutrellOptions()
    words = load_naturalstories()
    surprisal = model_surprisal(
        subject, words, context=options.context, readout=options, cache=cache, progress=progress
    )
    return _subject_scores(subject, surprisal, words, options, measures, n_boot=n_boot, seed=seed)


def _subject_scores(subject: Subject, surprisal: np.ndarray, words: pd.DataFrame, options: FutrellOptions,
                    measures: tuple[str, ...], **bootstrap: int) -> pd.DataFrame:  # fmt: skip
    return score_surprisal(
        surprisal,
        model=subject.name,
        layer=subject.layers[-1] if subject.layers else None,
        words=words,
        context="precomputed" if is_precomputed(subject) else options.context,
        sentences=options.sentences,
        measures=measures,
        **bootstrap,
    )


# -------------------------------------------------------------------------------------------------- registration
def _register(identifier: str, description: str) -> None:
    def run(subject: Subject, options: FutrellOptions, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
        words = load_naturalstories()
        surprisal = model_surprisal(
            subject, words, context=options.context, readout=options, cache=cache, progress=progress
        )
        table = _subject_scores(subject, surprisal, words, options, (identifier,))
        pooled = table[table["story"] == "all"].drop(columns="story").reset_index(drop=True)
        per_story = table[table["story"] != "all"]
        details = {
            "unit": pooled["unit"].iat[0],
            "context": pooled["context"].iat[0],
            "sentences": options.sentences,
            "ci_low": float(pooled["ci_low"].iat[0]),
            "ci_high": float(pooled["ci_high"].iat[0]),
            "n_words": int(pooled["n"].iat[0]),
            "per_story_raw": {
                str(story): float(raw) for story, raw in zip(per_story["story"], per_story["raw"], strict=True)
            },
        }
        used = scored_words(words, surprisal, sentences=options.sentences)[USED[identifier]]
        values = story_values(per_story, identifier).merge(word_values(words, surprisal, used))
        return BenchmarkResult(scores=pooled, details=details, values=values)

    run.__doc__ = f"{identifier}: {description}"
    cited = [BRAINSCORE_CITATION] + ([DELTALL_CITATION] if identifier.endswith("deltall") else []) + [BIBTEX]
    BENCHMARKS.add(
        identifier,
        Benchmark(
            identifier,
            "behavioral",
            run,
            description=description,
            options=FutrellOptions,
            files=_files,
            citation="\n\n".join(cited),
        ),
    )


def story_values(per_story: pd.DataFrame, identifier: str):
    """The per-story values of one measure: its variables (:data:`STORY_VALUES`) plus ``n_words``, ``ci_low``,
    ``ci_high`` over ``story``; the paired unit is the story."""
    import xarray as xr

    columns = {**STORY_VALUES[identifier], "n_words": "n", "ci_low": "ci_low", "ci_high": "ci_high"}
    values = xr.Dataset(
        {name: ("story", per_story[column].to_numpy(dtype=float)) for name, column in columns.items()},
        coords={"story": per_story["story"].astype(str).to_numpy()},
    )
    values.attrs.update(paired_unit="story", measure=next(iter(STORY_VALUES[identifier])))
    if identifier in STORY_WEIGHTS:
        values.attrs["weight"] = STORY_WEIGHTS[identifier]
    return values


def word_values(words: pd.DataFrame, surprisal: np.ndarray, used: pd.Series):
    """The per-word values behind the scores: ``surprisal(word)`` bits, ``mean_rt(word)`` ms and ``used(word)``
    (the words the measure scores), coords ``word_story`` and ``word_index`` (corpus order)."""
    import xarray as xr

    return xr.Dataset(
        {
            "surprisal": ("word", np.asarray(surprisal, dtype=float)),
            "mean_rt": ("word", words["mean_rt"].to_numpy(dtype=float)),
            "used": ("word", used.to_numpy(dtype=bool)),
        },
        coords={
            "word_story": ("word", words["story"].astype(str).to_numpy()),
            "word_index": ("word", words["word_index"].to_numpy()),
        },
    )


def _files() -> list[Path]:
    """The corpus files the numbers depend on: words, reading times, sentence boundaries, frequencies."""
    names = ("all_stories.tok", "processed_wordinfo.tsv", "stories-aligned.conllx", "freqs-1.tsv")
    return [bundled_path(name) for name in names]


_register(
    "Futrell2018-pearsonr",
    "Brain-Score's |Pearson r| of surprisal with per-word mean reading time (Natural Stories), ceiling 0.858.",
)
_register(
    "Futrell2018-deltall",
    "Held-out log-likelihood gain (nats/word) of reading times from surprisal + spillover over a length, "
    "frequency and position baseline, leave-one-story-out (no ceiling).",
)
