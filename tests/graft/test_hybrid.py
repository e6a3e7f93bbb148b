"""Hybrids: the ends are the base and the tuned model bit for bit, the base is restored exactly, grafts touch only
their parts, and mismatched pairs are refused by name."""

from __future__ import annotations

import json

import pytest
import torch

from tests._tiny import FAMILY_NAMES, TINY, build, load_tiny
from tests.graft.conftest import tuned_copy
from tuneshift.errors import InvalidInputError, InvalidParameterError
from tuneshift.graft import GraftPair
from tuneshift.models.load import LoadedModel, load_model

IDS = torch.tensor([[5, 17, 42, 8, 99, 23, 4]])


def logits(model: LoadedModel) -> torch.Tensor:
    extra = {"decoder_input_ids": IDS} if model.is_encoder_decoder else {}
    with torch.no_grad():
        return model.hf_model(IDS, **extra).logits


def fresh_fingerprint(model: LoadedModel) -> str:
    """The fingerprint recomputed from the weights now (the property caches its first value)."""
    return LoadedModel.fingerprint.func(model)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_ends_equal_base_and_tuned_bit_for_bit_and_base_is_restored(tiny_model_dirs, family):
    base, tuned = load_tiny(tiny_model_dirs[family]), tuned_copy(tiny_model_dirs[family])
    before = {name: t.clone() for name, t in base.hf_model.state_dict().items()}
    base_logits, tuned_logits = logits(base), logits(tuned)
    assert not torch.equal(base_logits, tuned_logits)
    pair = GraftPair(base, tuned)
    reverse = {"direction": "reverse"}
    ends = {
        "base": [pair.graft([]), pair.graft("all", alpha=0.0), pair.graft("all", **reverse)],
        "tuned": [pair.graft("all"), pair.graft([], **reverse), pair.graft("all", alpha=0.0, **reverse)],
    }
    for end, expected, fingerprint in (
        ("base", base_logits, base.fingerprint),
        ("tuned", tuned_logits, tuned.fingerprint),
    ):
        for graft in ends[end]:
            with graft:
                assert torch.equal(logits(base), expected), (end, graft.name)
            assert graft.fingerprint == fingerprint
    with pair.graft("all", alpha=0.5):
        half = logits(base)
        params = dict(base.hf_model.named_parameters())
        name = pair.parts.resolve("ffn:0")[0]
        assert torch.equal(params[name], torch.lerp(before[name], pair.tuned[name], 0.5))
    assert not torch.equal(half, base_logits) and not torch.equal(half, tuned_logits)
    after = base.hf_model.state_dict()
    assert all(torch.equal(after[name], value) for name, value in before.items())
    assert fresh_fingerprint(base) == base.fingerprint
    assert torch.equal(logits(base), base_logits)


def test_hybrid_fingerprints_are_distinct_and_stable(make_pair):
    pair = make_pair("llama")
    grafts = [pair.graft("attn:0"), pair.graft("ffn:0"), pair.graft("attn:0", alpha=0.5)]
    grafts.append(pair.graft("attn:0", direction="reverse"))
    prints = [g.fingerprint for g in grafts]
    assert len(set(prints) | {pair.base.fingerprint, pair.tuned_fingerprint}) == len(prints) + 2
    assert pair.graft("block:0-1").fingerprint == pair.graft("block:0,block:1").fingerprint  # same weights, one key
    assert pair.graft("attn:0")._model.fingerprint == prints[0]  # the readout's cache keys on the hybrid


def test_restored_after_an_error(make_pair):
    pair = make_pair("gemma")
    before = {name: t.clone() for name, t in pair.base.hf_model.state_dict().items()}
    with pytest.raises(RuntimeError, match="inside"), pair.graft("second-half", alpha=0.3):
        raise RuntimeError("inside the hybrid")
    assert all(torch.equal(pair.base.hf_model.state_dict()[n], t) for n, t in before.items())
    outer = pair.graft("attn:0")
    with outer, outer:  # re-entrant: restored once, on the outer exit
        pass
    with outer, pytest.raises(InvalidParameterError, match="one hybrid at a time"), pair.graft("ffn:0"):
        pass
    assert all(torch.equal(pair.base.hf_model.state_dict()[n], t) for n, t in before.items())


def test_gpt2_fused_qkv_attention_graft_touches_only_attention(make_pair):
    pair = make_pair("gpt2")
    base = pair.base
    before = {name: p.detach().clone() for name, p in base.hf_model.named_parameters()}
    hidden_before = base.hf_model(IDS, output_hidden_states=True).hidden_states
    with pair.graft("attn:1"):
        changed = {n for n, p in base.hf_model.named_parameters() if not torch.equal(p, before[n])}
        hidden = base.hf_model(IDS, output_hidden_states=True).hidden_states
        fused = dict(base.hf_model.named_parameters())["transformer.h.1.attn.c_attn.weight"]
        assert torch.equal(fused, pair.tuned["transformer.h.1.attn.c_attn.weight"])  # q, k and v columns alike
    assert changed == {
        "transformer.h.1.attn.c_attn.weight", "transformer.h.1.attn.c_attn.bias",
        "transformer.h.1.attn.c_proj.weight", "transformer.h.1.attn.c_proj.bias",
    }  # fmt: skip
    assert torch.equal(hidden[1], hidden_before[1])  # block 0's output: untouched
    assert not torch.equal(hidden[2], hidden_before[2])


def test_mismatched_pairs_are_refused_by_name(tiny_model_dirs, tmp_path):
    llama = load_tiny(tiny_model_dirs["llama"])
    with pytest.raises(InvalidInputError, match=r"other architectures \(LlamaForCausalLM vs GPT2LMHeadModel\)"):
        GraftPair(llama, load_tiny(tiny_model_dirs["gpt2"]))
    wider = TINY["llama"].config(llama.vocab_size)
    wider.intermediate_size = 48
    build(wider).save_pretrained(tmp_path / "wider")
    llama.tokenizer.save_pretrained(tmp_path / "wider")
    with pytest.raises(InvalidInputError, match=r"other shapes \(model.layers.0.mlp.gate_proj.weight \(64, 32\) vs"):
        GraftPair(llama, load_model(tmp_path / "wider"))
    with pytest.raises(InvalidInputError, match="other dtypes"):
        GraftPair(llama, load_model(tiny_model_dirs["llama"], dtype="bfloat16"))
    other_eps = tuned_copy(tiny_model_dirs["llama"])
    other_eps.hf_model.config.rms_norm_eps = 1e-2
    with pytest.raises(InvalidInputError, match=r"configs that change the numbers differ \(rms_norm_eps: "):
        GraftPair(llama, other_eps)
    other_tokenizer = tuned_copy(tiny_model_dirs["llama"])
    other_tokenizer.tokenizer.add_tokens(["zqxj"])  # same weights' shapes, text read otherwise
    with pytest.raises(InvalidInputError, match="other tokenizers"):
        GraftPair(llama, other_tokenizer)
    with pytest.raises(InvalidInputError, match="same weights"):
        GraftPair(llama, load_tiny(tiny_model_dirs["llama"]))
    with pytest.raises(InvalidParameterError, match="alpha"):
        GraftPair(llama, tuned_copy(tiny_model_dirs["llama"])).graft("all", alpha=1.5)


def test_a_tune_output_directory_is_a_tuned_model(tiny_model_dirs, tmp_path):
    """`tuneshift tune` writes the merged weights with save_pretrained and tuneshift-tune.json: loaded like any model,
    its record names the base it was tuned from."""
    base, tuned = load_tiny(tiny_model_dirs["gemma"]), tuned_copy(tiny_model_dirs["gemma"])
    tuned.hf_model.save_pretrained(tmp_path)
    tuned.tokenizer.save_pretrained(tmp_path)
    (tmp_path / "tuneshift-tune.json").write_text(json.dumps({"base_fingerprint": base.fingerprint}))
    pair = GraftPair(base, load_model(tmp_path))
    assert pair.describe()["tuned_from"] == base.fingerprint
    assert pair.tuned_fingerprint == tuned.fingerprint
    with pair.graft("all"):
        assert torch.equal(logits(base), logits(tuned))
