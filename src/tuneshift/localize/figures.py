"""Figures of a localized network (matplotlib ``Figure`` out, no file I/O inside, so the report can embed them)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


class Localized(Protocol):
    """What the depth figure reads of a :class:`tuneshift.localize.localizer.Localization` (typed here, not
    imported: the localizer draws this figure when it saves)."""

    model: str
    layers: np.ndarray
    mask: np.ndarray
    t: np.ndarray
    top: float
    scope: str
    n_units: int


def depth_figure(localization: Localized) -> Figure:
    """Where the network lies in depth: selected units per layer (bars) over the t-map's per-layer spread."""
    figure = Figure(figsize=(7.5, 4.2))
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    layers = localization.layers
    counts = localization.mask.sum(axis=1)
    top.bar(layers, counts, color="#c0392b")
    top.set_ylabel("units selected")
    share = f"{localization.top:.2%}" if localization.scope == "model" else f"{localization.top:.2%} per layer"
    top.set_title(f"{localization.model}: language network (top {share}, {localization.n_units} units)")
    t = np.where(np.isfinite(localization.t), localization.t, np.nan)
    quantiles = np.nanpercentile(t, [5, 50, 95], axis=1)
    bottom.fill_between(layers, quantiles[0], quantiles[2], color="#95a5a6", alpha=0.5, label="5–95 % of units")
    bottom.plot(layers, quantiles[1], color="#2c3e50", label="median unit")
    bottom.plot(layers, np.nanmax(t, axis=1), color="#c0392b", marker=".", label="most selective unit")
    bottom.axhline(0, color="black", linewidth=0.5)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers are whole blocks
    bottom.set_xlabel("layer (output of block i)")
    bottom.set_ylabel("Welch t, sentences > non-words")
    bottom.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure
