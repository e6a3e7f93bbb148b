"""Where each architecture keeps its parts: real Hugging Face module paths, nothing reimplemented.

A :class:`ModuleMap` names, per family, the module paths that the readout hooks (blocks) and that the
interpretation tools read weights from (attention projections, input norms, FFN down-projection). Paths are
relative to the loaded ``*ForCausalLM`` / ``*ForConditionalGeneration`` model and, for per-block parts, relative to
one block. Families are registered under the Hugging Face architecture class names (``config.architectures``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from tuneshift._registry import Registry

QKVLayout = Literal["separate", "gpt2_conv1d", "neox_interleaved"]
NormKind = Literal["layer", "rms", "rms_plus_one"]


@dataclass(frozen=True)
class ModuleMap:
    """Module paths of one architecture family.

    blocks: path of the ModuleList of transformer blocks (decoder-only), or of the encoder blocks (T5).
    decoder_blocks: T5's decoder blocks; their layer indices continue after the encoder's.
    attn_norm: per-block norm applied to the attention input (its gain is folded into W_q, W_k).
    q, k, v: per-block query/key/value projections (`qkv` when fused, with `qkv_layout`).
    ffn_down: per-block FFN down-projection (rows of its intermediate side are the "FFN value vectors").
    norm_kind: "rms_plus_one" for Gemma's RMSNorm, whose effective gain is (1 + weight).
    """

    family: str
    blocks: str
    attn_norm: str
    ffn_down: str
    q: str = ""
    k: str = ""
    v: str = ""
    qkv: str = ""
    qkv_layout: QKVLayout = "separate"
    norm_kind: NormKind = "rms"
    decoder_blocks: str = ""

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(self.decoder_blocks)


FAMILIES: Registry[ModuleMap] = Registry("model family")

_LLAMA_LIKE = dict(
    blocks="model.layers",
    attn_norm="input_layernorm",
    q="self_attn.q_proj",
    k="self_attn.k_proj",
    v="self_attn.v_proj",
    ffn_down="mlp.down_proj",
)

for _arch in ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM"):
    FAMILIES.add(_arch, ModuleMap(family="llama", **_LLAMA_LIKE))
for _arch in ("GemmaForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM"):
    FAMILIES.add(_arch, ModuleMap(family="gemma", norm_kind="rms_plus_one", **_LLAMA_LIKE))
FAMILIES.add(
    "GPT2LMHeadModel",
    ModuleMap(
        family="gpt2",
        blocks="transformer.h",
        attn_norm="ln_1",
        qkv="attn.c_attn",
        qkv_layout="gpt2_conv1d",
        ffn_down="mlp.c_proj",
        norm_kind="layer",
    ),
)
FAMILIES.add(
    "GPTNeoXForCausalLM",
    ModuleMap(
        family="gpt_neox",
        blocks="gpt_neox.layers",
        attn_norm="input_layernorm",
        qkv="attention.query_key_value",
        qkv_layout="neox_interleaved",
        ffn_down="mlp.dense_4h_to_h",
        norm_kind="layer",
    ),
)
FAMILIES.add(
    "OPTForCausalLM",
    ModuleMap(
        family="opt",
        blocks="model.decoder.layers",
        attn_norm="self_attn_layer_norm",
        q="self_attn.q_proj",
        k="self_attn.k_proj",
        v="self_attn.v_proj",
        ffn_down="fc2",
        norm_kind="layer",
    ),
)
FAMILIES.add(
    "T5ForConditionalGeneration",
    ModuleMap(
        family="t5",
        blocks="encoder.block",
        decoder_blocks="decoder.block",
        attn_norm="layer.0.layer_norm",
        q="layer.0.SelfAttention.q",
        k="layer.0.SelfAttention.k",
        v="layer.0.SelfAttention.v",
        ffn_down="layer.-1.DenseReluDense.wo",
        norm_kind="rms",
    ),
)


def family_of(model: torch.nn.Module) -> ModuleMap:
    """The ModuleMap of a loaded Hugging Face model, looked up by its class name."""
    return FAMILIES.get(type(model).__name__)


def get_module(root: torch.nn.Module, path: str) -> torch.nn.Module:
    """Resolve a dotted path such as ``model.layers`` or ``layer.-1.DenseReluDense.wo`` (negative indices allowed)."""
    module = root
    for part in path.split("."):
        module = module[int(part)] if part.lstrip("-").isdigit() else getattr(module, part)
    return module


def blocks_of(model: torch.nn.Module, family: ModuleMap | None = None) -> list[torch.nn.Module]:
    """All blocks in layer order: decoder-only blocks, or T5's encoder blocks followed by its decoder blocks."""
    family = family or family_of(model)
    blocks = list(get_module(model, family.blocks))
    if family.decoder_blocks:
        blocks += list(get_module(model, family.decoder_blocks))
    return blocks
