"""Brain-alignment benchmarks: a neural dataset, the readout at each stimulus's last word, the cross-validated
encoding metric over every layer at once, and the dataset's ceiling.

Ids mirror Brain-Score Language's. ``-linear``: min-norm OLS with intercept, ShuffleSplit(10, 0.9, seed 1), Pearson r
per neuroid, median over neuroids, mean over splits (``linear_pearsonr``). ``-ridge``: ridge with α chosen by
leave-one-out over logspace(-3, 3, 7), GroupKFold by passage/story (seed 1234; Blank2014: 8 folds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tuneshift.benchmarks._base import BENCHMARKS, Benchmark, BenchmarkResult, score_rows
from tuneshift.data import DATASETS, NeuralDataset
from tuneshift.metrics import METRICS
from tuneshift.metrics.ceiling import combined_ceiling
from tuneshift.models.readout import POOLINGS
from tuneshift.models.subject import ReadoutOptions, Subject, choice


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
) -> tuple[np.ndarray, list[int]]:
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


def score_dataset(
    subject: Subject,
    dataset: NeuralDataset,
    protocol: NeuralProtocol,
    options: NeuralOptions | None = None,
    *,
    cache: bool = True,
    progress: bool = True,
):
    """Encoding result of every layer on one dataset (with the honest, training-fold layer choice)."""
    features, layers = layer_features(subject, dataset, options, cache=cache, progress=progress)
    result = METRICS.get(protocol.metric)(
        features,
        dataset.targets,
        cv=protocol.cv,
        groups=dataset.groups,
        n_splits=protocol.n_splits,
        neuroid_labels={"subject": dataset.neuroids["subject"].to_numpy()},
        honest=True,
        progress=progress,
    )
    return result, layers


def _runner(identifier: str, protocol: NeuralProtocol):
    def run(subject: Subject, options: NeuralOptions, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
        raws, honests, ceilings, details = [], [], [], {}
        for name in protocol.datasets:
            dataset = DATASETS.get(name).load(**protocol.load_kwargs)
            result, layers = score_dataset(subject, dataset, protocol, options, cache=cache, progress=progress)
            raws.append(np.asarray(result.score))
            honests.append(result.honest.score)
            ceilings.append(dataset.ceiling)
            details[name] = {
                "n_stimuli": dataset.n_stimuli,
                "n_neuroids": dataset.n_neuroids,
                "n_dropped_neuroids": dataset.n_dropped_neuroids,
                "honest_layers_per_split": [layers[i] for i in result.honest.chosen_layers],
            }
        ceiling = combined_ceiling(ceilings)
        scores = score_rows(subject.name, identifier, layers, np.mean(raws, axis=0), ceiling)
        return BenchmarkResult(scores, honest_raw=float(np.mean(honests)), details=details)

    return run


def datasets_available(names: tuple[str, ...]):
    """A Benchmark.available check: every file of the named datasets is on disk and passes its checksum's cheap
    check (nothing is downloaded; a corrupt file makes the benchmark unavailable)."""
    return lambda: all(DATASETS.get(name).available() for name in names)


def dataset_files(names: tuple[str, ...]):
    """A Benchmark.files list: the files of the named datasets."""
    return lambda: [path for name in names for path in DATASETS.get(name).paths()]


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

for _identifier, _protocol in PROTOCOLS.items():
    BENCHMARKS.add(
        _identifier,
        Benchmark(
            _identifier,
            "neural",
            _runner(_identifier, _protocol),
            available=datasets_available(_protocol.datasets),
            options=NeuralOptions,
            files=dataset_files(_protocol.datasets),
            description=f"{' + '.join(_protocol.datasets)}: {_protocol.regression} regression, {_protocol.cv} CV",
        ),
    )
