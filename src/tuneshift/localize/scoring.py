"""Brain alignment of the language network alone, of random units of the same size, and of all units.

The network and every random draw are :class:`~tuneshift.localize.view.UnitView` subjects (their units of all
layers concatenated into one representation), scored like any subject by :func:`tuneshift.benchmarks.run.score`:
the benchmark's own readout, regression and cross-validation, one readout of the subject shared by all views
(the activation cache). "All units" is the benchmark as usual: every layer scored, best layer and honest
(training-fold) layer reported. With `out_dir` every one of them is a unit of that results folder, reused on rerun.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift.benchmarks import BENCHMARKS
from tuneshift.benchmarks.run import score_units
from tuneshift.errors import InvalidParameterError
from tuneshift.localize.localizer import Localization
from tuneshift.localize.view import UnitView, random_mask
from tuneshift.models.subject import Subject

SCORE_COLUMNS = ["model", "benchmark", "units", "seed", "n_units", "layer", "raw", "ceiling", "normalized"]


def score_network(
    subject: Subject,
    localization: Localization,
    benchmark: str = "Tuckute2024-ridge",
    *,
    n_random: int = 5,
    match: str = "model",
    seed: int = 0,
    all_units: bool = True,
    out_dir: str | Path | None = None,
    cache: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per feature set: the network, `n_random` random masks of its size (seeds seed..seed+n−1), and,
    with `all_units`, the usual benchmark's best layer and honest score. Columns: :data:`SCORE_COLUMNS`."""
    neural = [name for name in BENCHMARKS if BENCHMARKS.get(name).kind == "neural"]
    if benchmark not in neural:
        raise InvalidParameterError("benchmark", f"a neural benchmark, one of {neural}", benchmark)
    draws = [(None, localization.mask)] + [
        (seed + i, random_mask(localization.mask, seed + i, match)) for i in range(n_random)
    ]
    views = [
        UnitView(subject, localization.layers, mask, label="network" if draw is None else f"random:{draw}")
        for draw, mask in draws
    ]
    score = {"out_dir": out_dir, "cache": cache, "progress": progress}
    summaries = [score_units(view, [benchmark], **score)[0].summary for view in views]
    table = pd.DataFrame(
        {
            "model": subject.name,
            "benchmark": benchmark,
            "units": ["network" if draw is None else "random" for draw, _ in draws],
            "seed": pd.array([draw for draw, _ in draws], dtype="Int64"),
            "n_units": [view.n_units for view in views],
            "layer": "network",
            "raw": [s["best_raw"] for s in summaries],
            "ceiling": [np.nan if s["ceiling"] is None else s["ceiling"] for s in summaries],
            "normalized": [s["best_normalized"] for s in summaries],
        }
    )
    if all_units:
        best = score_units(subject, [benchmark], **score)[0].summary
        everything = pd.DataFrame(
            {
                "model": subject.name,
                "benchmark": benchmark,
                "units": ["all (best layer)", "all (honest layer)"],
                "seed": pd.array([None, None], dtype="Int64"),
                "n_units": localization.mask.shape[1],
                "layer": [str(best["best_layer"]), "chosen per split"],
                "raw": [best["best_raw"], best["honest_raw"]],
                "ceiling": np.nan if best["ceiling"] is None else best["ceiling"],
                "normalized": [best["best_normalized"], best["honest_normalized"]],
            }
        )
        table = pd.concat([table, everything], ignore_index=True)
    return table[SCORE_COLUMNS]
