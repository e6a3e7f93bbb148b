"""Brain alignment of the language network alone, of random units of the same size, and of all units.

The network (and every random draw) is scored as one representation: its units of all layers concatenated, with
the benchmark's own regression and cross-validation (``tuneshift.benchmarks.neural.PROTOCOLS``). All the masks
share one readout and go through one ``encoding_score`` call (a list of feature sets of different widths). "All
units" is the benchmark as usual: every layer scored, best layer and honest (training-fold) layer reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tuneshift.benchmarks import BENCHMARKS
from tuneshift.benchmarks._base import summarize
from tuneshift.benchmarks.neural import PROTOCOLS, layer_features
from tuneshift.data import DATASETS
from tuneshift.errors import InvalidParameterError
from tuneshift.localize.localizer import Localization
from tuneshift.localize.view import random_mask
from tuneshift.metrics import encoding_score
from tuneshift.metrics.ceiling import ceiling_normalize, combined_ceiling
from tuneshift.models.load import LoadedModel

SCORE_COLUMNS = ["model", "benchmark", "units", "seed", "n_units", "layer", "raw", "ceiling", "normalized"]


def score_network(
    model: LoadedModel,
    localization: Localization,
    benchmark: str = "Tuckute2024-ridge",
    *,
    n_random: int = 5,
    match: str = "model",
    seed: int = 0,
    all_units: bool = True,
    cache: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per feature set: the network, `n_random` random masks of its size (seeds seed..seed+n−1), and,
    with `all_units`, the usual benchmark's best layer and honest score. Columns: :data:`SCORE_COLUMNS`."""
    if benchmark not in PROTOCOLS:
        raise InvalidParameterError("benchmark", f"a neural benchmark, one of {sorted(PROTOCOLS)}", benchmark)
    protocol = PROTOCOLS[benchmark]
    masks = [("network", None, localization.mask)]
    masks += [("random", seed + i, random_mask(localization.mask, seed + i, match)) for i in range(n_random)]
    raws, ceilings = [], []
    for name in protocol.datasets:
        dataset = DATASETS.get(name).load(**protocol.load_kwargs)
        features, layers = layer_features(model, dataset, cache=cache, progress=progress)
        positions = [layers.index(int(layer)) for layer in localization.layers]
        sets = []
        for _, _, mask in masks:
            layer_pos, unit = np.nonzero(mask)
            sets.append(features[np.asarray(positions)[layer_pos], :, unit].T)  # (stimuli, n_units)
        result = encoding_score(
            sets,
            dataset.targets,
            regression=protocol.regression,
            cv=protocol.cv,
            groups=dataset.groups,
            n_splits=protocol.n_splits,
            progress=progress,
        )
        raws.append(np.asarray(result.score, dtype=float))
        ceilings.append(dataset.ceiling)
    ceiling = combined_ceiling(ceilings)
    raw = np.mean(raws, axis=0)
    table = pd.DataFrame(
        {
            "model": model.name,
            "benchmark": benchmark,
            "units": [label for label, _, _ in masks],
            "seed": pd.array([draw for _, draw, _ in masks], dtype="Int64"),
            "n_units": [int(mask.sum()) for _, _, mask in masks],
            "layer": "network",
            "raw": raw,
            "ceiling": np.nan if ceiling is None else ceiling,
            "normalized": ceiling_normalize(raw, ceiling),
        }
    )
    if all_units:
        bench = BENCHMARKS.get(benchmark)
        best = summarize(bench.run(model, bench.options(), cache=cache, progress=progress))
        everything = pd.DataFrame(
            {
                "model": model.name,
                "benchmark": benchmark,
                "units": ["all (best layer)", "all (honest layer)"],
                "seed": pd.array([None, None], dtype="Int64"),
                "n_units": model.hidden_size,
                "layer": [str(best["best_layer"]), "chosen per split"],
                "raw": [best["best_raw"], best["honest_raw"]],
                "ceiling": np.nan if ceiling is None else ceiling,
                "normalized": [best["best_normalized"], best["honest_normalized"]],
            }
        )
        table = pd.concat([table, everything], ignore_index=True)
    return table[SCORE_COLUMNS]
