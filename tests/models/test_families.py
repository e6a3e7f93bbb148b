"""Model families are declared in one place: each supported family's ModuleMap facts match its real modules, and
a family added by one ModuleMap entry (StableLM: LayerNorm with bias, GQA, partial RoPE) reads out, attributes and
explains its heads and FFN with no other change."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from tests._tiny import FAMILY_NAMES, TINY, build, train_tokenizer
from tuneshift.interpret.attribution import attribute
from tuneshift.interpret.ffn import explain_ffn
from tuneshift.interpret.heads import explain_heads
from tuneshift.models.families import FAMILIES, LLAMA_LIKE, ModuleMap, blocks_of, get_module
from tuneshift.models.load import load_model
from tuneshift.models.readout import _logits, read_out
from tuneshift.models.reference import read_out_per_prefix
from tuneshift.models.weights import ffn_value_vectors, head_activations, norm_gain_and_shift, qk_weights

PASSAGES = [["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "."], ["Write", "a", "poem", "."]]
PROMPT, RESPONSE = "Write a short poem about the sea.", "The sea is blue and the waves are loud."
WORDS = "the sea is blue and waves are loud write a poem summarize text translate explain why sky light cat".split()


def test_every_supported_family_has_a_tiny_model():
    """Each registered family (by its name, e.g. "llama" for LlamaForCausalLM and Qwen2ForCausalLM) is tested."""
    assert {FAMILIES.get(name).family for name in FAMILIES} == set(FAMILY_NAMES)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_module_map_facts_match_the_real_model(tiny_models, name):
    """Layout, weight storage, norm, soft cap and encoder–decoder as declared, checked against the modules: the
    norm's output is x̂ · gain + shift, the logits are the soft-capped head output, the blocks split as the config."""
    model = tiny_models[name]
    family, hf, config = model.family, model.hf_model, model.hf_model.config
    layout, conv1d, norm_kind, softcap, encoder_decoder = TINY[name].facts
    assert (family.qkv_layout, family.conv1d, family.norm_kind) == (layout, conv1d, norm_kind)
    assert family.logit_softcap(config) == softcap == getattr(config, "final_logit_softcapping", None)
    assert family.is_encoder_decoder == model.is_encoder_decoder == encoder_decoder == config.is_encoder_decoder
    block = blocks_of(hf, family)[-1]
    projections = [family.qkv] if layout != "separate" else [family.q, family.k, family.v]
    for path in projections:
        module = get_module(block, path)
        assert (type(module).__name__ == "Conv1D") == conv1d
        width = module.weight.shape[0 if conv1d else 1]
        assert width == model.hidden_size  # input side: the residual stream
    if layout != "separate":  # fused: q, k and v of every head in one projection
        assert get_module(block, family.qkv).weight.shape[1 if conv1d else 0] == 3 * model.hidden_size
    assert get_module(block, family.ffn_down).weight.shape[0 if conv1d else 1] > model.hidden_size
    norm = get_module(block, family.attn_norm)
    x = torch.randn(5, model.hidden_size, generator=torch.Generator().manual_seed(0))
    if norm_kind == "layer":
        standard = torch.nn.functional.layer_norm(x, x.shape[-1:], eps=norm.eps)
    else:
        eps = getattr(norm, "eps", None) or norm.variance_epsilon
        standard = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    gain, shift = norm_gain_and_shift(block, family, config)
    with torch.no_grad():
        torch.testing.assert_close(norm(x), standard * gain + shift, atol=1e-5, rtol=1e-5)
    if encoder_decoder:
        assert (model.n_encoder_layers, model.n_layers) == (config.num_layers, config.num_layers + 3)
        return
    assert model.n_encoder_layers == model.n_layers == config.num_hidden_layers
    ids = model.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        hidden = hf.base_model(input_ids=ids).last_hidden_state
        torch.testing.assert_close(
            _logits(hf.get_output_embeddings(), hidden, softcap), hf(input_ids=ids).logits, atol=1e-5, rtol=1e-5
        )


@pytest.fixture
def stablelm_dir(tmp_path, monkeypatch):
    """A tiny StableLM saved to disk, its family declared by one ModuleMap entry (removed after the test)."""
    entry = ModuleMap(family="stablelm", norm_kind="layer", **LLAMA_LIKE)
    monkeypatch.setitem(FAMILIES._entries, "StableLmForCausalLM", entry)  # = FAMILIES.add(...), undone afterwards
    tokenizer = train_tokenizer("metaspace")
    config = transformers.StableLmConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=128, vocab_size=len(tokenizer),
    )  # fmt: skip
    model = build(config)
    with torch.no_grad():  # LayerNorm gains and shifts away from (1, 0), so that folding them is tested
        for name, param in model.named_parameters():
            if "layernorm" in name:
                param.add_(torch.randn_like(param) * 0.2)
    model.save_pretrained(tmp_path / "stablelm")
    tokenizer.save_pretrained(tmp_path / "stablelm")
    return tmp_path / "stablelm"


def test_a_family_added_by_one_module_map_entry_reads_out_attributes_and_explains(stablelm_dir):
    model = load_model(stablelm_dir)
    assert model.family.family == "stablelm" and model.n_layers == 2
    # readout: one pass equals the per-prefix reference (words with tokens of their own)
    fast = read_out(model, PASSAGES, cache=False, progress=False)
    words, reference = read_out_per_prefix(model, PASSAGES)
    own = fast.words["n_tokens"].to_numpy() > 0
    assert np.abs(fast.activations[:, own] - reference[:, own]).max() < 1e-4 * np.abs(reference).max()
    np.testing.assert_allclose(fast.words["surprisal_bits"][own], words["surprisal_bits"][own], rtol=1e-4, atol=1e-4)
    # attribution: batched forms equal the paper's loop
    loop = attribute(model, PROMPT, RESPONSE, batched=False)
    assert loop.matrix.shape == (len(loop.prompt_tokens), len(loop.response_tokens)) and loop.matrix.abs().max() > 0
    for mode in ("reverse", "forward"):
        torch.testing.assert_close(attribute(model, PROMPT, RESPONSE, mode=mode).matrix, loop.matrix, atol=1e-5, rtol=0)
    # heads: the folded maps give the model's own queries and keys (GQA keys repeated; RoPE comes after)
    block, captured = blocks_of(model.hf_model)[1], {}
    norm = get_module(block, "input_layernorm")
    hooks = [norm.register_forward_pre_hook(lambda m, a: captured.update(x=a[0][0]))]
    hooks += [
        get_module(block, path).register_forward_hook(lambda m, a, o, path=path: captured.update({path: o[0]}))
        for path in ("self_attn.q_proj", "self_attn.k_proj")
    ]
    with torch.no_grad():
        model.hf_model(**model.tokenizer(PROMPT, return_tensors="pt"))
    for hook in hooks:
        hook.remove()
    normed = torch.nn.functional.layer_norm(captured["x"], (model.hidden_size,), eps=norm.eps)
    hq, hk = head_activations(qk_weights(model, [1]), 0, normed, bias=True)
    tokens = normed.shape[0]
    queries = captured["self_attn.q_proj"].view(tokens, 4, 8).transpose(0, 1)
    torch.testing.assert_close(hq, queries, atol=1e-5, rtol=1e-4)
    keys = captured["self_attn.k_proj"].view(tokens, 2, 8).transpose(0, 1).repeat_interleave(2, dim=0)
    torch.testing.assert_close(hk, keys, atol=1e-5, rtol=1e-4)
    dims, _ = explain_heads(model, WORDS, top_k=5, n_baseline=10)
    assert len(dims) == 2 * 4 * 8 and set(dims["layer"]) == {1, 2}
    # FFN: value vectors are what each neuron writes; concepts for every layer
    down = get_module(blocks_of(model.hf_model)[0], "mlp.down_proj")
    activation = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(down(activation), activation @ ffn_value_vectors(model, 0), atol=1e-5, rtol=1e-5)
    concepts = explain_ffn(model, WORDS, n_components=4, top_k=3)
    assert len(concepts) == 2 * 4 and concepts["share"].between(0, 1).all()
