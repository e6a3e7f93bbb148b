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
from tuneshift.metrics import encoding_score
from tuneshift.models.load import LoadedModel
from tuneshift.models.readout import read_out


@dataclass(frozen=True)
class NeuralProtocol:
    """How one neural benchmark scores: dataset(s) (averaged per layer when several), regression and splits."""

    datasets: tuple[str, ...]
    regression: str
    cv: str
    n_splits: int | None = None
    load_kwargs: dict = field(default_factory=dict)


def layer_features(model: LoadedModel, dataset: NeuralDataset, *, cache: bool, progress: bool):
    """(layers, stimuli, hidden) representations read at each stimulus's last word, and the layer indices."""
    starts = np.concatenate([[0], np.cumsum([len(p) for p in dataset.passages])])
    needed = np.zeros(starts[-1], dtype=bool)
    needed[starts[dataset.stimulus_passage] + dataset.stimulus_word] = True
    readout = read_out(model, dataset.passages, words_needed=needed, cache=cache, progress=progress)
    rows = readout.rows(dataset.stimulus_passage, dataset.stimulus_word)
    return np.asarray(readout.activations[:, rows, :], dtype=np.float32), readout.layers


def score_dataset(model: LoadedModel, dataset: NeuralDataset, protocol: NeuralProtocol, *, cache: bool, progress: bool):
    """Encoding result of every layer on one dataset (with the honest, training-fold layer choice)."""
    features, layers = layer_features(model, dataset, cache=cache, progress=progress)
    result = encoding_score(
        features,
        dataset.targets,
        regression=protocol.regression,
        cv=protocol.cv,
        groups=dataset.groups,
        n_splits=protocol.n_splits,
        neuroid_labels={"subject": dataset.neuroids["subject"].to_numpy()},
        honest=True,
        progress=progress,
    )
    return result, layers


def _runner(identifier: str, protocol: NeuralProtocol):
    def run(model: LoadedModel, *, cache: bool = True, progress: bool = True) -> BenchmarkResult:
        raws, honests, ceilings, details = [], [], [], {}
        for name in protocol.datasets:
            dataset = DATASETS.get(name).load(**protocol.load_kwargs)
            result, layers = score_dataset(model, dataset, protocol, cache=cache, progress=progress)
            raws.append(np.asarray(result.score))
            honests.append(result.honest.score)
            ceilings.append(dataset.ceiling)
            details[name] = {
                "n_stimuli": dataset.n_stimuli,
                "n_neuroids": dataset.n_neuroids,
                "n_dropped_neuroids": dataset.n_dropped_neuroids,
                "honest_layers_per_split": [layers[i] for i in result.honest.chosen_layers],
            }
        ceiling = float(np.mean(ceilings)) if all(c is not None for c in ceilings) else None
        scores = score_rows(model.name, identifier, layers, np.mean(raws, axis=0), ceiling)
        return BenchmarkResult(scores, honest_raw=float(np.mean(honests)), details=details)

    return run


def datasets_available(names: tuple[str, ...]):
    """A Benchmark.available check: every file of the named datasets is on disk (nothing is downloaded)."""
    return lambda: all(path.exists() for name in names for path in DATASETS.get(name).paths())


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
            description=f"{' + '.join(_protocol.datasets)}: {_protocol.regression} regression, {_protocol.cv} CV",
        ),
    )
