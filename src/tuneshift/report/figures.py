"""The report's figures, drawn where a reader looks: each takes tidy tables and returns a matplotlib ``Figure``
(no pyplot state, no file written), so the page embeds it and :func:`tuneshift.report.write_report` also saves it
as SVG and PDF beside the run.

Conventions every figure keeps: the y axis names the metric and its units as the benchmark computes it
(:func:`metric_label`: a CKA profile is not "Pearson r"), intervals say what they resample, reference lines
(noise ceiling, random-init control) are drawn and labelled when the run has them, and a control is called a
control, never an instruction-tuning effect.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats as sps

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
CONTROL_COLOR = "0.45"
CEILING_COLOR = "#2c3e50"
# A best-layer score this many times the honest one is flagged: the test-chosen layer is optimistic.
OPTIMISM_RATIO = 1.25
METRIC_LABELS = {  # the metric a benchmark computes → its axis label (quantity, aggregation, units)
    "linear": "encoding r (Pearson; OLS, median over neuroids)",
    "ridge": "encoding r (Pearson; ridge, median over neuroids)",
    "cka": "linear CKA (0–1, unitless)",
    "rdm": "RSA: Spearman ρ between RDMs",
    "|r|": "|Pearson r|, surprisal vs reading time",
    "nats/word": "ΔLL (nats / word)",
    "pearsonr": "|Pearson r|, surprisal vs reading time",  # Futrell2018-pearsonr
    "deltall": "ΔLL (nats / word)",  # Futrell2018-deltall
    "accuracy": "accuracy (share correct)",
    "loss": "loss (nats / token)",
}
PROPERTY_LABELS = {  # model properties of a study → axis names with units
    "log10_params": "parameters (log10 of the count)",
    "brain_alignment": "brain alignment (mean encoding r over neural benchmarks)",
    "behavioral_alignment": "reading-time alignment (mean over reading-time benchmarks)",
    "params_b": "parameters (billions)",
    "mmlu": "MMLU accuracy (share correct)",
    "bbh": "BBH accuracy (share correct)",
    "nwp_loss": "next-word loss (nats / token)",
    "wikitext2_loss": "WikiText-2 loss (nats / token)",
}


def metric_of(benchmark: str, unit: str | None = None, protocol: Mapping | None = None) -> str:
    """Key of :data:`METRIC_LABELS` for `benchmark` (an id, possibly followed by `` [options]``): the protocol the
    run recorded, else the unit it reported (reading times), else the registered protocol of the id."""
    if protocol and protocol.get("regression") in METRIC_LABELS:
        return str(protocol["regression"])
    if unit in METRIC_LABELS:
        return str(unit)
    identifier = benchmark.split(" [")[0]
    from tuneshift.benchmarks.neural import PROTOCOLS

    if identifier in PROTOCOLS:
        return PROTOCOLS[identifier].regression
    suffix = identifier.rsplit("-", 1)[-1]  # -cka / -rdm variants and Futrell2018's measures are named by suffix
    return suffix if suffix in METRIC_LABELS else ""


def metric_label(benchmark: str, unit: str | None = None, protocol: Mapping | None = None) -> str:
    """The y-axis label of `benchmark`'s scores (``"raw score"`` when its metric is unknown)."""
    return METRIC_LABELS.get(metric_of(benchmark, unit, protocol), "raw score")


def property_label(name: str) -> str:
    """Axis name of a model property or alignment column (benchmark ids get their metric)."""
    if name in PROPERTY_LABELS:
        return PROPERTY_LABELS[name]
    metric = metric_of(name)
    return f"{name}: {METRIC_LABELS[metric]}" if metric else name.replace("_", " ")


def t_interval(per_split: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over `axis` (splits) and its 95 % t interval (mean ± t₀.₉₇₅ · sd / √n); NaN with fewer than 2."""
    values = np.asarray(per_split, dtype=float)
    n = np.sum(np.isfinite(values), axis=axis)
    mean = np.nanmean(values, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = sps.t.ppf(0.975, np.maximum(n - 1, 1)) * np.nanstd(values, axis=axis, ddof=1) / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    return mean, mean - half, mean + half


def optimistic(best: float, honest: float) -> bool:
    """Is the best-layer score (chosen on the test data) ≫ the honest one (chosen on training folds)?"""
    return bool(np.isfinite(best) and np.isfinite(honest) and best > 0 and best > OPTIMISM_RATIO * max(honest, 0))


# -------------------------------------------------------------------------------------------- layer profiles
@dataclass(frozen=True)
class Profile:
    """One model's scores over layers on a benchmark: layer, raw (mean over splits), CI across splits or NaN."""

    model: str
    layers: np.ndarray
    raw: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    control: bool = False  # a random-init control: drawn as a grey reference, labelled as such
    honest_raw: float = float("nan")
    honest_layers: tuple[int, ...] = ()


def layer_profile(profiles: Sequence[Profile], benchmark: str, ylabel: str, ceiling: float | None = None) -> Figure:
    """Score per layer on relative depth (models of any depth share the axis), CIs across splits as bands, the
    best layer as a dot, each split's honest layer as a tick, the noise ceiling and random-init controls as
    labelled reference lines, and a note where the best-layer score is ≫ the honest one."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    flagged = []
    colors = iter(PALETTE * 4)
    for profile in profiles:
        depth = profile.layers / max(float(profile.layers.max()), 1.0)
        if profile.control:
            color, style, name = CONTROL_COLOR, "--", f"{profile.model} (random-init control)"
        else:
            color, style, name = next(colors), "-", f"{profile.model} ({int(profile.layers.max())} layers)"
        ax.plot(depth, profile.raw, style, color=color, lw=1.6, label=name)
        if np.isfinite(profile.ci_low).any():
            ax.fill_between(depth, profile.ci_low, profile.ci_high, color=color, alpha=0.15, lw=0)
        best = int(np.nanargmax(profile.raw))
        ax.plot(depth[best], profile.raw[best], "o", color=color, ms=6)
        if profile.honest_layers:
            chosen = np.asarray(profile.honest_layers, dtype=float) / max(float(profile.layers.max()), 1.0)
            ax.plot(chosen, np.zeros_like(chosen), "|", color=color, ms=12, mew=2, transform=ax.get_xaxis_transform())
        if not profile.control and optimistic(profile.raw[best], profile.honest_raw):
            flagged.append(f"{profile.model}: best layer {profile.raw[best]:.3g} vs honest {profile.honest_raw:.3g}")
    if ceiling is not None and np.isfinite(ceiling):
        ax.axhline(ceiling, color=CEILING_COLOR, ls=":", lw=1.4, label=f"noise ceiling {ceiling:.3g}")
    ax.axhline(0, color="0.75", lw=0.8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("relative depth (0 = embeddings, 1 = last block)")
    ax.set_ylabel(ylabel)
    ax.set_title(benchmark, fontsize=11)
    if flagged:
        ax.text(
            0.01, 0.99, "⚠ best layer ≫ honest score (optimistic):\n" + "\n".join(flagged), transform=ax.transAxes,
            va="top", fontsize=7.5, color="#a3261f", bbox={"facecolor": "white", "edgecolor": "#a3261f", "alpha": 0.9},
        )  # fmt: skip
    ax.legend(fontsize=7.5, frameon=False, loc="lower right")
    return fig


# --------------------------------------------------------------------------------------------- reading times
def story_forest(stories: pd.DataFrame, pooled: pd.DataFrame, benchmark: str, xlabel: str) -> Figure:
    """Forest plot of one reading-time benchmark: per story (rows) each model's score with its CI when recorded,
    and the pooled score with its story-bootstrap CI as a diamond at the bottom.

    stories: model, story, score[, ci_low, ci_high]; pooled: model, score, ci_low, ci_high.
    """
    order = sorted(stories["story"].astype(str).unique(), key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0))
    models = list(dict.fromkeys([*pooled["model"], *stories["model"]]))
    # rows from the top: one per story (models side by side within it), a gap, then one pooled row per model
    n_rows = len(order) + 1 + len(models)
    fig = Figure(figsize=(6.4, 1.3 + 0.3 * n_rows), layout="constrained")
    ax = fig.add_subplot()
    step = 0.7 / max(len(models), 1)
    for index, model in enumerate(models):
        color = PALETTE[index % len(PALETTE)]
        offset = (index - (len(models) - 1) / 2) * step
        mine = stories[stories["model"] == model].assign(story=lambda f: f["story"].astype(str)).set_index("story")
        ys = np.array([n_rows - 1 - order.index(s) for s in mine.index]) - offset
        if {"ci_low", "ci_high"} <= set(mine.columns):
            ax.hlines(ys, mine["ci_low"], mine["ci_high"], color=color, lw=1.2)
        ax.plot(mine["score"].to_numpy(dtype=float), ys, "s", color=color, ms=4, label=model)
        row = pooled[pooled["model"] == model]
        if len(row):
            value, low, high = (float(row[c].iat[0]) for c in ("score", "ci_low", "ci_high"))
            y = len(models) - 1 - index
            ax.fill([low, value, high, value], [y, y + 0.3, y, y - 0.3], color=color, alpha=0.85)
    ax.axvline(0, color="0.75", lw=0.8)
    ax.axhline(len(models) - 0.5 + 0.5, color="0.8", lw=0.8)
    ticks = [n_rows - 1 - i for i in range(len(order))] + list(range(len(models)))
    labels = [f"story {s}" for s in order] + [f"pooled · {m}" for m in reversed(models)]
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_ylim(-0.7, n_rows - 0.3)
    ax.set_xlabel(xlabel)
    ax.set_title(benchmark, fontsize=10)
    ax.legend(fontsize=7.5, frameon=False, loc="best")
    return fig


def binned_surprisal(words: pd.DataFrame, n_bins: int = 12) -> pd.DataFrame:
    """Per model, mean reading time in equal-count surprisal bins with its 95 % t interval over the bin's words.

    words: model, surprisal (bits), mean_rt (ms) of the words a measure scores. Returns model, surprisal (bin
    mean), rt, ci_low, ci_high, n."""
    frames = []
    for model, group in words.dropna(subset=["surprisal", "mean_rt"]).groupby("model", sort=False):
        bins = pd.qcut(group["surprisal"].rank(method="first"), min(n_bins, len(group)), labels=False)
        stats = group.groupby(bins).agg(
            surprisal=("surprisal", "mean"), rt=("mean_rt", "mean"), sd=("mean_rt", "std"), n=("mean_rt", "size")
        )
        half = sps.t.ppf(0.975, np.maximum(stats["n"] - 1, 1)) * stats["sd"] / np.sqrt(stats["n"])
        frames.append(stats.assign(model=model, ci_low=stats["rt"] - half, ci_high=stats["rt"] + half))
    columns = ["model", "surprisal", "rt", "ci_low", "ci_high", "n"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def surprisal_vs_rt(words: pd.DataFrame, n_bins: int = 12) -> Figure:
    """The field's standard plot: mean reading time (ms) against surprisal (bits), binned means with 95 % CIs,
    one line per model (words: model, surprisal, mean_rt)."""
    binned = binned_surprisal(words, n_bins)
    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for index, (model, group) in enumerate(binned.groupby("model", sort=False)):
        color = PALETTE[index % len(PALETTE)]
        ax.errorbar(
            group["surprisal"], group["rt"], yerr=[group["rt"] - group["ci_low"], group["ci_high"] - group["rt"]],
            fmt="o-", color=color, ms=4, lw=1.4, capsize=2, label=f"{model} (n = {int(group['n'].sum())} words)",
        )  # fmt: skip
    ax.set_xlabel("surprisal (bits)")
    ax.set_ylabel("mean reading time (ms)")
    ax.set_title(f"Reading time by surprisal ({n_bins} equal-count bins, 95 % CI)", fontsize=10)
    ax.legend(fontsize=7.5, frameon=False)
    return fig


# --------------------------------------------------------------------------------------------- base vs tuned
@dataclass(frozen=True)
class Change:
    """One benchmark of a base-vs-tuned comparison as the terminal states it."""

    benchmark: str
    ylabel: str
    base: float
    tuned: float
    base_ci: tuple[float, float]
    tuned_ci: tuple[float, float]
    pct: float
    pct_ci: tuple[float, float]
    test: str  # e.g. "n = 10 splits, Wilcoxon signed-rank p = 0.105"
    effect: str = ""  # better / worse / no change, in the benchmark's direction
    higher_is_better: bool = True


def change_panels(changes: Sequence[Change], base: str, tuned: str, *, control: bool = False) -> Figure:
    """Per benchmark a panel: the absolute scores of both models with their CIs (on the benchmark's own axis) and,
    beneath, the % change with its CI, n and the paired test. Titled a control comparison when the base is a
    random-init control (that difference is what training does, not instruction tuning). The bars are labelled by
    role, the models by name in the title: two long model names side by side overlap."""
    n = len(changes)
    columns = min(n, 4)
    grid = (int(np.ceil(n / columns)), columns)
    fig = Figure(figsize=(2.9 * columns + 0.6, 3.6 * grid[0] + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(*grid, squeeze=False).ravel())
    names = ["random-init\ncontrol", "trained"] if control else ["base", "tuned"]  # the title names both models
    for ax, change in zip(axes, changes, strict=False):
        values = np.array([change.base, change.tuned])
        intervals = np.array([change.base_ci, change.tuned_ci], dtype=float)
        colors = [CONTROL_COLOR if control else PALETTE[0], PALETTE[1]]
        ax.bar([0, 1], values, color=colors, alpha=0.75, width=0.6)
        drawn = np.isfinite(intervals).all(axis=1)
        ax.vlines(np.arange(2)[drawn], intervals[drawn, 0], intervals[drawn, 1], color="k", lw=1.5)
        ax.set_xticks([0, 1], names, fontsize=7.5)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_ylabel(change.ylabel, fontsize=8)
        ax.set_title(change.benchmark, fontsize=9)
        pct = "% change undefined (base ≤ 0)" if not np.isfinite(change.pct) else f"{change.pct:+.1f} %"
        if np.isfinite(change.pct) and np.isfinite(change.pct_ci).all():
            pct += f" [{change.pct_ci[0]:+.1f}, {change.pct_ci[1]:+.1f}]"
        if change.effect:
            pct += f", {change.effect}" + ("" if change.higher_is_better else " (lower is better)")
        ax.text(0.5, -0.2, f"{pct}\n{change.test}", transform=ax.transAxes, ha="center", va="top", fontsize=7.5)
    for ax in axes[n:]:
        ax.set_visible(False)
    what = "Trained model vs its random-init control" if control else "Instruction tuning: base vs tuned"
    fig.suptitle(f"{what} ({tuned} vs {base})", fontsize=10)
    return fig


def effects_strip(effects: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """A study's % change tuned vs base per benchmark: one dot per base/tuned pair, the mean over pairs with its
    bootstrap CI, and under each benchmark n pairs and the Wilcoxon signed-rank p over pairs."""
    order = list(summary["benchmark"])
    fig = Figure(figsize=(max(4.5, 1.3 * len(order) + 2), 4.2), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    for position, row in enumerate(summary.itertuples(index=False)):
        values = effects.loc[effects["benchmark"] == row.benchmark, "pct_change"].to_numpy(dtype=float)
        ax.plot(position + rng.uniform(-0.15, 0.15, len(values)), values, "o", color="0.35", ms=3.5, alpha=0.7)
        ax.plot([position - 0.25, position + 0.25], [row.mean_pct] * 2, color=PALETTE[0], lw=2.5)
        ax.vlines(position, row.ci_low, row.ci_high, color=PALETTE[0], lw=1.5)
    lower = ~summary.get("higher_is_better", pd.Series(True, index=summary.index)).astype(bool).to_numpy()
    labels = [
        f"{r.benchmark}" + ("\n(lower is better)" if low else "") + f"\nn = {r.n_pairs} pairs"
        + (f"\np = {r.wilcoxon_p:.3g}" if np.isfinite(r.wilcoxon_p) else "")
        for r, low in zip(summary.itertuples(index=False), lower, strict=True)
    ]  # fmt: skip
    ax.set_xticks(range(len(order)), labels, fontsize=7.5, rotation=20 if len(order) > 4 else 0)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_ylabel("% change, tuned vs its base")
    ax.set_title("Instruction tuning: % change per base/tuned pair (mean, 95 % bootstrap CI)", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------- correlations
def correlation_scatter(
    table: pd.DataFrame, x: str, y: str, *, title: str, xlabel: str | None = None, ylabel: str | None = None
) -> Figure:
    """`y` against `x`, one dot per model (base and instruction-tuned apart), least-squares line, model names
    placed where they overlap neither each other nor a dot (left out, and counted, where no place is free)."""
    rows = table.dropna(subset=[x, y])
    xs, ys = rows[x].to_numpy(dtype=float), rows[y].to_numpy(dtype=float)
    fig = Figure(figsize=(5.8, 4.6), layout="constrained")
    ax = fig.add_subplot()
    tuned = np.zeros(len(rows), dtype=bool)
    if "instruction_tuned" in rows.columns:
        tuned = rows["instruction_tuned"].astype(str).str.lower().isin(["true", "1", "yes"]).to_numpy()
    ax.scatter(xs[~tuned], ys[~tuned], color=PALETTE[0], label="base", s=30, zorder=3)
    if tuned.any():
        ax.scatter(xs[tuned], ys[tuned], color=PALETTE[1], label="instruction-tuned", s=30, zorder=3)
    if len(rows) > 1 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(xs.min(), xs.max(), 50)
        ax.plot(grid, slope * grid + intercept, color="k", lw=1)
    ax.set_xlabel(xlabel or property_label(x))
    ax.set_ylabel(ylabel or property_label(y))
    ax.set_title(textwrap.fill(title, 70), fontsize=9)  # r, p, q, n and the subset: never cut off
    ax.legend(fontsize=8, frameon=False)
    if "model" in rows.columns:
        hidden = place_labels(ax, xs, ys, [str(m) for m in rows["model"]])
        if hidden:
            ax.text(1, -0.02, f"{hidden} labels left out (no free place)", transform=ax.transAxes, ha="right",
                    va="top", fontsize=6.5, color="0.4")  # fmt: skip
    return fig


def place_labels(ax, xs: np.ndarray, ys: np.ndarray, labels: Sequence[str], fontsize: float = 6.5) -> int:
    """Put each label next to its point at the first of 8 offsets where its box overlaps no placed label, no dot
    and stays inside the axes; return how many found no place (those are not drawn)."""
    fig = ax.figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # the constrained layout fixes the axes before positions are measured
    frame = ax.get_window_extent(renderer)
    points = ax.transData.transform(np.column_stack([xs, ys]))
    dots = [(px - 4, py - 4, px + 4, py + 4) for px, py in points]
    placed: list[tuple[float, float, float, float]] = []
    offsets = [(4, 3), (4, -10), (-4, 3), (-4, -10), (0, 8), (0, -14), (10, -3), (-10, -3)]
    hidden = 0
    for xv, yv, text in zip(xs, ys, labels, strict=True):
        artist = ax.annotate(text, (xv, yv), xytext=(0, 0), textcoords="offset points", fontsize=fontsize, color="0.25")
        for dx, dy in offsets:
            artist.set_position((dx, dy))
            artist.set_horizontalalignment("left" if dx >= 0 else "right")
            box = artist.get_window_extent(renderer)
            rect = (box.x0, box.y0, box.x1, box.y1)
            inside = frame.x0 <= rect[0] and rect[2] <= frame.x1 and frame.y0 <= rect[1] and rect[3] <= frame.y1
            if inside and not any(_overlap(rect, other) for other in (*placed, *dots)):
                placed.append(rect)
                break
        else:
            artist.remove()
            hidden += 1
    return hidden


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# ------------------------------------------------------------------------------------------- tune and localize
def loss_curve(frame: pd.DataFrame, title: str) -> Figure:
    """Training loss per optimizer step (integer steps) with its running mean, and the learning rate."""
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    window = max(1, len(frame) // 20)
    ax.plot(frame["step"], frame["loss"], lw=0.8, alpha=0.6, color=PALETTE[0], marker="." if len(frame) < 60 else "",
            label="loss of the step")  # fmt: skip
    if window > 1:
        ax.plot(frame["step"], frame["loss"].rolling(window, min_periods=1).mean(), lw=2, color=PALETTE[0],
                label=f"running mean of {window} steps")  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats / response token)")
    ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    if "learning_rate" in frame:
        rate = ax.twinx()
        (line,) = rate.plot(frame["step"], frame["learning_rate"], color="0.55", lw=1, ls="--")
        rate.set_ylabel("learning rate", color="0.45")
        rate.tick_params(axis="y", colors="0.45", labelsize=7)
        handles, labels = [*handles, line], [*labels, "learning rate (right axis)"]
    ax.legend(handles, labels, fontsize=7.5, frameon=False, loc="center right")
    return fig


def network_vs_random(scores: pd.DataFrame, ylabel: str) -> tuple[Figure, dict]:
    """The localized network's score beside random unit sets of its size (one dot each) and all units (best and
    honest layer), per benchmark; with the one-sided permutation test p = (1 + #random ≥ network) / (n + 1).

    scores: network_scores.csv (model, benchmark, units ∈ network | random | all (...), raw, ceiling)."""
    benchmarks = list(dict.fromkeys(scores["benchmark"]))
    fig = Figure(figsize=(2.6 * len(benchmarks) + 1.6, 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(benchmarks), squeeze=False).ravel())
    tests = {}
    for ax, benchmark in zip(axes, benchmarks, strict=True):
        rows = scores[scores["benchmark"] == benchmark]
        network = float(rows.loc[rows["units"] == "network", "raw"].iat[0])
        random = rows.loc[rows["units"] == "random", "raw"].to_numpy(dtype=float)
        p = (1 + np.sum(random >= network)) / (len(random) + 1)
        z = (network - random.mean()) / random.std(ddof=1) if len(random) > 1 and random.std() > 0 else np.nan
        tests[benchmark] = {"network": network, "random_mean": float(random.mean()) if len(random) else np.nan,
                            "n_random": len(random), "p": float(p), "z": float(z)}  # fmt: skip
        jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(random))
        ax.plot(1 + jitter, random, "o", color=CONTROL_COLOR, ms=5, label="random units (same size)")
        ax.plot([0], [network], "D", color=PALETTE[1], ms=9, label="language network")
        for label, style in (("all (best layer)", "-"), ("all (honest layer)", "--")):
            found = rows.loc[rows["units"] == label, "raw"]
            if len(found):
                ax.axhline(float(found.iat[0]), color=PALETTE[0], ls=style, lw=1.2, label=f"{label}")
        ceiling = rows["ceiling"].dropna()
        if len(ceiling):
            ax.axhline(float(ceiling.iat[0]), color=CEILING_COLOR, ls=":", lw=1.4, label="noise ceiling")
        ax.set_xticks([0, 1], ["network", f"random\n(n = {len(random)})"])
        ax.set_xlim(-0.6, 1.6)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(f"{benchmark}\npermutation p = {p:.3g}" + (f", z = {z:.2f}" if np.isfinite(z) else ""), fontsize=9)
    axes[0].legend(fontsize=7, frameon=False, loc="best")
    return fig, tests


def ablation_effects(table: pd.DataFrame) -> Figure:
    """Change in mean surprisal (bits / word) when the network or random unit sets of its size are ablated, and,
    when measured, the change in the reading-time fit (|r| and ΔLL)."""
    measures = [("delta_bits", "Δ surprisal vs intact (bits / word)")]
    intact = table[table["condition"] == "none"]
    for column, label in (("futrell_r", "|r| surprisal vs RT"), ("futrell_deltall", "ΔLL (nats / word)")):
        if column in table and table[column].notna().any():
            measures.append((column, label))
    fig = Figure(figsize=(3.0 * len(measures) + 0.8, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(measures), squeeze=False).ravel())
    for ax, (column, label) in zip(axes, measures, strict=True):
        network = table.loc[table["condition"] == "network", column].to_numpy(dtype=float)
        random = table.loc[table["condition"] == "random", column].to_numpy(dtype=float)
        ax.plot(np.zeros_like(network), network, "D", color=PALETTE[1], ms=9)
        ax.plot(1 + np.random.default_rng(0).uniform(-0.12, 0.12, len(random)), random, "o", color=CONTROL_COLOR)
        if column != "delta_bits" and len(intact):
            ax.axhline(float(intact[column].iat[0]), color=PALETTE[0], ls="--", lw=1.2, label="intact model")
            ax.legend(fontsize=7, frameon=False)
        else:
            ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks([0, 1], ["network\nablated", f"random ablated\n(n = {len(random)})"], fontsize=8)
        ax.set_xlim(-0.6, 1.6)
        ax.set_ylabel(label, fontsize=8)
    fig.suptitle("Ablation on Natural Stories", fontsize=10)
    return fig


# ------------------------------------------------------------------------------------------------------ graft
GRAFT_ROW_LABELS = {
    "leave-one-in": "tuned part grafted into the base",
    "leave-one-out": "part restored to the base in the tuned model",
    "cumulative-bottom": "tuned from the bottom up to",
    "cumulative-top": "tuned from the top down to",
    "attn-ffn": "tuned sublayers grafted into the base",
}


def share_heatmap(table: pd.DataFrame, sweep: str) -> Figure:
    """Part (rows, in sweep order) × benchmark (columns) of the share of the base→tuned change recovered, annotated
    with the share and, where there is one, its 95 % interval. Diverging colours: 0 = base (white), 1 = tuned."""
    rows = table[table["sweep"] == sweep]
    shares = rows.pivot_table(index=["step", "part"], columns="benchmark", values="share", sort=True)
    low = rows.pivot_table(index=["step", "part"], columns="benchmark", values="share_ci_low", dropna=False)
    high = rows.pivot_table(index=["step", "part"], columns="benchmark", values="share_ci_high", dropna=False)
    low, high = low.reindex_like(shares), high.reindex_like(shares)
    values = shares.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    bound = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    fig = Figure(figsize=(2.0 + 1.9 * shares.shape[1], 1.2 + 0.32 * shares.shape[0]), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -bound, bound), aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            text = f"{value:.2f}"
            if np.isfinite(low.iat[i, j]):
                text += f"\n[{low.iat[i, j]:.2f}, {high.iat[i, j]:.2f}]"
            dark = abs(value) > 0.6 * bound  # deep red / blue cells: white text to stay legible
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color="white" if dark else "black")
    ax.set_xticks(range(shares.shape[1]), shares.columns, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(shares.shape[0]), [part for _, part in shares.index], fontsize=7)
    direction = rows["direction"].iat[0] if len(rows) else "forward"
    what = "tuned parts in base" if direction == "forward" else "base parts in tuned"
    kept = rows["always"].dropna().iat[0] if "always" in rows and rows["always"].notna().any() else ""
    ax.set_title(f"{sweep}: share of the base→tuned change\n({what}{'; always tuned: ' + kept if kept else ''})",
                 fontsize=9)  # fmt: skip
    ax.set_ylabel(GRAFT_ROW_LABELS.get(sweep, "parts"), fontsize=8)
    fig.colorbar(image, ax=ax, label="(hybrid − base) / (tuned − base)")
    return fig


def alpha_curves(table: pd.DataFrame) -> Figure:
    """Share of the change recovered against α (base + α·(tuned − base)), one line per benchmark with its 95 %
    interval band; the diagonal is a change linear in the weights."""
    rows = table[table["sweep"] == "alpha"].sort_values("alpha")
    fig = Figure(figsize=(5.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="linear in α")
    for colour, (bench, curve) in zip(PALETTE * 4, rows.groupby("benchmark", sort=True), strict=False):
        ax.plot(curve["alpha"], curve["share"], marker="o", color=colour, label=bench)
        if curve["share_ci_low"].notna().any():
            ax.fill_between(curve["alpha"], curve["share_ci_low"], curve["share_ci_high"], color=colour, alpha=0.15)
    parts = rows["part"].iat[0] if len(rows) else "all"
    ax.set_xlabel(f"α (weights of {parts}: base + α·(tuned − base))")
    ax.set_ylabel("share of base→tuned change")
    ax.axhline(0, color="0.8", linewidth=0.8)
    ax.axhline(1, color="0.8", linewidth=0.8)
    ax.legend(fontsize=7, frameon=False)
    return fig


# ------------------------------------------------------------------------------------------------- trajectory
SCORE_NAMES = {"best_raw": "best layer", "honest_raw": "honest layer", "best_normalized": "best layer / ceiling"}


def arm_colours(arms: Sequence[str]) -> dict[str, str]:
    """One colour per arm (sorted), the same in every trajectory figure."""
    return {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(sorted(arms))}


def trajectory_curves(
    table: pd.DataFrame, summary: pd.DataFrame, *, x: str = "step", score: str = "best_raw"
) -> Figure:
    """One panel per benchmark: `score` against `x` ("step" or "tokens_seen") per arm — the mean over seeds with
    its 95 % t-interval as a band (:func:`tuneshift.study.trajectory.summarize`) and each seed as a thin line
    (`table`: :func:`tuneshift.study.trajectory.trajectory_table`) — and the base (step 0) as a reference line."""
    benchmarks = sorted(summary["benchmark"].unique())
    colours = arm_colours(table["arm"].unique())
    fig = Figure(figsize=(4.6 * len(benchmarks) + 0.6, 3.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(benchmarks), squeeze=False).ravel())
    for ax, benchmark in zip(axes, benchmarks, strict=True):
        mine = table[table["benchmark"] == benchmark]
        base = mine.loc[mine["step"] == 0, score].dropna()
        if len(base):
            ax.axhline(float(base.iat[0]), color=CONTROL_COLOR, ls="--", lw=1.2, label="base (step 0)")
        for index, (arm, run) in enumerate(mine.groupby(["arm", "seed"], sort=True)):
            run = run.sort_values("step")
            label = "one seed (thin)" if index == 0 else None
            ax.plot(run[x], run[score], color=colours[arm[0]], lw=0.7, alpha=0.45, label=label)
        for arm, curve in summary[summary["benchmark"] == benchmark].groupby("arm", sort=True):
            curve = curve.sort_values(x)
            n = int(curve.loc[curve["step"] > 0, "n_seeds"].min()) if (curve["step"] > 0).any() else 0
            ax.plot(curve[x], curve["mean"], "o-", color=colours[arm], lw=1.8, ms=4,
                    label=f"{arm}: mean of n = {n} seed{'s' if n != 1 else ''}")  # fmt: skip
            if curve["ci_low"].notna().any():
                ax.fill_between(curve[x], curve["ci_low"], curve["ci_high"], color=colours[arm], alpha=0.18, lw=0)
        ax.set_xlabel("optimizer step" if x == "step" else "tokens seen")
        if x == "step":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric_label(benchmark))
        ax.set_title(f"{benchmark} ({SCORE_NAMES.get(score, score)}; band: 95 % CI over seeds)", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    return fig


def trajectory_losses(losses: pd.DataFrame) -> Figure:
    """Training loss per optimizer step of every (arm, seed) run (:func:`tuneshift.study.trajectory.training_losses`):
    a running mean per run, coloured by arm, one line style per seed."""
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    colours = arm_colours(losses["arm"].unique())
    styles = {seed: ("-", "--", ":", "-.")[i % 4] for i, seed in enumerate(sorted(losses["seed"].unique()))}
    window = max(1, int(losses.groupby(["arm", "seed"]).size().max()) // 20)
    for (arm, seed), run in losses.groupby(["arm", "seed"], sort=True):
        run = run.sort_values("step")
        ax.plot(run["step"], run["loss"].rolling(window, min_periods=1).mean(), color=colours[arm], ls=styles[seed],
                lw=1.3, label=f"{arm}, seed {seed}")  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (nats / loss token)")
    ax.set_title("Training loss per run" + (f" (running mean of {window} steps)" if window > 1 else ""), fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    return fig
