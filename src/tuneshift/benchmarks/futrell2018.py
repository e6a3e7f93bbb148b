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

Context: ``"story"`` (default; each story is one passage: context never crosses stories) or ``"stream"`` (Brain-Score's
parity mode: all 10,256 words form one passage, context runs across stories and is truncated at the model's
maximum length by the readout's windows).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuneshift.benchmarks._base import BENCHMARKS, Benchmark, BenchmarkResult, normalize
from tuneshift.data.naturalstories import load_naturalstories, load_token_logprobs, story_texts
from tuneshift.errors import InvalidInputError, InvalidParameterError

CEILING = 0.858
CONTEXTS = ("story", "stream")
SENTENCE_SPLITS = {"conllx": "sentence_start", "brainscore": "sentence_start_brainscore"}
BASELINE_PREDICTORS = (
    "length",
    "log_frequency",
    "punctuation",
    "length_squared",
    "log_frequency_squared",
    "length_x_log_frequency",
)
SPILLOVER = 2
N_BOOT = 1000
LN2 = np.log(2.0)


# ---------------------------------------------------------------------------------------------- model surprisal
def passages(words: pd.DataFrame, context: str = "story") -> list[list[str]]:
    """The readout's passages: one per story (``"story"``) or all words as one stream (``"stream"``)."""
    _check_choice("context", context, CONTEXTS)
    if context == "stream":
        return [words["word"].tolist()]
    return [group.tolist() for _, group in words.groupby("story", sort=True)["word"]]


def model_surprisal(
    model: Any, words: pd.DataFrame, *, context: str = "story", cache: bool = True, progress: bool = True
) -> np.ndarray:
    """Surprisal (bits) of every corpus word under `model`, in the order of `words` (NaN where undefined)."""
    from tuneshift.models.readout import read_out

    readout = read_out(model, passages(words, context), layers=[], cache=cache, progress=progress).words
    readout = readout.sort_values(["passage", "word_index"], kind="stable")
    if len(readout) != len(words):
        raise InvalidInputError(f"readout returned {len(readout)} words for {len(words)} stimuli words.")
    return readout["surprisal_bits"].to_numpy(dtype=float)


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


# ------------------------------------------------------------------------------------------------------- tables
def score_surprisal(
    surprisal: np.ndarray,
    *,
    model: str,
    layer: int | None = None,
    words: pd.DataFrame | None = None,
    context: str = "story",
    sentences: str = "conllx",
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Both measures of per-word surprisal (bits, corpus order), pooled (``story="all"``) and per story.

    Columns: model, benchmark, layer, story, raw (|r| or ΔLL nats/word), ceiling, normalized (|r| only; ΔLL has
    no noise ceiling without per-reader RTs: NaN), value (signed r / ΔLL), ci_low, ci_high, n, unit, context,
    sentences, ll_baseline, ll_full (ΔLL rows: held-out log-likelihood per word of each model).
    """
    words = load_naturalstories() if words is None else words
    frame = scored_words(words, surprisal, sentences=sentences)
    pearson = pearsonr_scores(frame, n_boot=n_boot, seed=seed)
    pearson = pearson.assign(
        benchmark="Futrell2018-pearsonr",
        ceiling=CEILING,
        unit="|r|",
        normalized=normalize(pearson["raw"].to_numpy(), CEILING),
    )
    deltall = deltall_scores(frame, n_boot=n_boot, seed=seed)
    deltall = deltall.assign(benchmark="Futrell2018-deltall", ceiling=np.nan, normalized=np.nan, unit="nats/word")
    table = pd.concat([pearson, deltall], ignore_index=True)
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
    """Both measures for token log-probabilities computed elsewhere (format of :func:`load_token_logprobs`).

    Context is whatever produced the log-probabilities (GPT-3: one story at a time, ``context="story"``).
    `options` go to :func:`score_surprisal` (sentences, n_boot, seed).
    """
    words = load_naturalstories() if words is None else words
    surprisal = surprisal_from_token_logprobs(tokens, words, logprob_base=logprob_base, label=label)
    return score_surprisal(surprisal, model=model, words=words, **options)


@dataclass(frozen=True)
class TokenLogprobs:
    """Token log-probabilities computed elsewhere (format of :func:`load_token_logprobs`), scored by the
    Futrell2018 benchmarks in place of a model's own surprisal (``tuneshift score --surprisal FILE``)."""

    name: str
    tokens: pd.DataFrame
    label: str = "token table"

    @classmethod
    def from_file(cls, path: str | os.PathLike, name: str | None = None) -> TokenLogprobs:
        return cls(name or Path(path).stem, load_token_logprobs(path), str(path))


def futrell2018(
    model: Any,
    *,
    context: str = "story",
    sentences: str = "conllx",
    cache: bool = True,
    progress: bool = True,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Read the 10 stories through `model` (a LoadedModel) and score its surprisal on both measures, pooled
    and per story (see :func:`score_surprisal`). layer = model.n_layers (the output layer)."""
    words = load_naturalstories()
    surprisal = model_surprisal(model, words, context=context, cache=cache, progress=progress)
    return score_surprisal(
        surprisal,
        model=model.name,
        layer=model.n_layers,
        words=words,
        context=context,
        sentences=sentences,
        n_boot=n_boot,
        seed=seed,
    )


# ------------------------------------------------------------------------------------------------------ scoring
def scored_words(words: pd.DataFrame, surprisal: np.ndarray, *, sentences: str = "conllx") -> pd.DataFrame:
    """`words` with ``surprisal`` (bits) and its spillover lags ``surprisal_1``, ``surprisal_2`` (and the same lags
    of the baseline predictors) within each story, and ``use_r`` / ``use_ll`` marking the words each measure
    scores: not sentence-initial (`sentences`: ``"conllx"`` boundaries, or ``"brainscore"``'s 481-sentence
    punctuation rule), defined surprisal and RT; for ΔLL also defined spillover lags."""
    _check_choice("sentences", sentences, tuple(SENTENCE_SPLITS))
    surprisal = np.asarray(surprisal, dtype=float)
    if surprisal.shape != (len(words),):
        raise InvalidParameterError(
            "surprisal",
            f"one value per corpus word, shape ({len(words)},)",
            surprisal.shape,
            "Pass the readout's surprisal_bits in corpus order (story, position).",
        )
    frame = words.assign(
        surprisal=surprisal,
        length_squared=words["length"] ** 2,
        log_frequency_squared=words["log_frequency"] ** 2,
        length_x_log_frequency=words["length"] * words["log_frequency"],
    )
    by_story = frame.groupby("story", sort=False)
    for name in ("surprisal", *BASELINE_PREDICTORS):
        for lag in range(1, SPILLOVER + 1):
            frame[f"{name}_{lag}"] = by_story[name].shift(lag)
    defined = frame["surprisal"].notna() & frame["mean_rt"].notna() & ~frame[SENTENCE_SPLITS[sentences]]
    frame["use_r"] = defined
    frame["use_ll"] = defined & frame[_columns(full=True)].notna().all(axis=1)
    return frame


def _columns(*, full: bool) -> list[str]:
    """Predictors of the ΔLL baseline (BASELINE_PREDICTORS, each with lags 1–2; position) and of the full
    model (+ surprisal with lags 1–2)."""
    lagged = [f"{name}{suffix}" for name in BASELINE_PREDICTORS for suffix in ("", "_1", "_2")]
    surprisal = ["surprisal", *(f"surprisal_{lag}" for lag in range(1, SPILLOVER + 1))]
    return [*lagged, "word_index", *(surprisal if full else [])]


def pearsonr_scores(frame: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Pearson r (surprisal vs mean RT) pooled and per story, with bootstrap intervals of |r|.

    One row per story plus ``story="all"``: r (signed), raw = |r|, ci_low, ci_high (95 % percentile; stories
    resampled for "all", words within the story per story), n (words)."""
    used = frame[frame["use_r"]]
    x, y = used["surprisal"].to_numpy(), used["mean_rt"].to_numpy()
    story_ids, story = np.unique(used["story"].to_numpy(), return_inverse=True)
    rng = np.random.default_rng(seed)
    # Pooled: per-story sums of (1, x, y, x², y², xy) weighted by how often each story is drawn.
    moments = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)
    per_story = np.zeros((len(story_ids), 6))
    np.add.at(per_story, story, moments)
    draws = rng.multinomial(len(story_ids), np.full(len(story_ids), 1 / len(story_ids)), size=n_boot)
    pooled = _r_from_moments(per_story.sum(0))
    pooled_boot = np.abs(_r_from_moments(draws @ per_story))
    rows = [_row("all", pooled, np.abs(pooled), pooled_boot, len(x))]
    for index, story_id in enumerate(story_ids):
        members = np.flatnonzero(story == index)
        boot_moments = _resample_counts(rng, len(members), n_boot) @ moments[members]
        r = _r_from_moments(per_story[index])
        rows.append(_row(int(story_id), r, np.abs(r), np.abs(_r_from_moments(boot_moments)), len(members)))
    return pd.DataFrame(rows)


def _resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """(n_boot, n) multiplicities of a bootstrap resample of n items: a resampled sum is one matrix product."""
    draws = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)


def _r_from_moments(m: np.ndarray) -> np.ndarray:
    """Pearson r from sums (n, Σx, Σy, Σx², Σy², Σxy) along the last axis."""
    n, sx, sy, sxx, syy, sxy = np.moveaxis(m, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n * sxy - sx * sy) / np.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy))


def deltall_scores(frame: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """ΔLL (nats per word) of adding surprisal + spillover to the baseline RT model, leave-one-story-out.

    One row per story (held-out gain on that story) plus ``story="all"`` (all held-out words pooled), with
    95 % percentile intervals (stories resampled and the whole LOSO refit for "all"; words within the story per
    story), n (words). Also ``ll_baseline`` / ``ll_full``: held-out log-likelihood per word of each model."""
    used = frame[frame["use_ll"]]
    story_ids, story = np.unique(used["story"].to_numpy(), return_inverse=True)
    if len(story_ids) < 2:
        raise InvalidInputError(f"ΔLL needs words from at least 2 stories to cross-validate; got {len(story_ids)}.")
    y = used["mean_rt"].to_numpy(dtype=float)
    full = _design(used[_columns(full=True)].to_numpy(dtype=float))
    n_base = len(_columns(full=False)) + 1  # intercept first, then the baseline block, then the surprisal block
    stats = _sufficient_stats(full, y, story, len(story_ids))
    ones = np.ones((1, len(story_ids)))
    ll_full = _loso_loglik(stats, ones)[0]
    ll_base = _loso_loglik(_subset(stats, n_base), ones)[0]
    n_story = stats[3]
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(story_ids), np.full(len(story_ids), 1 / len(story_ids)), size=n_boot)
    boot_gain = _loso_loglik(stats, draws) - _loso_loglik(_subset(stats, n_base), draws)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled_boot = np.nansum(boot_gain, axis=1) / (draws @ n_story)
    pooled = (ll_full - ll_base).sum() / n_story.sum()
    rows = [
        _row(
            "all",
            pooled,
            pooled,
            pooled_boot,
            int(n_story.sum()),
            ll_baseline=ll_base.sum() / n_story.sum(),
            ll_full=ll_full.sum() / n_story.sum(),
        )
    ]
    per_word_gain = _per_word_gain(full, y, story, stats, n_base)
    for index, story_id in enumerate(story_ids):
        gain = per_word_gain[story == index]
        boot = _resample_counts(rng, len(gain), n_boot) @ gain / len(gain)
        rows.append(
            _row(
                int(story_id),
                gain.mean(),
                gain.mean(),
                boot,
                len(gain),
                ll_baseline=ll_base[index] / n_story[index],
                ll_full=ll_full[index] / n_story[index],
            )
        )
    return pd.DataFrame(rows)


def _design(predictors: np.ndarray) -> np.ndarray:
    """Intercept + z-scored predictors (a global affine rescaling: same fits, better-conditioned ZᵀZ)."""
    scale = predictors.std(axis=0)
    z = (predictors - predictors.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    return np.column_stack([np.ones(len(z)), z])


def _sufficient_stats(z: np.ndarray, y: np.ndarray, story: np.ndarray, n_stories: int) -> tuple[np.ndarray, ...]:
    """Per story: ZᵀZ (S, p, p), Zᵀy (S, p), yᵀy (S,), n (S,)."""
    onehot = np.eye(n_stories)[story]  # (n, S)
    gram = np.einsum("ns,np,nq->spq", onehot, z, z)
    return gram, onehot.T @ (z * y[:, None]), onehot.T @ (y * y), onehot.sum(axis=0)


def _subset(stats: tuple[np.ndarray, ...], p: int) -> tuple[np.ndarray, ...]:
    """Sufficient statistics of the model using only the first `p` columns of Z."""
    gram, zty, yty, n = stats
    return gram[:, :p, :p], zty[:, :p], yty, n


def _loso_fits(stats: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients (B, S, p) and training residual variance (B, S) with each story held out in turn, for
    every row of story multiplicities `weights` (B, S): copies of the held-out story leave together."""
    gram, zty, yty, n = stats
    gram_train, zty_train, yty_train, n_train = (_held_out_sums(stat, weights) for stat in (gram, zty, yty, n))
    # A fold with no training word (a draw made of one story only) gets NaN; the others are full rank.
    empty = n_train <= 0
    gram_train = np.where(empty[..., None, None], np.eye(gram.shape[-1]), gram_train)
    try:
        beta = np.linalg.solve(gram_train, zty_train[..., None])[..., 0]
    except np.linalg.LinAlgError:  # a predictor constant over the training stories: min-norm solution
        beta = np.einsum("bspq,bsq->bsp", np.linalg.pinv(gram_train, hermitian=True), zty_train)
    beta[empty] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (yty_train - np.einsum("bsp,bsp->bs", beta, zty_train)) / n_train
    return beta, variance


def _held_out_sums(stat: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Training sums (B, S, ...) = Σ_s' w[b, s'] stat[s'] − w[b, s] stat[s]: story s held out, in every draw b."""
    total = np.tensordot(weights, stat, axes=(1, 0))
    return total[:, None] - weights.reshape(weights.shape + (1,) * (stat.ndim - 1)) * stat


def _loso_loglik(stats: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
    """Held-out Gaussian log-likelihood (nats, summed over words) of each story (B, S), times its multiplicity."""
    gram, zty, yty, n = stats
    beta, variance = _loso_fits(stats, weights)
    residual_ss = yty - 2 * np.einsum("bsp,sp->bs", beta, zty) + np.einsum("bsp,spq,bsq->bs", beta, gram, beta)
    with np.errstate(invalid="ignore", divide="ignore"):
        loglik = -0.5 * n * np.log(2 * np.pi * variance) - residual_ss / (2 * variance)
    return np.where(weights > 0, weights * loglik, 0.0)


def _per_word_gain(
    z: np.ndarray, y: np.ndarray, story: np.ndarray, stats: tuple[np.ndarray, ...], n_base: int
) -> np.ndarray:
    """Held-out log-likelihood gain (nats) of each word: full minus baseline model, fit without its story."""
    ones = np.ones((1, len(stats[3])))
    gains = []
    for p, columns in ((z.shape[1], z), (n_base, z[:, :n_base])):
        beta, variance = _loso_fits(_subset(stats, p), ones)
        residual = y - np.einsum("np,np->n", columns, beta[0, story])
        gains.append(-0.5 * np.log(2 * np.pi * variance[0, story]) - residual**2 / (2 * variance[0, story]))
    return gains[0] - gains[1]


def _row(story: int | str, value: float, raw: float, boot: np.ndarray, n: int, **extra: float) -> dict:
    low, high = np.nanpercentile(boot, [2.5, 97.5]) if np.isfinite(boot).any() else (np.nan, np.nan)
    return {"story": story, "value": float(value), "raw": float(raw), "ci_low": low, "ci_high": high, "n": n, **extra}


def _check_choice(parameter: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidParameterError(parameter, f"one of {list(choices)}", value)


# -------------------------------------------------------------------------------------------------- registration
def _register(identifier: str, description: str) -> None:
    def run(
        model: Any, *, cache: bool = True, progress: bool = True, context: str = "story", sentences: str = "conllx"
    ) -> BenchmarkResult:
        if isinstance(model, TokenLogprobs):  # context is whatever produced the log-probabilities
            context = "precomputed"
            table = score_token_logprobs(model.tokens, model=model.name, label=model.label, sentences=sentences)
        else:
            table = futrell2018(model, context=context, sentences=sentences, cache=cache, progress=progress)
        mine = table[table["benchmark"] == identifier]
        pooled = mine[mine["story"] == "all"].drop(columns="story").reset_index(drop=True)
        per_story = mine[mine["story"] != "all"]
        details = {
            "unit": pooled["unit"].iat[0],
            "context": context,
            "sentences": sentences,
            "ci_low": float(pooled["ci_low"].iat[0]),
            "ci_high": float(pooled["ci_high"].iat[0]),
            "n_words": int(pooled["n"].iat[0]),
            "per_story_raw": {
                str(story): float(raw) for story, raw in zip(per_story["story"], per_story["raw"], strict=True)
            },
        }
        return BenchmarkResult(scores=pooled, details=details)

    run.__doc__ = f"{identifier}: {description} Keyword context='story' (default) or 'stream' (Brain-Score)."
    BENCHMARKS.add(identifier, Benchmark(identifier, "behavioral", run, description=description))


_register(
    "Futrell2018-pearsonr",
    "Brain-Score's |Pearson r| of surprisal with per-word mean reading time (Natural Stories), ceiling 0.858.",
)
_register(
    "Futrell2018-deltall",
    "Held-out log-likelihood gain (nats/word) of reading times from surprisal + spillover over a length, "
    "frequency and position baseline, leave-one-story-out (no ceiling).",
)
