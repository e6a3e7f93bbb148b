"""Figures of the interpretation analyses: attribution heatmaps (prompt × response tokens), the verb shares of
base vs tuned heads, and the FFN category shares across layer groups. matplotlib is imported on first use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift._io import write_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_attribution(
    matrix: np.ndarray, input_tokens: list[str], output_tokens: list[str], path: str | Path, title: str = ""
) -> Path:
    """Heatmap of an (n_input, n_output) attribution matrix with token labels, written as PNG to `path`."""
    plt = _pyplot()
    matrix = np.asarray(matrix, dtype=float)
    height = min(40.0, 2 + 0.18 * matrix.shape[0])
    width = min(60.0, 3 + 0.18 * matrix.shape[1])
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(matrix, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(input_tokens)), input_tokens, fontsize=6)
    ax.set_xticks(range(len(output_tokens)), output_tokens, fontsize=6, rotation=90)
    ax.set_xlabel("response token")
    ax.set_ylabel("prompt token")
    ax.set_title(title)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=80))
    finally:
        plt.close(fig)


def plot_verb_shares(shares: pd.DataFrame, path: str | Path) -> None:
    """Share of heads whose knowledge involves an instruction / frequent verb, per layer group, base dashed and
    tuned solid (output of :func:`tuneshift.interpret.knowledge.compare_verbs`)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for (verb_set, model), rows in shares.groupby(["verb_set", "model"]):
        ax.plot(
            rows["group"] + 1,
            rows["head_share"] * 100,
            color="tab:red" if verb_set == "instruction" else "tab:blue",
            linestyle="-" if model == "tuned" else "--",
            marker="*" if model == "tuned" else "s",
            label=f"{model} · {verb_set} verbs",
        )
    ax.set_xlabel("Layer group")
    ax.set_ylabel("% of heads encoding the verbs")
    ax.grid(True)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_category_shares(shares: pd.DataFrame, path: str | Path, scheme: str = "level") -> Path:
    """Line plot of category shares across layer groups (the paper's Figure 3; output of
    :func:`tuneshift.interpret.ffn.category_shares`): one colour per category, the first model dashed with squares,
    the others solid with stars. Writes a PNG (or any matplotlib format) to ``path``."""
    plt = _pyplot()
    data = shares[(shares["scheme"] == scheme) & (shares["group"] != "all")]
    groups = data[["group", "layers"]].drop_duplicates().sort_values("group")
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (category, part) in zip(colours, data.groupby("category", sort=False), strict=False):
        for index, (model, rows) in enumerate(part.groupby("model", sort=False)):
            rows = rows.sort_values("group")
            ax.plot(
                rows["group"].astype(int) + 1,
                rows["share"] * 100,
                color=colour,
                marker="s" if index == 0 else "*",
                linestyle="--" if index == 0 else "-",
                label=f"{model} · {category}",
            )
    ax.set_xticks(groups["group"].astype(int) + 1, groups["layers"], rotation=45)
    ax.set_xlabel("Layers")
    ax.set_ylabel("% of explainable concepts")
    ax.grid(True)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
