"""CKA and RDM variants of the neural benchmarks (Aw et al. 2023, Table 8: linear predictivity, CKA and RSA).

For each ``<Dataset>-linear`` benchmark this registers ``<Dataset>-cka`` (linear CKA) and ``<Dataset>-rdm``
(RSA: Spearman between RDM upper triangles) with Brain-Score's "test-only" cross-validation: 10 random 90 % subsets
of the stimuli, metric per subset, mean over subsets (:mod:`tuneshift.metrics.similarity`). Same stimuli and the
same per-stimulus readout as the linear benchmark; no ceiling (the published ceilings are for linear predictivity),
so ``normalized`` is empty. Nothing is fitted, yet the best layer is still chosen on the scores it reports: the
honest score picks, in each subset, the layer that is best on the other nine subsets' mean.

Datasets with a single neuroid (Tuckute2024's network average) get no ``-rdm`` variant: the RDM of one response per
stimulus is undefined (Pearson r between 1-value rows).

:func:`register` is idempotent and runs when :mod:`tuneshift.benchmarks` is imported.
"""

from __future__ import annotations

import numpy as np

from tuneshift.benchmarks._base import BENCHMARKS, Benchmark, BenchmarkResult, score_rows
from tuneshift.benchmarks.neural import PROTOCOLS, NeuralOptions, dataset_files, datasets_available, layer_features
from tuneshift.data import DATASETS
from tuneshift.metrics import METRICS
from tuneshift.models.subject import Subject

VARIANTS = ("cka", "rdm")  # names in tuneshift.metrics.METRICS
SINGLE_NEUROID = ("Tuckute2024",)


def _honest(per_split: np.ndarray) -> tuple[float, list[int]]:
    """Per subset s, the layer best on the mean of the other subsets; its score on s; mean over subsets."""
    n_splits = per_split.shape[1]
    others = (per_split.sum(1, keepdims=True) - per_split) / max(n_splits - 1, 1)  # (L, S)
    chosen = np.nanargmax(others, axis=0)
    return float(per_split[chosen, np.arange(n_splits)].mean()), chosen.tolist()


def _runner(identifier: str, datasets: tuple[str, ...], metric: str):
    def run(subject: Subject, options: NeuralOptions, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
        raws, honests, details = [], [], {}
        for name in datasets:
            dataset = DATASETS.get(name).load()
            features, layers = layer_features(subject, dataset, options, cache=cache, progress=progress)
            result = METRICS.get(metric)(features, dataset.targets)
            honest, chosen = _honest(result.per_split)
            raws.append(np.asarray(result.score))
            honests.append(honest)
            details[name] = {
                "n_stimuli": dataset.n_stimuli,
                "n_neuroids": dataset.n_neuroids,
                "per_split": result.per_split.tolist(),  # (layers, subsets)
                "honest_layers_per_split": [layers[i] for i in chosen],
            }
        scores = score_rows(subject.name, identifier, layers, np.mean(raws, axis=0), None)
        return BenchmarkResult(scores, honest_raw=float(np.mean(honests)), details=details)

    return run


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
                    "neural",
                    _runner(name, protocol.datasets, metric),
                    available=datasets_available(protocol.datasets),
                    options=NeuralOptions,
                    files=dataset_files(protocol.datasets),
                    description=f"{' + '.join(protocol.datasets)}: {'linear CKA' if metric == 'cka' else 'RSA'}, "
                    "10 random 90 % subsets (Brain-Score), no ceiling",
                ),
            )
            added.append(name)
    return added


register()
