"""Ablate units: overwrite chosen dimensions of block outputs during the forward pass, and measure what that does
to next-word surprisal.

A forward hook on block i replaces the chosen dimensions of its output (the residual stream leaving the block)
with 0 ("zero") or with the unit's mean response to the localizer stimuli ("mean"); every later block, and the
readout's own hooks, see the ablated state (:func:`tuneshift.models.hooks.replace_layers`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch

from tuneshift.errors import InvalidParameterError
from tuneshift.localize.view import random_mask
from tuneshift.models.hooks import replace_layers
from tuneshift.models.load import LoadedModel
from tuneshift.models.readout import read_out

ABLATIONS = ("zero", "mean")


@contextmanager
def ablated(
    model: LoadedModel, layers: Sequence[int], mask: np.ndarray, values: np.ndarray | None = None
) -> Iterator[LoadedModel]:
    """Within the block, units ``mask[j]`` of layer ``layers[j]`` (block output, 1..n) read ``values[j]`` (default 0).

    mask: (len(layers), hidden) bool; values: same shape (only the masked entries are used) or None for zeros.
    """
    mask = np.asarray(mask, dtype=bool)
    layers = [int(x) for x in layers]
    if mask.shape != (len(layers), model.hidden_size):
        raise InvalidParameterError("mask", f"a ({len(layers)}, {model.hidden_size}) bool array", mask.shape)
    if layers and (min(layers) < 1 or max(layers) > model.n_layers):
        raise InvalidParameterError("layers", f"block outputs in 1..{model.n_layers}", layers)
    fill = np.zeros(mask.shape) if values is None else np.asarray(values, dtype=np.float64)
    edits = {
        layer: _overwrite(np.flatnonzero(row), fill[j, row])
        for j, (layer, row) in enumerate(zip(layers, mask, strict=True))
        if row.any()
    }
    with replace_layers(model, edits):
        yield model


def _overwrite(units: np.ndarray, values: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
    """hidden → a copy with dimensions `units` set to `values`."""
    index = torch.as_tensor(units, dtype=torch.long)
    replacement = torch.as_tensor(values, dtype=torch.float32)

    def edit(hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden.clone()
        hidden[..., index.to(hidden.device)] = replacement.to(hidden.device, hidden.dtype)
        return hidden

    return edit


def ablation_surprisal(
    model: LoadedModel,
    passages: list[list[str]],
    layers: Sequence[int],
    mask: np.ndarray,
    *,
    ablation: str = "zero",
    unit_mean: np.ndarray | None = None,
    n_random: int = 5,
    match: str = "model",
    seed: int = 0,
    exclude_dimensions: Sequence[int] = (),
    reading_times: pd.DataFrame | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Mean next-word surprisal (bits) of `passages` intact, with `mask` ablated, and with `n_random` random masks
    of the same size (``random_mask(mask, seed + i, match)``) ablated.

    exclude_dimensions: residual dimensions left out of the network and of every random draw (e.g.
        ``Localization.outlier_dimensions()``: ablating a massive-activation dimension breaks any model).
    reading_times: the Natural Stories rows (``load_naturalstories()``, possibly a subset) of the words of
        `passages`, in the same order; then each condition's surprisal is also scored against reading times
        (Futrell2018: pooled |r| and ΔLL, ``tuneshift.benchmarks.futrell2018.score_surprisal``).

    Returns one row per condition: condition ("none", "network", "random"), seed, n_units, ablation, mean_bits
    (over words with a surprisal), words, delta_bits (vs "none"), and with `reading_times` futrell_r and
    futrell_deltall (nats/word).
    """
    if ablation not in ABLATIONS:
        raise InvalidParameterError("ablation", f"one of {ABLATIONS}", ablation)
    if ablation == "mean" and unit_mean is None:
        raise InvalidParameterError("unit_mean", "the (layers, hidden) unit means for mean-ablation", None)
    values = unit_mean if ablation == "mean" else None
    allowed = np.ones(np.shape(mask)[1], dtype=bool)
    allowed[list(exclude_dimensions)] = False
    mask = np.asarray(mask, dtype=bool) & allowed
    conditions = [("none", None, np.zeros_like(mask)), ("network", None, mask)]
    conditions += [("random", seed + i, random_mask(mask, seed + i, match, allowed)) for i in range(n_random)]
    rows = []
    for condition, draw, chosen in conditions:
        with ablated(model, layers, chosen, values):  # the activation cache is keyed by weights: never use it here
            words = read_out(model, passages, layers=[], cache=False, progress=progress).words
        bits = words["surprisal_bits"].to_numpy()
        rows.append(
            {
                **(_reading_time_fit(bits, reading_times, model.name) if reading_times is not None else {}),
                "condition": condition,
                "seed": draw,
                "n_units": int(chosen.sum()),
                "ablation": ablation,
                "mean_bits": float(np.nanmean(bits)),
                "words": int(np.isfinite(bits).sum()),
            }
        )
    table = pd.DataFrame(rows).astype({"seed": "Int64"})
    table["delta_bits"] = table["mean_bits"] - table.loc[0, "mean_bits"]
    first = ["condition", "seed", "n_units", "ablation", "mean_bits", "delta_bits", "words"]
    return table[first + [c for c in table.columns if c not in first]]


def _reading_time_fit(bits: np.ndarray, words: pd.DataFrame, name: str) -> dict[str, float]:
    """Pooled Futrell2018 |r| and ΔLL of one condition's surprisal (200 bootstraps: only the point value is kept)."""
    from tuneshift.benchmarks.futrell2018 import score_surprisal

    if len(bits) != len(words):
        raise InvalidParameterError("reading_times", f"{len(bits)} rows, one per word read", len(words))
    scores = score_surprisal(bits, model=name, words=words, n_boot=200)
    pooled = scores[scores["story"].astype(str) == "all"].set_index("benchmark")["raw"]
    return {"futrell_r": float(pooled["Futrell2018-pearsonr"]), "futrell_deltall": float(pooled["Futrell2018-deltall"])}
