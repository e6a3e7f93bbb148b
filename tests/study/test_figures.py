"""Figures come back as matplotlib Figures with the data drawn (the report embeds the same objects)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from tuneshift.study import figures
from tuneshift.study.stats import summarize_effects


def _scores() -> pd.DataFrame:
    rows = []
    for model, depth in (("base", 4), ("tuned", 8)):
        for layer in range(depth + 1):
            rows.append({"model": model, "benchmark": "B", "layer": layer, "raw": np.sin(layer / depth * 3) / 3})
    return pd.DataFrame(rows)


def test_layer_profiles_on_relative_depth(tmp_path):
    fig = figures.layer_profiles(_scores(), "B", honest_layers={"tuned": [4, 5]})
    assert isinstance(fig, Figure)
    lines = fig.axes[0].get_lines()
    profiles = [line for line in lines if len(line.get_xdata()) > 2]
    assert [len(line.get_xdata()) for line in profiles] == [5, 9]
    np.testing.assert_allclose(profiles[1].get_xdata()[[0, -1]], [0.0, 1.0])  # 8 layers mapped onto [0, 1]
    paths = figures.save_figure(fig, tmp_path / "profile")
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.stat().st_size > 1000 for p in paths)


def test_change_bars_mean_over_pairs_and_single_pair_ci():
    effects = pd.DataFrame({"pair": ["a", "b", "c"], "benchmark": "X", "pct_change": [2.0, 4.0, 6.0]})
    fig = figures.change_bars(effects, summarize_effects(effects))
    bars = fig.axes[0].patches
    assert len(bars) == 1 and bars[0].get_height() == 4.0
    single = pd.DataFrame({"pair": ["p"], "benchmark": ["Y"], "pct_change": [-3.0], "pct_ci_low": [-5.0],
                           "pct_ci_high": [-1.0], "p": [0.01]})  # fmt: skip
    assert figures.change_bars(single, summarize_effects(single)).axes[0].patches[0].get_height() == -3.0
    # a paired test's CI (of the mean per-story change) need not contain the pooled change: drawn all the same
    single[["pct_ci_low", "pct_ci_high"]] = [[1.0, 2.0]]
    segments = figures.change_bars(single, summarize_effects(single)).axes[0].collections[0].get_segments()
    np.testing.assert_allclose(segments[0][:, 1], [1.0, 2.0])


def test_correlation_scatter_reports_pearson():
    table = pd.DataFrame({"model": list("abcd"), "x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, 2.1, 2.9, 4.2],
                          "instruction_tuned": [True, False, True, False]})  # fmt: skip
    fig = figures.correlation_scatter(table, "x", "y")
    title = fig.axes[0].get_title()
    assert title.startswith(f"r = {np.corrcoef(table.x, table.y)[0, 1]:.3f}") and "n = 4" in title
