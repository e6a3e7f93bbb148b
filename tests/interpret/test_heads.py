"""Attention-head word pairs (Wu et al. 2023): per-head W_q/W_k extraction against the real modules of every family,
thresholds and the pair filter on hand-made examples, vocabulary and word-vector files, the verb comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tests._tiny import FAMILY_NAMES, load_tiny

from tuneshift.errors import InvalidInputError
from tuneshift.interpret import heads, knowledge, verbs
from tuneshift.interpret.vocab import load_static_vectors, load_vocabulary, word_token_ids, word_vectors
from tuneshift.models.families import blocks_of, get_module
from tuneshift.models.weights import head_activations, qk_weights

SENTENCE = "Write a short poem about the sea and explain why the sky is blue."


def _normalise(norm: torch.nn.Module, x: torch.Tensor, kind: str) -> torch.Tensor:
    """x̂: the norm's input standardised without its gain (and shift)."""
    eps = getattr(norm, "eps", None) or norm.variance_epsilon
    if kind == "layer":
        return torch.nn.functional.layer_norm(x, x.shape[-1:], eps=eps)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def _model_qk(block, family, n_heads: int, n_kv: int, outputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own per-head queries and keys (heads × tokens × head_dim) from hooked module outputs."""
    if "q_norm" in outputs:  # (batch, heads, tokens, head_dim) after Gemma 3's per-head norm
        q, k = outputs["q_norm"][0], outputs["k_norm"][0]
        return q, k.repeat_interleave(n_heads // n_kv, dim=0)
    if family.qkv_layout == "gpt2_conv1d":
        q, k, _ = outputs["qkv"][0].chunk(3, dim=-1)
    elif family.qkv_layout == "neox_interleaved":
        tokens = outputs["qkv"].shape[1]
        q, k, _ = outputs["qkv"][0].view(tokens, n_heads, -1).chunk(3, dim=-1)
        q, k = q.reshape(tokens, -1), k.reshape(tokens, -1)
    else:
        q, k = outputs["q"][0], outputs["k"][0]
    q = q.reshape(q.shape[0], n_heads, -1).transpose(0, 1)
    k = k.reshape(k.shape[0], n_kv, -1).transpose(0, 1).repeat_interleave(n_heads // n_kv, dim=0)
    return q, k


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_folded_weights_reproduce_the_models_queries_and_keys(tiny_models, name):
    """x̂ @ W_q[h] + b (gain folded in) equals what the real q/k (or fused QKV) module produces for every head and
    token, before RoPE; for GQA the key head is the shared one. Tolerance: float32 rounding of sums of 32 terms."""
    loaded = tiny_models[name]
    model, tokenizer, family = loaded.hf_model, loaded.tokenizer, loaded.family
    weights = qk_weights(loaded)
    config = model.config
    n_heads, n_kv = (
        config.num_attention_heads,
        getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
    )
    layer = len(blocks_of(model)) - 1  # the last block: T5's last decoder block, after the encoder's
    block = blocks_of(model)[layer]
    outputs: dict[str, torch.Tensor] = {}
    hooks = [get_module(block, family.attn_norm).register_forward_pre_hook(lambda m, a: outputs.update(x=a[0]))]
    parts = {"qkv": family.qkv} if family.qkv else {"q": family.q, "k": family.k}
    attention = get_module(block, (family.qkv or family.q).rsplit(".", 1)[0])
    for key, path in parts.items():
        hooks.append(get_module(block, path).register_forward_hook(lambda m, a, o, key=key: outputs.update({key: o})))
    for key in ("q_norm", "k_norm"):
        if hasattr(attention, key):
            hooks.append(
                getattr(attention, key).register_forward_hook(lambda m, a, o, key=key: outputs.update({key: o}))
            )
    ids = tokenizer(SENTENCE, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        model(input_ids=ids, decoder_input_ids=ids) if name == "t5" else model(input_ids=ids)
    for hook in hooks:
        hook.remove()
    normed = _normalise(get_module(block, family.attn_norm), outputs["x"][0], family.norm_kind)
    ours_q, ours_k = head_activations(weights, layer, normed, bias=True)
    model_q, model_k = _model_qk(block, family, n_heads, n_kv, outputs)
    assert (name == "gemma") == (weights.q_norm[layer] is not None)
    torch.testing.assert_close(ours_q, model_q, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(ours_k, model_k, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["gpt2", "opt"])
def test_folded_weights_give_the_models_attention_probabilities(tiny_model_dirs, name):
    """Families without RoPE: softmax(q·k / √d_head + causal mask) from our folded maps equals the model's attention
    probabilities (output_attentions, eager attention) for every head of the first layer."""
    loaded = load_tiny(tiny_model_dirs[name], eager=True)
    model, tokenizer, family = loaded.hf_model, loaded.tokenizer, loaded.family
    block = blocks_of(model)[0]
    captured = {}
    hook = get_module(block, family.attn_norm).register_forward_pre_hook(lambda m, a: captured.update(x=a[0]))
    ids = tokenizer(SENTENCE, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        probabilities = model(input_ids=ids, output_attentions=True).attentions[0][0]
    hook.remove()
    normed = _normalise(get_module(block, family.attn_norm), captured["x"][0], "layer")
    q, k = head_activations(qk_weights(loaded, layers=[0]), 0, normed, bias=True)
    scores = q @ k.transpose(1, 2) / q.shape[-1] ** 0.5
    scores = scores.masked_fill(torch.ones_like(scores, dtype=torch.bool).triu(1), float("-inf"))
    torch.testing.assert_close(scores.softmax(-1), probabilities, atol=1e-5, rtol=1e-4)


def test_grouped_query_keys_are_repeated_for_their_query_heads(tiny_models):
    """Tiny LLaMA: 4 query heads share 2 key heads, heads (0, 1) → key head 0 and (2, 3) → key head 1."""
    loaded = tiny_models["llama"]
    model = loaded.hf_model
    weights = qk_weights(loaded, layers=[1])
    k_proj = blocks_of(model)[1].self_attn.k_proj.weight.detach()
    gain = blocks_of(model)[1].input_layernorm.weight.detach()
    head_dim = weights.q.shape[-1]
    for query_head, key_head in [(0, 0), (1, 0), (2, 1), (3, 1)]:
        expected = gain[:, None] * k_proj[key_head * head_dim : (key_head + 1) * head_dim].T
        torch.testing.assert_close(weights.k[0, query_head], expected)


def test_cooccurrence_thresholds_by_hand():
    """Three unit vectors, baseline = the first two words: word c has cosines (0.6, 0.8) → 0.7 + 1.96·0.1."""
    unit = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    thresholds = heads.cooccurrence_thresholds(unit, n_baseline=2, z=1.96)
    torch.testing.assert_close(thresholds, torch.tensor([0.5 + 0.98, 0.5 + 0.98, 0.7 + 0.196]))


def test_pair_filter_keeps_similar_same_sign_pairs_only():
    """One head, one dimension, four words. Query side picks words 0, 1 (|act| largest), key side 2, 3.
    Static cosines: 0~2 = 0.9 (above both thresholds 0.5) and same sign → kept; 1~3 = 0.9 but opposite sign →
    dropped; 0~3 and 1~2 are orthogonal → dropped."""
    unit = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.436], [0.436, 0.9]]), dim=-1)
    hq = torch.tensor([[[3.0], [-2.0], [0.1], [0.1]]])  # (heads, words, dims)
    hk = torch.tensor([[[0.1], [0.1], [5.0], [4.0]]])
    energy, rows, cosine = heads._layer_pairs(hq, hk, unit, torch.full((4,), 0.5), top_k=2)
    assert rows.tolist() == [[0, 0, 0, 2]]
    np.testing.assert_allclose(cosine, [float(unit[0] @ unit[2])], rtol=1e-6)
    torch.testing.assert_close(energy, torch.tensor([[9 + 4 + 0.01 + 0.01 + 0.01 + 0.01 + 25 + 16]]))


def test_explain_heads_tables_and_paper_format(tiny_models):
    """Tiny LLaMA, a 60-word vocabulary: one row per (layer, head, dim); ranks are a permutation per head ordered by
    energy; every listed pair is a pair of the long table, sorted by falling cosine."""
    words = (
        "the sea is blue and waves are loud write a poem summarize text translate french explain why sky light".split()
    )
    words += (
        "cat sat on mat all day long give two examples find equilibria rock paper scissors help me with this".split()
    )
    words += "exercise could you he said hello to everyone they answered smile warm bread green apples like I".split()
    dims, pairs = heads.explain_heads(tiny_models["llama"], words, top_k=10, n_baseline=20)
    n_layers, n_heads, head_dim = 2, 4, 8
    assert len(dims) == n_layers * n_heads * head_dim
    for _, group in dims.groupby(["layer", "head"]):
        assert sorted(group["rank"]) == list(range(1, head_dim + 1))
        assert group.sort_values("rank")["score"].is_monotonic_decreasing
    assert len(pairs) > 0 and dims["n_pairs"].sum() == len(pairs)
    row = dims[dims["n_pairs"] > 1].iloc[0]
    listed = row["pairs"].split("|||")
    sub = pairs[(pairs["layer"] == row["layer"]) & (pairs["head"] == row["head"]) & (pairs["dim"] == row["dim"])]
    assert listed == (sub["key"] + "=" + sub["query"]).tolist() and sub["cosine"].is_monotonic_decreasing
    paper = heads.to_paper_format(dims, "tiny-llama", "1M")
    assert list(paper.columns) == ["Model", "Size", "Layer", "Type", "Head", "Dim", "Rank", "Score", "TopK"]
    assert set(dims["layer"]) == {1, 2} and set(paper["Layer"]) == {0, 1}  # tuneshift layers; the paper's blocks


def test_compare_verbs_counts_heads_where_tuned_has_more():
    """Head (0, 0) holds "write=poem" in two dims in the tuned model only; "run=fast" sits in head (0, 1) in the base
    model only. The instruction verb rises in 1/1 heads (1.0), the frequent verb in 0/1 (0.0)."""

    def frame(rows):
        return pd.DataFrame(rows, columns=["layer", "head", "dim", "query", "key", "cosine"])

    base = frame([(1, 1, 0, "run", "fast", 0.5), (1, 1, 1, "fast", "run", 0.5), (2, 0, 0, "x", "y", 0.5)])
    tuned = frame([(1, 0, 0, "write", "poem", 0.5), (1, 0, 3, "poem", "Write", 0.5), (2, 0, 0, "x", "y", 0.5)])
    tests, shares = knowledge.compare_verbs(base, tuned, n_layers=2, n_groups=1, general_verbs=("run", "walk"))
    row = tests.set_index("verb_set")
    assert row.loc["instruction", "mean"] == 1.0 and row.loc["frequent", "mean"] == 0.0
    assert row.loc["instruction", "n_verbs"] == 1 and row.loc["frequent", "n_verbs"] == 1
    share = shares.set_index(["model", "verb_set"])
    assert share.loc[("tuned", "instruction"), "heads_with_verb"] == 1
    assert share.loc[("base", "instruction"), "heads_with_verb"] == 0
    assert share.loc[("base", "frequent"), "pair_share"] == 1.0


def test_frequent_verbs_heuristic():
    freq = {"work": 1e-3, "working": 2e-4, "house": 5e-4, "housing": 3e-5, "year": 1e-3, "yearing": 0.0}.get

    def lookup(word):
        return freq(word) or 0.0

    assert verbs._is_verb_by_ing("work", lookup)
    assert verbs._is_verb_by_ing("house", lookup)  # e-drop: housing
    assert not verbs._is_verb_by_ing("year", lookup)


def test_load_vocabulary_merges_case_variants_and_rejects_bad_lines(tmp_path):
    path = tmp_path / "vocab.tsv"
    path.write_text("the\t0.5\nThe\t0.1\nSea\t0.2\nsea\t0.1\n\n", encoding="utf8")
    assert load_vocabulary(path) == ["the", "Sea"]
    assert load_vocabulary(path, min_freq=0.35) == ["the"]
    path.write_text("the\t0.5\nbroken line\n", encoding="utf8")
    with pytest.raises(InvalidInputError, match="line 2"):
        load_vocabulary(path)
    bundled = load_vocabulary()
    assert bundled[:3] == [",", "the", "."] and 26000 < len(bundled) <= 26498


def test_static_vectors_word2vec_header_and_missing_words(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("2 3\nsea 1 0 0\nblue 0 1 0.5\n", encoding="utf8")
    vectors, found = load_static_vectors(path, ["Sea", "blue", "sky"])
    np.testing.assert_array_equal(found, [True, True, False])
    torch.testing.assert_close(vectors, torch.tensor([[1.0, 0, 0], [0, 1, 0.5], [0, 0, 0]]))


def test_word_vectors_average_sub_tokens_without_lone_space(tiny_models):
    tokenizer = tiny_models["llama"].tokenizer
    ids = word_token_ids(tokenizer, ["sea", "equilibria"])
    assert all(tokenizer.convert_ids_to_tokens(i)[0] != "▁" or len(i) == 1 for i in ids)
    embedding = torch.arange(len(tokenizer) * 2, dtype=torch.float32).reshape(-1, 2)
    torch.testing.assert_close(word_vectors(embedding, ids)[1], embedding[ids[1]].mean(0))
