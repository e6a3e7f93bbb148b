"""Attribution heatmaps (prompt tokens × response tokens)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from tuneshift._io import write_atomic


def plot_attribution(
    matrix: np.ndarray, input_tokens: list[str], output_tokens: list[str], path: str | Path, title: str = ""
) -> Path:
    """Heatmap of an (n_input, n_output) attribution matrix with token labels, written as PNG to `path`."""
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
