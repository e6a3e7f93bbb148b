"""Model loading errors, fingerprints, random init, the activation cache, and the readout CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tuneshift.errors import InvalidInputError, ModelNotFoundError, UnknownNameError
from tuneshift.models import load_model
from tuneshift.models.readout import read_out

PASSAGES = [["The", "dog", "sleeps", "."], ["Taste", "that", "fish", "!"]]


def test_missing_path_and_fake_gguf_get_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESHIFT_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_model(tmp_path / "nowhere" / "model.gguf")
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelNotFoundError, match="not a GGUF file"):
        load_model(fake)
    with pytest.raises(ModelNotFoundError, match=r"local directory .* or a \.gguf file"):
        load_model("some-org/some-model-that-is-not-cached")


def test_unknown_architecture_lists_the_supported_ones(tiny_model_dirs, tmp_path):
    config = json.loads((tiny_model_dirs["llama"] / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    from tuneshift.models.families import FAMILIES

    with pytest.raises(UnknownNameError, match="LlamaForCausalLM"):
        FAMILIES.get("LlamaForCausalLm")


def test_fingerprint_is_stable_and_random_init_differs(tiny_model_dirs):
    first = load_model(tiny_model_dirs["gpt2"])
    again = load_model(tiny_model_dirs["gpt2"])
    random = load_model(tiny_model_dirs["gpt2"], random_init=True, seed=3)
    random_again = load_model(tiny_model_dirs["gpt2"], random_init=True, seed=3)
    assert first.fingerprint == again.fingerprint
    assert random.fingerprint != first.fingerprint
    assert random.fingerprint == random_again.fingerprint
    assert random.name.endswith("random-init(seed=3)")


def test_cache_is_reused_and_a_corrupt_entry_is_recomputed(tiny_models, tmp_path):
    model = tiny_models["gpt2"]
    first = read_out(model, PASSAGES, cache_dir=tmp_path, progress=False)
    assert first.path is not None and first.path.parent == tmp_path
    second = read_out(model, PASSAGES, cache_dir=tmp_path, progress=False)
    assert second.path == first.path
    np.testing.assert_array_equal(second.activations, first.activations)
    # Flip bytes in the stored activations: the entry must be detected, dropped and rebuilt.
    stored = first.path / "activations.npy"
    data = bytearray(stored.read_bytes())
    data[-8:] = b"\x00" * 8
    stored.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupt"):
        third = read_out(model, PASSAGES, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(third.activations, read_out(model, PASSAGES, cache=False, progress=False).activations)
    # Other settings are other entries.
    other = read_out(model, PASSAGES, cache_dir=tmp_path, progress=False, layers=[1])
    assert other.path != third.path and other.activations.shape[0] == 1


def test_readout_cli_writes_words_and_activations(tiny_model_dirs, tmp_path):
    from tuneshift.cli.main import app

    tsv = tmp_path / "passages.tsv"
    pd.DataFrame({"passage": ["a"] * 4 + ["b"] * 4, "word": PASSAGES[0] + PASSAGES[1]}).to_csv(
        tsv, sep="\t", index=False
    )
    out = tmp_path / "out"
    args = ["readout", "--model", str(tiny_model_dirs["gpt2"]), "--passages", str(tsv), "--out", str(out), "--no-cache"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    words = pd.read_csv(out / "words.csv")
    assert list(words.columns) == ["passage", "word_index", "word", "n_tokens", "surprisal_bits"]
    assert words["passage"].tolist() == ["a"] * 4 + ["b"] * 4
    assert np.load(out / "activations.npy").shape == (3, 8, 32)
    assert json.loads((out / "layers.json").read_text()) == {"layers": [0, 1, 2]}
    random = CliRunner().invoke(
        app, [*args[:-1], "--random-init", "--seed", "1", "--out", str(tmp_path / "r"), "--no-cache"]
    )
    assert random.exit_code == 0, random.output
    assert not np.allclose(np.load(tmp_path / "r" / "activations.npy")[1:], np.load(out / "activations.npy")[1:])


def test_readout_cli_names_bad_rows(tmp_path):
    from tuneshift.cli.readout import read_passages_tsv

    bad = tmp_path / "bad.tsv"
    bad.write_text("passage\ttoken\n1\tThe\n")
    with pytest.raises(InvalidInputError, match="missing column"):
        read_passages_tsv(bad)
    blank = tmp_path / "blank.tsv"
    blank.write_text("passage\tword\n1\tThe\n1\t \n")
    with pytest.raises(InvalidInputError, match="row 3"):
        read_passages_tsv(blank)


def test_describe_model_reads_the_config_not_the_weights(tiny_model_dirs, tiny_models):
    from tuneshift.models.load import describe_model

    for name, path in tiny_model_dirs.items():
        info, loaded = describe_model(path), tiny_models[name]
        assert info["family"] == loaded.family.family and info["blocks (layers 1..N)"] == loaded.n_layers
        assert info["parameters"] == f"{loaded.n_parameters:,}" and info["hidden size"] == loaded.hidden_size
        assert info["max context (tokens)"] == loaded.max_length


def test_result_files_follow_the_umask(tmp_path):
    import os

    import pandas as pd

    from tuneshift._io import write_csv, write_json

    old = os.umask(0o022)
    try:
        assert write_csv(tmp_path / "a.csv", pd.DataFrame({"x": [1]})).stat().st_mode & 0o777 == 0o644
        os.umask(0o027)
        assert write_json(tmp_path / "b.json", {"x": 1}).stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
