"""What a benchmark is, and the tidy score table every benchmark returns.

A benchmark bundles data, the readout it asks of a model, a metric and a ceiling (Brain-Score's idea); it is
registered under an id that mirrors Brain-Score's (``Pereira2018.243sentences-linear``, ``Futrell2018-pearsonr``...)
and called as ``benchmark.run(subject, options, cache=..., progress=...) -> BenchmarkResult``: `subject` is any
:class:`tuneshift.models.subject.Subject`, `options` an instance of the benchmark's options class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from tuneshift._registry import Registry
from tuneshift.metrics.ceiling import ceiling_normalize
from tuneshift.models.subject import ReadoutOptions

if TYPE_CHECKING:
    import xarray as xr

SCORE_COLUMNS = ["model", "benchmark", "layer", "raw", "ceiling", "normalized"]
Kind = Literal["neural", "behavioral", "capability", "similarity"]
KINDS: tuple[str, ...] = ("neural", "behavioral", "capability", "similarity")
#: The kinds that read a subject's representations: a subject without layers cannot be scored on them.
REPRESENTATION_KINDS: tuple[str, ...] = ("neural", "similarity")
BRAINSCORE_CITATION = (
    "Schrimpf, Blank, Tuckute, Kauf, Hosseini, Kanwisher, Tenenbaum, Fedorenko (2021). The neural architecture of "
    "language: Integrative modeling converges on predictive processing. PNAS 118(45)."
)
AW2023_CITATION = (
    "Aw, Xu, Toneva, Fedorenko (2023). Instruction-tuning aligns LLMs to the human brain. arXiv:2312.00575."
)


@dataclass
class BenchmarkResult:
    """Per-layer scores plus the honest score (layer chosen on training folds only), when the benchmark has one.

    scores: one row per layer with SCORE_COLUMNS (extra columns allowed: ci_low, ci_high, n, ...).
    honest_raw: test score when each split's layer is chosen on its training folds; None for single-layer
        (behavioural) benchmarks, whose best layer involves no choice.
    values: the per-unit values behind the scores (Brain-Score's ``Score.raw``), so that no consumer re-runs the
        benchmark: an ``xarray.Dataset`` whose variables are named by what they hold and whose dims name the unit
        (``neuroid``, ``split``, ``story``, ``item``, with ``layer`` where there is one), coordinates carrying the
        labels (neuroid ids, story names, question ids, predictions). Stored beside the unit's JSON.
        ``attrs["paired_unit"]`` names the dim a paired test pairs on, ``attrs["measure"]`` the variable the
        scores aggregate (neural: ``r(layer, split, neuroid)``, median over neuroids then mean over splits).
    """

    scores: pd.DataFrame
    honest_raw: float | None = None
    details: dict = field(default_factory=dict)
    values: xr.Dataset | None = None


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark.

    kind: "neural" (representations → brain responses), "behavioral" (surprisal → reading times), "capability"
        (task accuracy or loss: MMLU, BBH, WikiText-2) or "similarity" (representational similarity, CKA/RDM).
        Consumers (study statistics, the report) ask the result's kind, never parse the id.
    version: the protocol's version; it joins the result key, so a protocol change never reuses old numbers.
    citation: the paper(s) whose protocol and data it implements (BibTeX or "Author et al. year").
    in_default: run when no benchmark is named. False for the capability benchmarks (hours of CPU for MMLU/BBH:
        asked for by name) and for similarity on a single response target (Tuckute2024's network average: CKA
        over one column is degenerate).
    run: ``run(subject, options, *, cache, progress) -> BenchmarkResult``.
    options: its options class (a :class:`ReadoutOptions` subclass; defaults = the published protocol).
    available(): is its data here?  files(): the data files its numbers depend on (their digest keys results).
    higher_is_better: the direction of its scores (False for a loss, WikiText2-nwp's nats/token): every consumer
        that calls a change an improvement (compare, study effects, the report) asks this, never the id.
    """

    identifier: str
    kind: Kind
    run: Callable[..., BenchmarkResult]
    available: Callable[[], bool] = lambda: True
    description: str = ""
    options: type[ReadoutOptions] = ReadoutOptions
    files: Callable[[], list[Path]] = list
    version: int = 1
    citation: str = ""
    in_default: bool = True
    higher_is_better: bool = True


BENCHMARKS: Registry[Benchmark] = Registry("benchmark")


def neuroid_values(r: np.ndarray, layers, neuroids: pd.DataFrame, dataset: str) -> xr.Dataset:
    """The neural values of one dataset: ``r(layer, split, neuroid)`` (float32: r to 1e-7 is far below any effect,
    and it halves the file) with coords layer, split, neuroid (ids), the neuroid labels (subject, region, ...) and
    the dataset's name. Several datasets concatenate along ``neuroid`` (:func:`concat_values`)."""
    import xarray as xr

    labels = neuroids.drop(columns="neuroid_id", errors="ignore")
    ids = neuroids["neuroid_id"] if "neuroid_id" in neuroids else pd.Series(np.arange(len(neuroids)))
    coords = {
        "layer": np.asarray(layers, dtype=int),
        "split": np.arange(r.shape[1]),
        "neuroid": ids.astype(str).to_numpy(),
        "dataset": ("neuroid", np.full(len(neuroids), dataset)),
    }
    for name, column in labels.items():
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        coords[str(name)] = ("neuroid", column.to_numpy() if numeric else column.astype(str).to_numpy())
    values = xr.Dataset({"r": (("layer", "split", "neuroid"), np.asarray(r, dtype=np.float32))}, coords=coords)
    values.attrs.update(paired_unit="neuroid", measure="r")
    return values


def concat_values(parts: list[xr.Dataset], dim: str) -> xr.Dataset:
    """The values of several datasets of one benchmark, concatenated along `dim` (``neuroid`` or ``split``; a
    ``dataset`` coord tells them apart), keeping the label coords they share."""
    import xarray as xr

    if len(parts) == 1:
        return parts[0]
    shared = set.intersection(*(set(part.coords) for part in parts))
    parts = [part.drop_vars([c for c in part.coords if c not in shared]) for part in parts]
    return xr.concat(parts, dim=dim, join="outer", combine_attrs="override")


def score_rows(model: str, benchmark: str, layers, raw, ceiling: float | None, **extra) -> pd.DataFrame:
    """The tidy score table of one benchmark: one row per layer."""
    raw = np.asarray(raw, dtype=float)
    frame = pd.DataFrame(
        {
            "model": model,
            "benchmark": benchmark,
            "layer": np.asarray(layers, dtype=int),
            "raw": raw,
            "ceiling": np.nan if ceiling is None else float(ceiling),
            "normalized": ceiling_normalize(raw, ceiling),
        }
    )
    for key, value in extra.items():
        frame[key] = value
    return frame


def summarize(result: BenchmarkResult) -> dict:
    """Best layer, its raw and normalized score, and the honest score, for summary.json. Scores with a ``measure``
    column (capabilities: one row per aggregate, the headline first) are summarized by their first row."""
    scores = result.scores
    best = scores.iloc[0] if "measure" in scores else scores.loc[scores["raw"].idxmax()]
    ceiling = float(best["ceiling"]) if np.isfinite(best["ceiling"]) else None
    honest = result.honest_raw if result.honest_raw is not None else float(best["raw"])
    # what was scored: every layer, or the output (surprisal, capability aggregates), or a unit view's units (layer
    # label < 0); the best layer is None where there was no layer to choose
    units = len(scores) == 1 and pd.notna(best["layer"]) and best["layer"] < 0
    scored = "output" if "measure" in scores else "layers" if len(scores) > 1 else "units" if units else "output"
    return {
        "best_layer": int(best["layer"]) if scored == "layers" else None,
        "scored": scored,
        "best_raw": float(best["raw"]),
        "best_normalized": float(best["normalized"]),
        "ceiling": ceiling,
        "honest_raw": float(honest),
        "honest_normalized": float(ceiling_normalize(honest, ceiling)),
        "n_layers_scored": len(scores),
        **result.details,
    }
