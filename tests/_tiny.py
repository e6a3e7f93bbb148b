"""The one factory of tiny test models: a small config for every supported family, one tokenizer trainer, and
:func:`load_tiny`. Random seeded weights, tokenizers trained here: no hub access. The root conftest turns these into
session fixtures (``tiny_model_dirs``, ``tiny_models``); adding a family is one entry in :data:`TINY`."""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from tuneshift.models.load import LoadedModel, load_model

CORPUS = [
    "If you were to journey to the North of England, you would come to a valley that is surrounded by moors.",
    "The quick brown fox jumps over the lazy dog; the dog sleeps on!",
    "Taste that fowl and those fish. All sorts of treasure there too: gold, silver, and jewels?",
    "Instruction tuning changes how a language model processes text, and what its attention heads encode.",
    "Résumé naïve café — ünïcödé words and numbers like 3.14 or 2024 appear here.",
]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]  # ids 0, 1, 2, 3 in every tiny tokenizer


class Facts(NamedTuple):
    """What a family's ModuleMap must state about its tiny model (tests/models/test_families.py checks them)."""

    qkv_layout: str
    conv1d: bool
    norm_kind: str
    softcap: float | None
    encoder_decoder: bool


@dataclass(frozen=True)
class Tiny:
    """One family's tiny test model. style: tokenizer (:func:`train_tokenizer`); config: vocabulary size → config
    (2 blocks, T5: 2 encoder + 3 decoder; width 32; 4 heads); facts: its ModuleMap facts."""

    style: str
    config: Callable[[int], transformers.PretrainedConfig]
    facts: Facts


SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
#: Every supported family; adding one is one entry here (and its ModuleMap in tuneshift.models.families).
TINY: dict[str, Tiny] = {
    "gpt2": Tiny(
        "bytelevel",
        lambda vocab: transformers.GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=128),
        Facts("gpt2_conv1d", True, "layer", None, False),
    ),
    "llama": Tiny(  # grouped-query attention: 2 key heads for 4 query heads
        "metaspace",
        lambda vocab: transformers.LlamaConfig(
            vocab_size=vocab, **SMALL, num_key_value_heads=2, max_position_embeddings=128
        ),
        Facts("separate", False, "rms", None, False),
    ),
    "gemma": Tiny(  # per-head q/k norms, (1 + weight) norms, soft-capped logits
        "metaspace",
        lambda vocab: transformers.Gemma3TextConfig(
            vocab_size=vocab,
            **SMALL,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=128,
            sliding_window=16,
            final_logit_softcapping=30.0,
        ),
        Facts("separate", False, "rms_plus_one", 30.0, False),
    ),
    "gpt_neox": Tiny(
        "bytelevel",
        lambda vocab: transformers.GPTNeoXConfig(vocab_size=vocab, **SMALL, max_position_embeddings=128),
        Facts("neox_interleaved", False, "layer", None, False),
    ),
    "opt": Tiny(
        "bytelevel",
        lambda vocab: transformers.OPTConfig(
            vocab_size=vocab,
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=128,
            word_embed_proj_dim=32,
        ),
        Facts("separate", False, "layer", None, False),
    ),
    "t5": Tiny(
        "metaspace",
        lambda vocab: transformers.T5Config(
            vocab_size=vocab,
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_decoder_layers=3,
            num_heads=4,
            decoder_start_token_id=0,
            pad_token_id=0,
            eos_token_id=2,
        ),
        Facts("separate", False, "rms", None, True),
    ),
}
FAMILY_NAMES = list(TINY)
CAUSAL_FAMILIES = [name for name in FAMILY_NAMES if not TINY[name].facts.encoder_decoder]


def train_tokenizer(style: str) -> transformers.PreTrainedTokenizerFast:
    """A small BPE tokenizer trained on CORPUS: "bytelevel" (GPT-2 style, "Ġ"; 300 tokens) or "metaspace"
    (sentencepiece style, "▁"; 300 tokens learnt from CORPUS, plus any printable ASCII character it lacks)."""
    if style == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=False))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        alphabet = sorted(set(string.ascii_letters + string.digits + string.punctuation) - set("".join(CORPUS)))
    extra = 0 if style == "bytelevel" else len(alphabet)  # the same merges as without the extra characters
    trainer = trainers.BpeTrainer(vocab_size=300 + extra, special_tokens=SPECIALS, initial_alphabet=alphabet)
    tok.train_from_iterator(CORPUS * 3, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def build(cfg: transformers.PretrainedConfig) -> transformers.PreTrainedModel:
    """Seeded random weights for `cfg`; norms drawn around their init so that folded gains are not all 1."""
    auto = transformers.AutoModelForSeq2SeqLM if cfg.is_encoder_decoder else transformers.AutoModelForCausalLM
    torch.manual_seed(0)
    model = auto.from_config(cfg)
    if cfg.model_type.startswith("gemma"):  # random Gemma norms start at 0 (gain 1 + 0): give them some spread
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "norm" in name:
                    param.normal_(0, 0.2)
    return model.float().eval()


def save_tiny(root: Path, families: list[str] = FAMILY_NAMES) -> dict[str, Path]:
    """family → directory (model and tokenizer, ``save_pretrained``) under `root`."""
    tokenizers = {style: train_tokenizer(style) for style in {TINY[family].style for family in families}}
    dirs = {}
    for family in families:
        tokenizer = tokenizers[TINY[family].style]
        dirs[family] = root / family
        build(TINY[family].config(len(tokenizer))).save_pretrained(dirs[family])
        tokenizer.save_pretrained(dirs[family])
    return dirs


def load_tiny(directory: Path, *, eager: bool = False) -> LoadedModel:
    """A fresh load of a saved tiny model; `eager` switches to the eager attention kernel (attention weights)."""
    model = load_model(directory)
    if eager:
        model.hf_model.set_attn_implementation("eager")
    return model
