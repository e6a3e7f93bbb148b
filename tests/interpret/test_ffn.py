"""FFN concepts (Wu et al. 2023): value-vector orientation in every family, PCA shares, top words on a constructed
layer, category shares, comparison and plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA
from tests._tiny import FAMILY_NAMES, load_tiny

from tuneshift.interpret import ffn, plots
from tuneshift.interpret.labelers import LexiconLabeler
from tuneshift.interpret.vocab import model_word_vectors
from tuneshift.models.families import blocks_of, get_module
from tuneshift.models.weights import ffn_value_vectors


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_value_vectors_are_what_each_neuron_writes(tiny_models, name):
    """down(h) − bias = h @ values: row i of the values is the hidden-size vector neuron i adds to the residual."""
    model = tiny_models[name]
    layer = model.n_layers - 1
    module = get_module(blocks_of(model.hf_model)[layer], model.family.ffn_down)
    values = ffn_value_vectors(model, layer)
    assert values.shape == (64, 32) if name != "gpt2" else values.shape == (128, 32)  # GPT-2: 4 × n_embd
    activation = torch.randn(3, values.shape[0], generator=torch.Generator().manual_seed(0))
    bias = module.bias if getattr(module, "bias", None) is not None else 0.0
    with torch.no_grad():
        torch.testing.assert_close(module(activation) - bias, activation @ values, atol=1e-5, rtol=1e-5)


def test_principal_component_shares_match_sklearn_and_sum_to_one():
    values = torch.randn(200, 16, generator=torch.Generator().manual_seed(1)) * torch.linspace(3, 0.1, 16)
    components, shares = ffn.principal_components(values, n_components=16, method="full")
    assert float(shares.sum()) == pytest.approx(1.0, abs=1e-6)
    pca = PCA().fit(values.numpy())
    np.testing.assert_allclose(shares.numpy(), pca.explained_variance_ratio_, rtol=1e-4)
    # same directions up to sign
    np.testing.assert_allclose(np.abs((components.numpy() * pca.components_).sum(1)), 1.0, atol=1e-4)
    top, top_shares = ffn.principal_components(values, n_components=3, method="randomized")
    np.testing.assert_allclose(top_shares.numpy(), shares[:3].numpy(), rtol=1e-3)
    np.testing.assert_allclose(np.abs((top * components[:3]).sum(1).numpy()), 1.0, atol=1e-3)


def test_top_words_follow_a_planted_direction(tiny_model_dirs):
    """Value vectors spread mostly along the output embedding of "sea" (and less along "blue"): the first component
    is explained by "sea" first (|cos| = 1), the second by "blue"; its share is the planted variance ratio."""
    model = load_tiny(tiny_model_dirs["llama"])  # a fresh copy: its weights are changed below
    words = ["sea", "blue", "poem", "write", "cat", "mat", "bread", "smile"]
    unit = torch.nn.functional.normalize(model_word_vectors(model, words, side="output"), dim=-1)
    sea = unit[0]
    blue = torch.nn.functional.normalize(unit[1] - (unit[1] @ sea) * sea, dim=0)  # orthogonal to sea
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 1, generator=generator), torch.randn(64, 1, generator=generator)
    a, b = a - a.mean(), b - b.mean()
    a, b = 10 * a / a.norm(), 3 * (b - (b.T @ a) / (a.T @ a) * a) / (b - (b.T @ a) / (a.T @ a) * a).norm()
    values = a * sea + b * blue  # (64 neurons × 32), zero mean, orthogonal columns of variance 100 : 9
    with torch.no_grad():
        blocks_of(model.hf_model)[0].mlp.down_proj.weight.copy_(values.T)
    frame = ffn.explain_ffn(model, words, n_components=2, top_k=3, layers=[1])  # block 0
    assert frame["words"].iloc[0].split("|||")[0] == "sea"
    assert frame["words"].iloc[1].split("|||")[0] == "blue"
    assert float(frame["scores"].iloc[0].split("|||")[0]) == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(frame["share"], [100 / 109, 9 / 109], rtol=1e-4)
    paper = ffn.to_paper_format(frame, "tiny", "1M")
    assert list(paper.columns) == ["Model", "Size", "Layer", "Type", "Head", "Rank", "Score", "TopK"]
    assert (frame["layer"] == 1).all() and (paper["Layer"] == 0).all()  # the paper counts blocks from 0


def test_category_shares_comparison_and_plot(tmp_path):
    """Two layers in two groups; base: 2 explainable components, one coding; tuned: 3 explainable, all coding."""

    def frame(rows):
        return pd.DataFrame(rows, columns=["layer", "rank", "words", "summary", "explainable", "tasks", "level"])

    base = frame([(1, 1, "", "code", True, "coding", "semantics"), (2, 1, "", "x", True, "none", "syntax"),
                  (2, 2, "", "?", False, "", "")])  # fmt: skip
    tuned = frame([(1, 1, "", "code", True, "coding", "semantics"), (2, 1, "", "c", True, "coding;math", "semantics"),
                   (2, 2, "", "c", True, "coding", "morphology")])  # fmt: skip
    shares = ffn.category_shares({"base": base, "tuned": tuned}, n_layers=2, n_groups=2)
    pick = shares.set_index(["model", "group", "scheme", "category"])["share"]
    assert pick[("base", "all", "task", "coding")] == 0.5
    assert pick[("tuned", "all", "task", "coding")] == 1.0
    assert pick[("tuned", 1, "level", "morphology")] == 0.5
    assert pick[("base", 1, "task", "none")] == 1.0
    compared = ffn.compare_categories(shares).set_index(["scheme", "category"])
    assert compared.loc[("task", "coding"), "change"] == 0.5
    assert 0 < compared.loc[("task", "coding"), "p_fisher"] <= 1
    path = plots.plot_category_shares(shares, tmp_path / "levels.png")
    assert path.stat().st_size > 1000


def test_label_components_uses_the_first_words():
    frame = pd.DataFrame({"layer": [0], "rank": [1], "words": ["the|||of|||and|||sea"]})
    labelled = ffn.label_components(frame, LexiconLabeler(), n_words=3)
    assert labelled[["explainable", "level", "tasks"]].iloc[0].tolist() == [True, "syntax", "none"]


def test_cli_attention_and_ffn_write_tables_and_figures(tiny_model_dirs, tmp_path):
    """Both commands on the tiny LLaMA (tuned) vs the tiny Gemma (base), a small vocabulary file, two layers."""
    from typer.testing import CliRunner

    from tuneshift.cli.explain_internals import app

    vocab = tmp_path / "vocab.tsv"
    words = "the sea is blue and waves are loud write poem summarize text translate explain sky light cat mat".split()
    vocab.write_text("".join(f"{w}\t{1 / (i + 1)}\n" for i, w in enumerate(words)), encoding="utf8")
    common = ["--model", str(tiny_model_dirs["llama"]), "--base", str(tiny_model_dirs["gemma"]), "--vocab", str(vocab)]
    runner = CliRunner()
    with pytest.warns(UserWarning, match="not the tuned model's architecture"):  # tiny LLaMA vs tiny Gemma
        result = runner.invoke(app, ["attention", *common, "--out", str(tmp_path / "att"), "--layers", "1-2"])
    assert result.exit_code == 0, result.output
    heads_tsv = pd.read_csv(tmp_path / "att" / "heads_llama.tsv", sep="\t")
    assert len(heads_tsv) == 2 * 4 * 8 and (tmp_path / "att" / "verbs.png").exists()
    n_parameters = load_tiny(tiny_model_dirs["llama"]).n_parameters
    assert set(heads_tsv["Size"]) == {f"{n_parameters / 1e6:.3g}M"}
    assert set(pd.read_csv(tmp_path / "att" / "verbs_tests.csv")["verb_set"]) == {"instruction", "frequent"}
    with pytest.warns(UserWarning, match="architecture"):
        result = runner.invoke(app, ["ffn", *common, "--out", str(tmp_path / "ffn"), "--components", "5"])
    assert result.exit_code == 0, result.output
    components = pd.read_csv(tmp_path / "ffn" / "ffn_llama.csv")
    assert len(components) == 2 * 5 and {"summary", "tasks", "level"} <= set(components.columns)
    assert (tmp_path / "ffn" / "ffn_levels.png").exists() and (tmp_path / "ffn" / "ffn_compare.csv").exists()
    bad = runner.invoke(app, ["ffn", *common, "--out", str(tmp_path / "x"), "--labeler", "gpt"])
    assert bad.exit_code != 0 and "lexicon | openai" in str(bad.exception)
