"""Do a language model's per-word surprisals predict human reading times? The two measures of Futrell2018
(:mod:`tuneshift.benchmarks.futrell2018` documents the protocols): Brain-Score's Pearson r of surprisal with mean
reading time, and ΔLL, the held-out log-likelihood gain of a reading-time regression when surprisal joins a
length/frequency/punctuation/position baseline (leave-one-story-out; Goodkind & Bicknell 2018; Wilcox et al. 2020).

Confidence intervals (95 %, percentile) resample stories for the pooled scores and words within a story for the
per-story scores; all folds and bootstrap draws are solved at once from per-story sufficient statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tuneshift.errors import InvalidInputError, InvalidParameterError

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


def scored_words(words: pd.DataFrame, surprisal: np.ndarray, *, sentences: str = "conllx") -> pd.DataFrame:
    """`words` with ``surprisal`` (bits) and its spillover lags ``surprisal_1``, ``surprisal_2`` (and the same lags
    of the baseline predictors) within each story, and ``use_r`` / ``use_ll`` marking the words each measure
    scores: not sentence-initial (`sentences`: ``"conllx"`` boundaries, or ``"brainscore"``'s 481-sentence
    punctuation rule), defined surprisal and RT; for ΔLL also defined spillover lags."""
    check_choice("sentences", sentences, tuple(SENTENCE_SPLITS))
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


def check_choice(parameter: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidParameterError(parameter, f"one of {list(choices)}", value)
