"""Part names resolve from each family's ModuleMap to the same modules in every tiny family."""

from __future__ import annotations

import pytest

from tests._tiny import FAMILY_NAMES
from tuneshift.errors import InvalidParameterError
from tuneshift.graft.parts import part_map
from tuneshift.models.families import blocks_of, get_module


def _names(model, module) -> set[str]:
    ids = {id(p): n for n, p in model.named_parameters()}
    return {ids[id(p)] for p in module.parameters()}


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_parts_cover_the_model_once_and_hold_the_module_map_modules(tiny_models, family):
    loaded = tiny_models[family]
    model, fam = loaded.hf_model, loaded.family
    parts = part_map(model)
    assert parts.n_blocks == loaded.n_layers  # T5: encoder + decoder blocks, as the readout counts them
    assert sorted(parts.all) == sorted(name for name, _ in model.named_parameters())
    for i, block in enumerate(blocks_of(model)):
        attn, ffn, norm = (set(parts.resolve(f"{kind}:{i}")) for kind in ("attn", "ffn", "norm"))
        assert not (attn & ffn or attn & norm or ffn & norm)
        assert attn | ffn | norm == _names(model, block) == set(parts.resolve(f"block:{i}"))
        projection = get_module(block, fam.q or fam.qkv)
        assert _names(model, projection) <= attn
        assert _names(model, get_module(block, fam.attn_norm)) <= norm
        assert _names(model, get_module(block, fam.ffn_down)) <= ffn
    assert _names(model, model.get_input_embeddings()) <= set(parts.resolve("embed"))
    assert _names(model, model.get_output_embeddings()) == set(parts.resolve("head"))
    assert parts.tied_head == (model.get_output_embeddings().weight is model.get_input_embeddings().weight)
    final = set(parts.resolve("norm:final"))
    assert final and all("norm" in name or "ln_f" in name for name in final)
    everything = set(parts.resolve("embed,head,norm:final,block:*"))
    assert everything == set(parts.all)


@pytest.mark.parametrize("family", ["llama", "t5"])
def test_ranges_and_groups(tiny_models, family):
    parts = part_map(tiny_models[family].hf_model)
    n = parts.n_blocks
    per_block = [set(parts.resolve(f"attn:{i}")) for i in range(n)]
    assert set(parts.resolve("attn:*")) == set().union(*per_block)
    assert set(parts.resolve("ffn:0-1")) == set(parts.resolve(["ffn:0", "ffn:1"]))
    halves = set(parts.resolve("first-half")) | set(parts.resolve("second-half"))
    assert halves == set(parts.resolve("block:*"))
    assert set(parts.resolve("first-half")) == set(parts.resolve(f"block:0-{n // 2 - 1}"))
    assert parts.resolve([]) == ()
    if family == "t5":  # 2 encoder + 3 decoder blocks
        assert set(parts.resolve("decoder")) == set(parts.resolve("block:2-4"))


@pytest.mark.parametrize(
    ("part", "expected"),
    [("mlp:0", "block:I, attn:I"), ("block:2", "0..1"), ("attn:1-0", "0..1"), ("attn:-1", "block:I"), ("encoder", "")],
)
def test_unknown_part_lists_the_valid_forms(tiny_models, part, expected):
    with pytest.raises(InvalidParameterError, match="parts") as error:
        part_map(tiny_models["llama"].hf_model).resolve(part)
    assert expected in str(error.value) and repr(part) in str(error.value)
