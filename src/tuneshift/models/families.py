"""Where each architecture keeps its parts, and how: the one place that knows model families.

A :class:`ModuleMap` names, per family, the module paths that the readout hooks (blocks) and that the
interpretation tools read weights from (attention projections, input norms, FFN down-projection), and the facts
those tools need about them: how the query/key/value weights are laid out, which norm precedes attention and
how its gain is stored, whether the logits are soft-capped, and whether the model is an encoder–decoder. Paths are
relative to the loaded ``*ForCausalLM`` / ``*ForConditionalGeneration`` model and, for per-block parts, relative to
one block. Families are registered under the Hugging Face architecture class names (``config.architectures``);
adding a family is one :class:`ModuleMap` entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import transformers

from tuneshift._registry import Registry

#: "separate": q, k, v projections; "gpt2_conv1d": one fused projection, outputs [q | k | v];
#: "neox_interleaved": one fused projection, outputs per head [q_h | k_h | v_h].
QKVLayout = Literal["separate", "gpt2_conv1d", "neox_interleaved"]
#: "layer": LayerNorm (gain, shift); "rms": RMSNorm (gain); "rms_plus_one": Gemma's RMSNorm, gain 1 + weight.
NormKind = Literal["layer", "rms", "rms_plus_one"]


@dataclass(frozen=True)
class ModuleMap:
    """Module paths and layout facts of one architecture family.

    blocks: path of the ModuleList of transformer blocks (decoder-only), or of the encoder blocks (T5).
    decoder_blocks: an encoder–decoder's decoder blocks; their layer indices continue after the encoder's.
    attn_norm: per-block norm applied to the attention input (its gain is folded into W_q, W_k), of `norm_kind`.
    norm_first_flag: config field that, when false, puts `attn_norm` after attention instead (OPT-350m's
        ``do_layer_norm_before``); empty when the norm always comes first.
    q, k, v: per-block query/key/value projections, or `qkv` when fused, laid out as `qkv_layout`.
    q_norm, k_norm: per-head query/key norms (Gemma 3, Qwen 3), where a block has them.
    ffn_down: per-block FFN down-projection (rows of its intermediate side are the "FFN value vectors").
    conv1d: projections are GPT-2 ``Conv1D`` (weight stored in × out) rather than ``nn.Linear`` (out × in).
    softcap_field: config field of the final-logit soft cap (logits = cap · tanh(logits / cap)); empty if none.
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
    q_norm: str = ""
    k_norm: str = ""
    norm_kind: NormKind = "rms"
    norm_first_flag: str = ""
    conv1d: bool = False
    softcap_field: str = ""
    decoder_blocks: str = ""

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(self.decoder_blocks)

    def norm_first(self, config: transformers.PretrainedConfig) -> bool:
        """Whether `attn_norm` normalises the attention input (False: it follows attention, nothing to fold)."""
        return bool(getattr(config, self.norm_first_flag, True)) if self.norm_first_flag else True

    def logit_softcap(self, config: transformers.PretrainedConfig) -> float | None:
        """The final-logit soft cap of this model's config, or None."""
        value = getattr(text_config(config), self.softcap_field, None) if self.softcap_field else None
        return float(value) if value else None


def text_config(config: transformers.PretrainedConfig) -> transformers.PretrainedConfig:
    """The language model's own config (multimodal configs nest it)."""
    return config.get_text_config() if hasattr(config, "get_text_config") else config


FAMILIES: Registry[ModuleMap] = Registry("model family")

LLAMA_LIKE = dict(
    blocks="model.layers",
    attn_norm="input_layernorm",
    q="self_attn.q_proj",
    k="self_attn.k_proj",
    v="self_attn.v_proj",
    q_norm="self_attn.q_norm",
    k_norm="self_attn.k_norm",
    ffn_down="mlp.down_proj",
)

for _arch in ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM"):
    FAMILIES.add(_arch, ModuleMap(family="llama", **LLAMA_LIKE))
FAMILIES.add("GemmaForCausalLM", ModuleMap(family="gemma", norm_kind="rms_plus_one", **LLAMA_LIKE))
for _arch in ("Gemma2ForCausalLM", "Gemma3ForCausalLM"):
    FAMILIES.add(
        _arch,
        ModuleMap(family="gemma", norm_kind="rms_plus_one", softcap_field="final_logit_softcapping", **LLAMA_LIKE),
    )
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
        conv1d=True,
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
        norm_first_flag="do_layer_norm_before",
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


def find_module(root: torch.nn.Module, path: str) -> torch.nn.Module | None:
    """:func:`get_module`, or None where the path is empty or the module is absent (optional parts)."""
    try:
        return get_module(root, path) if path else None
    except (AttributeError, IndexError):
        return None


def blocks_of(model: torch.nn.Module, family: ModuleMap | None = None) -> list[torch.nn.Module]:
    """All blocks in layer order: decoder-only blocks, or T5's encoder blocks followed by its decoder blocks."""
    family = family or family_of(model)
    blocks = list(get_module(model, family.blocks))
    if family.decoder_blocks:
        blocks += list(get_module(model, family.decoder_blocks))
    return blocks
