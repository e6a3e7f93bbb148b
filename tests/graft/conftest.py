"""Pairs of tiny models (base, tuned = base with seeded noise on every weight) and two fast test benchmarks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import xarray as xr

from tests._tiny import CORPUS, load_tiny
from tuneshift.benchmarks._base import BENCHMARKS, Benchmark, BenchmarkResult, score_rows
from tuneshift.graft import GraftPair
from tuneshift.models.load import LoadedModel

PASSAGES = [sentence.split() for sentence in CORPUS[:4]]
SURPRISAL_BENCH, NORM_BENCH = "GraftTest-surprisal", "GraftTest-norm"


def tuned_copy(directory, scale: float = 0.3, seed: int = 1) -> LoadedModel:
    """A fresh load of `directory` with N(0, scale²) noise added to every parameter: a 'tuned' model whose every
    part differs from the base's."""
    model = load_tiny(directory)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.hf_model.parameters():
            param.add_(scale * torch.randn(param.shape, generator=generator))
    return model


@pytest.fixture
def make_pair(tiny_model_dirs):
    """family → GraftPair of fresh loads (tests change the base in place)."""
    return lambda family: GraftPair(load_tiny(tiny_model_dirs[family]), tuned_copy(tiny_model_dirs[family]))


@pytest.fixture
def test_benchmarks(monkeypatch, tmp_path):
    """Two benchmarks registered for the test only (activation cache in tmp_path); returns their ids and a
    counter of how often each ran.

    GraftTest-surprisal: mean surprisal (bits) over the words of 4 passages, the passages' means and word counts as
    per-story values (the score is their word-weighted mean, as Futrell2018-deltall's);
    GraftTest-norm: per layer, the mean L2 norm of the words' representations."""
    monkeypatch.setenv("TUNESHIFT_ACTIVATIONS", str(tmp_path / "activations"))
    runs = {SURPRISAL_BENCH: 0, NORM_BENCH: 0}

    def surprisal(subject, options, *, cache=True, progress=True) -> BenchmarkResult:
        runs[SURPRISAL_BENCH] += 1
        bits = subject.surprisal(PASSAGES, readout=options, cache=cache, progress=False)
        starts = np.cumsum([0] + [len(p) for p in PASSAGES])
        stories = list(itertools.pairwise(starts))
        per_story = {str(i + 1): float(np.nanmean(bits[a:b])) for i, (a, b) in enumerate(stories)}
        n_words = [np.isfinite(bits[a:b]).sum() for a, b in stories]
        values = xr.Dataset(
            {"n_words": ("story", n_words), "bits": ("story", list(per_story.values()))},
            coords={"story": list(per_story)},
            attrs={"paired_unit": "story", "measure": "bits"},
        )
        scores = score_rows(subject.name, SURPRISAL_BENCH, [subject.layers[-1]], [np.nanmean(bits)], None)
        return BenchmarkResult(scores, details={"per_story_raw": per_story}, values=values)

    def norm(subject, options, *, cache=True, progress=True) -> BenchmarkResult:
        runs[NORM_BENCH] += 1
        values, layers = subject.representations(PASSAGES, readout=options, cache=cache, progress=False)
        raw = np.linalg.norm(np.asarray(values, dtype=np.float64), axis=2).mean(axis=1)
        return BenchmarkResult(score_rows(subject.name, NORM_BENCH, layers, raw, None))

    monkeypatch.setitem(BENCHMARKS._entries, SURPRISAL_BENCH, Benchmark(SURPRISAL_BENCH, "behavioral", surprisal))
    monkeypatch.setitem(BENCHMARKS._entries, NORM_BENCH, Benchmark(NORM_BENCH, "neural", norm))
    return [SURPRISAL_BENCH, NORM_BENCH], runs
