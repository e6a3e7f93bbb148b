"""Adding a neural dataset is its loader, one protocol entry and its ceiling — nothing else to remember.

The study's memory plan, the statistics' benchmark kinds, the similarity variants and the report all find a dataset
added this way without being told (issue "Results as data": it used to take six files, two failing in silence).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tuneshift.benchmarks import BENCHMARKS, neural, score, similarity
from tuneshift.benchmarks.store import ResultStore
from tuneshift.data import DATASETS, DatasetInfo
from tuneshift.data._dataset import build_dataset
from tuneshift.metrics.ceiling import CEILINGS

N_SENTENCES, N_SUBJECTS, N_VOXELS = 40, 2, 3
CEILING = 0.5


def _write_toy_file(path) -> None:
    """A long-format response table, one row per (sentence, subject, voxel): the shape most fMRI releases take."""
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away"]
    sentences = [" ".join(rng.choice(words, size=5)) for _ in range(N_SENTENCES)]
    rows = [
        {
            "sentence_id": f"s{i:02d}",
            "sentence": sentences[i],
            "subject": f"sub{subject}",
            "voxel": voxel,
            "response": rng.normal(),
        }
        for i in range(N_SENTENCES)
        for subject in range(N_SUBJECTS)
        for voxel in range(N_VOXELS)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)


def _toy_loader(path):
    def load(data_dir=None):
        table = pd.read_csv(path)
        wide = table.pivot_table(index=["sentence_id", "sentence"], columns=["subject", "voxel"], values="response")
        neuroids = pd.DataFrame(
            {
                "neuroid_id": [f"{s}.{v}" for s, v in wide.columns],
                "subject": [s for s, _ in wide.columns],
                "region": "language",
            }
        )
        sentences = wide.index.get_level_values("sentence").tolist()
        return build_dataset(
            name="Toy2026",
            source=path,
            passages=[s.split() for s in sentences],
            stimulus_passage=np.arange(len(sentences)),
            stimulus_word=[len(s.split()) - 1 for s in sentences],
            stimulus_id=wide.index.get_level_values("sentence_id"),
            targets=wide.to_numpy(),
            neuroids=neuroids,
            groups=np.arange(len(sentences)),
            ceiling=CEILINGS.get("Toy2026"),
        )

    return load


@pytest.fixture
def toy_dataset(tmp_path, monkeypatch):
    """Registers Toy2026 the way a contributor would (loader, protocol entry, ceiling), undone after the test."""
    for registry in (DATASETS, BENCHMARKS, CEILINGS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    path = tmp_path / "toy2026.csv"
    _write_toy_file(path)
    # 1. the loader (a module in tuneshift.data)
    DATASETS.add(
        "Toy2026",
        DatasetInfo("Toy2026", _toy_loader(path), "toy sentences", "Nobody 2026", bundled=path, license="MIT"),
    )
    # 2. its ceiling (metrics.ceiling.CEILINGS)
    CEILINGS.add("Toy2026", CEILING)
    # 3. one protocol entry (benchmarks.neural.PROTOCOLS)
    monkeypatch.setitem(neural.PROTOCOLS, "Toy2026-linear", neural.NeuralProtocol(("Toy2026",), "linear", "shuffle"))
    return path


def test_a_dataset_added_by_loader_protocol_and_ceiling_reaches_every_consumer(toy_dataset, tiny_models, tmp_path):
    assert neural.register() == ["Toy2026-linear"]  # what the import of tuneshift.benchmarks does for a source entry
    assert similarity.register() == ["Toy2026-cka", "Toy2026-rdm"]
    model = tiny_models["llama"]
    out = tmp_path / "run"
    table = score(model, ["Toy2026-linear", "Toy2026-cka"], out, cache=False, progress=False)

    linear = table[table["benchmark"] == "Toy2026-linear"]
    assert linear["layer"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(linear["normalized"], np.clip(linear["raw"] / CEILING, 0, 1))
    # the result keeps every r behind its scores, labelled by subject, and says what it is
    store = ResultStore(out)
    unit = next(u for u in store.units() if u.benchmark == "Toy2026-linear")
    assert unit.provenance["kind"] == "neural" and "Nobody 2026" in unit.provenance["citation"]
    values = store.values(unit)
    assert dict(values["r"].sizes) == {"layer": 3, "split": 10, "neuroid": N_SUBJECTS * N_VOXELS}
    assert sorted(set(values["subject"].values)) == ["sub0", "sub1"]
    median_over_neuroids = values["r"].median("neuroid").mean("split").values
    np.testing.assert_allclose(median_over_neuroids, linear["raw"], atol=1e-6)  # float32 storage

    from tuneshift.study.run import count_stimuli
    from tuneshift.study.stats import benchmark_kind

    assert benchmark_kind("Toy2026-linear") == "neural" and benchmark_kind("Toy2026-cka") == "similarity"
    assert count_stimuli("Toy2026-linear") == N_SENTENCES  # the study's memory plan reads it from the data

    from tuneshift.report import render_report

    html = render_report(out)
    assert "Toy2026-linear" in html and "Toy2026-cka" in html
