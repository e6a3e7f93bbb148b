"""Figures of a graft table (:func:`tuneshift.graft.sweep.graft_table`): where the base→tuned change lives.

Each function returns a matplotlib ``Figure`` built without pyplot state and writes nothing
(:func:`tuneshift.graft.sweep.write_outputs` saves them; the report can embed the same objects).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from tuneshift.study.figures import PALETTE

ROW_LABELS = {
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
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5)
    ax.set_xticks(range(shares.shape[1]), shares.columns, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(shares.shape[0]), [part for _, part in shares.index], fontsize=7)
    direction = rows["direction"].iat[0] if len(rows) else "forward"
    what = "tuned parts in base" if direction == "forward" else "base parts in tuned"
    ax.set_title(f"{sweep}: share of the base→tuned change ({what})", fontsize=9)
    ax.set_ylabel(ROW_LABELS.get(sweep, "parts"), fontsize=8)
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
