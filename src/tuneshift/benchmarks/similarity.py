"""CKA and RDM variants of the neural benchmarks (Aw et al. 2023, Table 8: linear predictivity, CKA and RSA).

For each ``<Dataset>-linear`` benchmark this registers ``<Dataset>-cka`` (linear CKA) and ``<Dataset>-rdm``
(RSA: Spearman between RDM upper triangles) with Brain-Score's "test-only" cross-validation: 10 random 90 % subsets
of the stimuli, metric per subset, mean over subsets (:mod:`tuneshift.metrics.similarity`). Same stimuli and the
same per-stimulus readout as the linear benchmark; no ceiling (the published ceilings are for linear predictivity),
so ``normalized`` is empty. Nothing is fitted, yet the best layer is still chosen on the scores it reports: the
honest score picks, in each subset, the layer that is best on the other nine subsets' mean.

Kind "similarity": they are not predictivity, so brain-alignment averages leave them out. A result keeps the
metric per layer and subset, ``cka(layer, split)`` or ``rsa(layer, split)`` (the subsets of a combined benchmark's
datasets side by side along ``split``, a ``dataset`` coord telling them apart); paired tests pair subsets.

Datasets with a single neuroid (Tuckute2024's network average) get no ``-rdm`` variant: the RDM of one response per
stimulus is undefined (Pearson r between 1-value rows).

:func:`register` is idempotent and runs when :mod:`tuneshift.benchmarks` is imported.
"""

from __future__ import annotations

import numpy as np

from tuneshift.benchmarks._base import (
    AW2023_CITATION,
    BENCHMARKS,
    BRAINSCORE_CITATION,
    Benchmark,
    BenchmarkResult,
    score_rows,
)
from tuneshift.benchmarks.neural import (
    PROTOCOLS,
    NeuralOptions,
    citation,
    dataset_files,
    datasets_available,
    measure_datasets,
)
from tuneshift.metrics import METRICS
from tuneshift.models.subject import Subject

VARIANTS = ("cka", "rdm")  # names in tuneshift.metrics.METRICS
MEASURES = {"cka": "cka", "rdm": "rsa"}  # the variable each variant's values hold
SINGLE_NEUROID = ("Tuckute2024",)


def _honest(per_split: np.ndarray) -> tuple[float, list[int]]:
    """Per subset s, the layer best on the mean of the other subsets; its score on s; mean over subsets."""
    n_splits = per_split.shape[1]
    others = (per_split.sum(1, keepdims=True) - per_split) / max(n_splits - 1, 1)  # (L, S)
    chosen = np.nanargmax(others, axis=0)
    return float(per_split[chosen, np.arange(n_splits)].mean()), chosen.tolist()


def _runner(identifier: str, datasets: tuple[str, ...], metric: str):
    def run(subject: Subject, options: NeuralOptions, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
        runs, layers = measure_datasets(
            subject,
            datasets,
            lambda features, dataset: METRICS.get(metric)(features, dataset.targets),
            options,
            cache=cache,
            progress=progress,
        )
        honest = [_honest(result.per_split) for _, result in runs]
        details = {
            dataset.name: {
                "n_stimuli": dataset.n_stimuli,
                "n_neuroids": dataset.n_neuroids,
                "per_split": result.per_split.tolist(),  # (layers, subsets)
                "honest_layers_per_split": [layers[i] for i in chosen],
            }
            for (dataset, result), (_, chosen) in zip(runs, honest, strict=True)
        }
        details["protocol"] = {
            "regression": MEASURES[metric],  # nothing is fitted: the metric itself
            "cv": "subsets",  # Brain-Score's test-only cross-validation: 10 random 90 % subsets, seed 1
            "n_splits": runs[0][1].per_split.shape[1],
            "split_seed": 1,
            "honest_method": "other-subsets",
            "pooling": options.pooling,
        }
        raw = np.mean([np.asarray(result.score) for _, result in runs], axis=0)
        scores = score_rows(subject.name, identifier, layers, raw, None)
        values = _values([(dataset.name, result.per_split) for dataset, result in runs], layers, MEASURES[metric])
        return BenchmarkResult(
            scores, honest_raw=float(np.mean([score for score, _ in honest])), details=details, values=values
        )

    return run


def _values(per_split: list[tuple[str, np.ndarray]], layers: list[int], measure: str):
    """``<measure>(layer, split)``: each dataset's (layers, subsets) scores side by side along ``split``."""
    import xarray as xr

    values = np.concatenate([scores for _, scores in per_split], axis=1)
    coords = {
        "layer": np.asarray(layers, dtype=int),
        "split": np.concatenate([np.arange(scores.shape[1]) for _, scores in per_split]),
        "dataset": ("split", np.concatenate([[name] * scores.shape[1] for name, scores in per_split])),
    }
    dataset = xr.Dataset({measure: (("layer", "split"), values)}, coords=coords)
    dataset.attrs.update(paired_unit="split", measure=measure)
    return dataset


def register() -> list[str]:
    """Register the -cka and -rdm variant of every -linear neural benchmark (skipping ids already registered)."""
    added = []
    for identifier, protocol in PROTOCOLS.items():
        if not identifier.endswith("-linear"):
            continue
        stem = identifier.removesuffix("-linear")
        for metric in VARIANTS:
            name = f"{stem}-{metric}"
            if name in BENCHMARKS or (metric == "rdm" and protocol.datasets[0].startswith(SINGLE_NEUROID)):
                continue
            BENCHMARKS.add(
                name,
                Benchmark(
                    name,
                    "similarity",
                    _runner(name, protocol.datasets, metric),
                    available=datasets_available(protocol.datasets),
                    options=NeuralOptions,
                    files=dataset_files(protocol.datasets),
                    description=f"{' + '.join(protocol.datasets)}: {'linear CKA' if metric == 'cka' else 'RSA'}, "
                    "10 random 90 % subsets (Brain-Score), no ceiling",
                    citation=citation(protocol.datasets, AW2023_CITATION, BRAINSCORE_CITATION),
                    in_default=not protocol.datasets[0].startswith(SINGLE_NEUROID),
                ),
            )
            added.append(name)
    return added


register()
