"""`tuneshift models info MODEL` never downloads: a model not on this machine is described by what the catalog knows,
with how to fetch it; one that is here is described from its config, with nothing fetched either."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

import tuneshift.models.catalog
import tuneshift.models.load
from tuneshift.cli.main import app


@pytest.fixture(autouse=True)
def no_network(tmp_path, monkeypatch):
    """An empty model cache and Hugging Face cache; every way of fetching a model raises."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"models info tried to fetch something: {args}")

    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TUNESHIFT_OFFLINE", raising=False)  # the hub would be tried, were it not for `offline`
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(tuneshift.models.load, "_in_hub_cache", lambda hub_id: False)
    monkeypatch.setattr(tuneshift.models.load, "hub_reachable", refuse)
    monkeypatch.setattr(tuneshift.models.catalog, "fetch", refuse)
    monkeypatch.setattr(tuneshift.models.catalog.subprocess, "run", refuse)  # pip download
    monkeypatch.setattr(socket, "create_connection", refuse)


def info(model: str) -> str:
    """The output of `tuneshift models info MODEL` (exit 0), its whitespace folded."""
    result = CliRunner().invoke(app, ["models", "info", model])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"])
def test_a_catalog_model_not_fetched_says_what_the_catalog_knows_and_how_to_fetch(model):
    shown = info(model)
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in shown and "not fetched (would be " in shown
    assert "Not on this machine. To fetch it: `tuneshift models fetch smollm2-135m-instruct`" in shown


def test_a_hub_id_not_cached_says_how_it_is_fetched():
    shown = info("some-org/some-model")
    assert "not in the local Hugging Face cache" in shown and "`hf download some-org/some-model`" in shown


def test_a_model_on_this_machine_is_described_from_its_config(tiny_model_dirs):
    shown = info(str(tiny_model_dirs["llama"]))
    assert "llama" in shown and "Not on this machine" not in shown
