"""Brain-alignment benchmarks: a neural dataset, the readout at each stimulus's last word, the cross-validated
encoding metric over every layer at once, and the dataset's ceiling.

Ids mirror Brain-Score Language's. ``-linear``: min-norm OLS with intercept, ShuffleSplit(10, 0.9, seed 1), Pearson r
per neuroid, median over neuroids, mean over splits (``linear_pearsonr``). ``-ridge``: ridge with α chosen by
leave-one-out over logspace(-3, 3, 7), GroupKFold by passage/story (seed 1234; Blank2014: 8 folds).

A result keeps every Pearson r behind its scores, ``r(layer, split, neuroid)`` (``BenchmarkResult.values``; the
datasets of a combined benchmark side by side along ``neuroid``), so comparisons never re-run it.
Adding a neural dataset: its loader in :mod:`tuneshift.data` (with its ceiling) and one entry in :data:`PROTOCOLS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from tuneshift.benchmarks._base import (
    BENCHMARKS,
    BRAINSCORE_CITATION,
    Benchmark,
    BenchmarkResult,
    concat_values,
    neuroid_values,
    score_rows,
)
from tuneshift.data import DATASETS, NeuralDataset
from tuneshift.metrics import METRICS
from tuneshift.metrics.ceiling import combined_ceiling
from tuneshift.models.subject import POOLINGS, ReadoutOptions, Representations, Subject, choice

Measured = TypeVar("Measured")


@dataclass(frozen=True)
class NeuralProtocol:
    """How one neural benchmark scores: dataset(s) (averaged per layer when several), regression and splits."""

    datasets: tuple[str, ...]
    regression: str
    cv: str
    n_splits: int | None = None
    load_kwargs: dict = field(default_factory=dict)

    @property
    def metric(self) -> str:
        """Its entry in :data:`tuneshift.metrics.METRICS` (Brain-Score's metric name)."""
        return f"{self.regression}_pearsonr"


@dataclass(frozen=True)
class NeuralOptions(ReadoutOptions):
    """Options of the neural benchmarks: how words are read (pooling "last" = Brain-Score's last token)."""

    pooling: str = choice("last", POOLINGS)


def layer_features(
    subject: Subject,
    dataset: NeuralDataset,
    options: NeuralOptions | None = None,
    *,
    cache: bool = True,
    progress: bool = True,
) -> Representations:
    """(layers, stimuli, width) representations read at each stimulus's last word, and the layer labels."""
    options = options or NeuralOptions()
    return subject.representations(
        dataset.passages,
        at=(dataset.stimulus_passage, dataset.stimulus_word),
        pooling=options.pooling,
        readout=options,
        cache=cache,
        progress=progress,
    )


def measure_datasets(
    subject: Subject,
    names: Sequence[str],
    measure: Callable[[np.ndarray, NeuralDataset], Measured],
    options: NeuralOptions | None = None,
    *,
    load_kwargs: dict | None = None,
    cache: bool = True,
    progress: bool = True,
) -> tuple[list[tuple[NeuralDataset, Measured]], list[int]]:
    """The one runner of the representation benchmarks: for each dataset named, load its stimuli, read `subject`'s
    representations at each stimulus's last word (every layer at once, one readout) and apply
    ``measure(features, dataset)``. Returns [(dataset, measured)] and the layer labels."""
    runs, layers = [], []
    for name in names:
        dataset = DATASETS.get(name).load(**(load_kwargs or {}))
        features, layers = layer_features(subject, dataset, options, cache=cache, progress=progress)
        runs.append((dataset, measure(features, dataset)))
    return runs, list(layers)


def encoding_measure(protocol: NeuralProtocol, *, progress: bool = True):
    """The protocol's encoding metric as a :func:`measure_datasets` measure: every layer's cross-validated r, with
    the honest (training-fold) layer choice when there is more than one layer to choose from."""

    def measure(features: np.ndarray, dataset: NeuralDataset):
        return METRICS.get(protocol.metric)(
            features,
            dataset.targets,
            cv=protocol.cv,
            groups=dataset.groups,
            n_splits=protocol.n_splits,
            neuroid_labels={"subject": dataset.neuroids["subject"].to_numpy()},
            honest=len(features) > 1,
            progress=progress,
        )

    return measure


def _runner(identifier: str, protocol: NeuralProtocol):
    def run(subject: Subject, options: NeuralOptions, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
        runs, layers = measure_datasets(
            subject,
            protocol.datasets,
            encoding_measure(protocol, progress=progress),
            options,
            load_kwargs=protocol.load_kwargs,
            cache=cache,
            progress=progress,
        )
        raw = np.mean([np.asarray(result.score) for _, result in runs], axis=0)
        honest = [result.honest.score if result.honest else float(result.score[0]) for _, result in runs]
        details = {
            dataset.name: {
                "n_stimuli": dataset.n_stimuli,
                "n_neuroids": dataset.n_neuroids,
                "n_dropped_neuroids": dataset.n_dropped_neuroids,
                "honest_layers_per_split": [layers[i] for i in result.honest.chosen_layers] if result.honest else [],
            }
            for dataset, result in runs
        }
        details["protocol"] = protocol_facts(protocol, options)
        values = concat_values(
            [neuroid_values(result.split_neuroid, layers, dataset.neuroids, dataset.name) for dataset, result in runs],
            "neuroid",
        )
        ceiling = combined_ceiling([dataset.ceiling for dataset, _ in runs])
        scores = score_rows(subject.name, identifier, layers, raw, ceiling)
        return BenchmarkResult(scores, honest_raw=float(np.mean(honest)), details=details, values=values)

    return run


def protocol_facts(protocol: NeuralProtocol, options: NeuralOptions) -> dict:
    """What ran, for the report's methods: regression, splits (:data:`tuneshift.metrics.splits.DEFAULTS` unless
    the protocol overrides them), how the honest layer was chosen, and the pooling."""
    from tuneshift.metrics.splits import DEFAULTS

    defaults = DEFAULTS[protocol.cv]
    return {
        "regression": protocol.regression,
        "cv": protocol.cv,
        "n_splits": protocol.n_splits or defaults["n_splits"],
        "split_seed": defaults["random_state"],
        "honest_method": "loo" if protocol.regression == "ridge" else "inner",
        **({} if protocol.regression == "ridge" else {"inner_splits": 5}),
        "pooling": options.pooling,
    }


def datasets_available(names: tuple[str, ...]):
    """A Benchmark.available check: every file of the named datasets is on disk and passes its checksum's cheap
    check (nothing is downloaded; a corrupt file makes the benchmark unavailable)."""
    return lambda: all(DATASETS.get(name).available() for name in names)


def dataset_files(names: tuple[str, ...]):
    """A Benchmark.files list: the files of the named datasets."""
    return lambda: [path for name in names for path in DATASETS.get(name).paths()]


def citation(names: Sequence[str], *protocol: str) -> str:
    """A benchmark's citation: the papers of its protocol, then each dataset's own (one home: the data module)."""
    cited = list(protocol) + [DATASETS.get(name).citation for name in names]
    return "\n\n".join(dict.fromkeys(cited))


PROTOCOLS = {
    "Tuckute2024-linear": NeuralProtocol(("Tuckute2024",), "linear", "shuffle"),
    "Tuckute2024-ridge": NeuralProtocol(("Tuckute2024",), "ridge", "shuffle"),
    "Pereira2018.243sentences-linear": NeuralProtocol(("Pereira2018.243sentences",), "linear", "shuffle"),
    "Pereira2018.384sentences-linear": NeuralProtocol(("Pereira2018.384sentences",), "linear", "shuffle"),
    "Pereira2018-linear": NeuralProtocol(("Pereira2018.243sentences", "Pereira2018.384sentences"), "linear", "shuffle"),
    "Pereira2018.243sentences-ridge": NeuralProtocol(("Pereira2018.243sentences",), "ridge", "group"),
    "Pereira2018.384sentences-ridge": NeuralProtocol(("Pereira2018.384sentences",), "ridge", "group"),
    "Blank2014-linear": NeuralProtocol(("Blank2014",), "linear", "shuffle"),
    "Blank2014-ridge": NeuralProtocol(("Blank2014",), "ridge", "group", n_splits=8),
    "Fedorenko2016-linear": NeuralProtocol(("Fedorenko2016",), "linear", "shuffle"),
}


def register() -> list[str]:
    """Register a benchmark for every entry of :data:`PROTOCOLS` not registered yet (run at import; call it again
    after adding an entry at run time, then :func:`tuneshift.benchmarks.similarity.register` for its variants)."""
    added = []
    for identifier, protocol in PROTOCOLS.items():
        if identifier in BENCHMARKS:
            continue
        BENCHMARKS.add(
            identifier,
            Benchmark(
                identifier,
                "neural",
                _runner(identifier, protocol),
                available=datasets_available(protocol.datasets),
                options=NeuralOptions,
                files=dataset_files(protocol.datasets),
                description=f"{' + '.join(protocol.datasets)}: {protocol.regression} regression, {protocol.cv} CV",
                citation=citation(protocol.datasets, BRAINSCORE_CITATION),
            ),
        )
        added.append(identifier)
    return added


register()
