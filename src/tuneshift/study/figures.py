"""Figures of comparisons and studies: layer profiles, base-vs-tuned changes, correlation scatters.

Each function takes tidy tables (the ones `compare` and `study` write) and returns a matplotlib ``Figure``; none
writes a file, so the HTML report embeds the very figures the command line saves (:func:`save_figure`: PNG + SVG).
Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot state), so they are safe in workers and
threads and never open a window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats as sps

from tuneshift._io import write_atomic

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf")


def relative_depth(layers: pd.Series | np.ndarray) -> np.ndarray:
    """Layer index / deepest layer scored (0 = embeddings, 1 = last block), so models of any depth share an axis."""
    layers = np.asarray(layers, dtype=float)
    deepest = np.nanmax(layers) if layers.size else 0.0
    return layers / deepest if deepest > 0 else np.zeros_like(layers)


def layer_profiles(
    scores: pd.DataFrame, benchmark: str, honest_layers: Mapping[str, Sequence[int]] | None = None
) -> Figure:
    """Raw score per layer of every model in `scores` (rows of scores.csv) on `benchmark`, on relative depth.

    The best layer of each model is marked with a filled dot; `honest_layers` (model → layers chosen on training
    folds, one per split) adds ticks at those depths, showing how far the honest choice is from the maximum.
    """
    rows = scores[(scores["benchmark"] == benchmark) & scores["layer"].notna()]
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for index, (model, group) in enumerate(rows.groupby("model", sort=False)):
        group = group.sort_values("layer")
        color = PALETTE[index % len(PALETTE)]
        depth = relative_depth(group["layer"])
        ax.plot(depth, group["raw"], color=color, label=f"{model} ({int(group['layer'].max())} layers)", lw=1.6)
        if {"ci_low", "ci_high"} <= set(group.columns) and group["ci_low"].notna().any():
            ax.fill_between(depth, group["ci_low"], group["ci_high"], color=color, alpha=0.15, lw=0)
        best = int(np.nanargmax(group["raw"].to_numpy()))
        ax.plot(depth[best], group["raw"].iloc[best], "o", color=color, ms=6)
        if honest_layers and model in honest_layers:
            chosen = np.asarray(list(honest_layers[model]), dtype=float) / max(float(group["layer"].max()), 1.0)
            ax.plot(chosen, np.full_like(chosen, ax.get_ylim()[0]), "|", color=color, ms=14, mew=2, clip_on=False)
    ax.set_xlabel("relative depth (0 = embeddings, 1 = last block)")
    ax.set_ylabel("raw score (Pearson r)")
    ax.set_title(benchmark)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlim(-0.02, 1.02)
    if len(rows):
        ax.legend(fontsize=8, frameon=False)
    return fig


def change_bars(effects: pd.DataFrame, summary: pd.DataFrame, *, title: str = "Instruction-tuning effect") -> Figure:
    """% change tuned vs base per benchmark: a bar per benchmark with its CI, one dot per pair.

    `effects` is effects.csv (pair, benchmark, pct_change, ...), `summary` its summary per benchmark
    (:func:`tuneshift.study.stats.summarize_effects`: with several pairs the bar is the mean over pairs and the CI a
    bootstrap of that mean; with one pair, a `compare`, its change and its ``ci_low``/``ci_high``). `title` names
    what the change is (a compare against a random-init control is not an instruction-tuning effect). A bar is
    coloured as an improvement in its benchmark's direction (the summary's ``higher_is_better``: a falling loss is
    one) and labelled where lower is better.
    """
    order = list(summary["benchmark"])
    fig = Figure(figsize=(max(4.0, 1.1 * len(order) + 2), 4.0), layout="constrained")
    ax = fig.add_subplot()
    positions = np.arange(len(order))
    higher = summary.get("higher_is_better", pd.Series(True, index=summary.index)).astype(bool).to_numpy()
    colors = np.where((summary["mean_pct"].to_numpy(dtype=float) >= 0) == higher, PALETTE[0], PALETTE[1]).tolist()
    ax.bar(positions, summary["mean_pct"], color=colors, alpha=0.75, width=0.6)
    # the interval is drawn from its ends (a paired test's CI need not be centred on the bar: per-story changes)
    ax.vlines(positions, summary["ci_low"], summary["ci_high"], color="k", lw=1.5)
    rng = np.random.default_rng(0)
    for position, benchmark in zip(positions, order, strict=True):
        values = effects.loc[effects["benchmark"] == benchmark, "pct_change"].to_numpy(dtype=float)
        if len(values) > 1:
            jitter = rng.uniform(-0.15, 0.15, len(values))
            ax.plot(position + jitter, values, "o", color="k", ms=3, alpha=0.6)
    labels = [
        f"{name}" + ("" if up else " (lower is better)") + f"\nn={n}" + (f", p={p:.2g}" if np.isfinite(p) else "")
        for name, n, p, up in zip(order, summary["n_pairs"], summary["wilcoxon_p"], higher, strict=True)
    ]
    ax.set_xticks(positions, labels, fontsize=8, rotation=20 if len(order) > 4 else 0)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_ylabel("% change, tuned vs base")
    ax.set_title(title)
    return fig


def correlation_scatter(
    table: pd.DataFrame, x: str, y: str, r: float | None = None, p: float | None = None, *, log_x: bool = False
) -> Figure:
    """Scatter of `y` against `x` (one dot per model row, labelled), least-squares fit, Pearson r and p in the title.

    `r`/`p` default to Pearson's on the plotted rows; pass the study's values (e.g. FDR-adjusted q as p) to show
    exactly what correlations.csv reports. Tuned and base models get their own colours when the table has
    ``instruction_tuned``.
    """
    rows = table.dropna(subset=[x, y])
    xs, ys = rows[x].to_numpy(dtype=float), rows[y].to_numpy(dtype=float)
    if log_x:
        xs = np.log10(xs)
    if r is None and len(rows) > 2:
        r, p = (float(v) for v in sps.pearsonr(xs, ys))
    fig = Figure(figsize=(5.6, 4.4), layout="constrained")
    ax = fig.add_subplot()
    if "instruction_tuned" in rows.columns:
        tuned = rows["instruction_tuned"].astype(str).str.lower().isin(["true", "1", "yes"]).to_numpy()
        ax.scatter(xs[~tuned], ys[~tuned], color=PALETTE[0], label="base", s=28)
        ax.scatter(xs[tuned], ys[tuned], color=PALETTE[1], label="instruction-tuned", s=28)
        ax.legend(fontsize=8, frameon=False)
    else:
        ax.scatter(xs, ys, color=PALETTE[0], s=28)
    if "model" in rows.columns and len(rows) <= 40:
        for xv, yv, name in zip(xs, ys, rows["model"], strict=True):
            ax.annotate(str(name), (xv, yv), fontsize=6, xytext=(3, 2), textcoords="offset points", color="0.3")
    if len(rows) > 1 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(xs.min(), xs.max(), 50)
        ax.plot(grid, slope * grid + intercept, color="k", lw=1)
    ax.set_xlabel(f"log10 {x}" if log_x else x)
    ax.set_ylabel(y)
    if r is not None:
        ax.set_title(f"r = {r:.3f}" + (f", p = {p:.2g}" if p is not None else "") + f" (n = {len(rows)})")
    return fig


def save_figure(fig: Figure, path_stem: str | Path) -> list[Path]:
    """Write `fig` as ``<stem>.png`` (150 dpi) and ``<stem>.svg``, each atomically; return both paths."""
    stem = Path(path_stem)
    return [
        write_atomic(stem.with_suffix(f".{fmt}"), lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=150))
        for fmt in ("png", "svg")
    ]
