"""The one factory of tiny test models: a small config for every supported family, one tokenizer trainer, and
:func:`load_tiny`. Random seeded weights, tokenizers trained here: no hub access. The root conftest turns these into
session fixtures (``tiny_model_dirs``, ``tiny_models``); adding a family is one entry in :data:`CONFIGS`."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from tuneshift.models.load import LoadedModel, load_model

CORPUS = [
    "If you were to journey to the North of England, you would come to a valley that is surrounded by moors.",
    "The quick brown fox jumps over the lazy dog; the dog sleeps on!",
    "Taste that fowl and those fish. All sorts of treasure there too: gold, silver, and jewels?",
    "Instruction tuning changes how a language model processes text, and what its attention heads encode.",
    "Résumé naïve café — ünïcödé words and numbers like 3.14 or 2024 appear here.",
]
#: Instructions and answers, so that prompt words of the interpretation tests get tokens of their own.
PROMPTS = [
    "Write a short poem about the sea. The sea is blue and the waves are loud.",
    "Summarize the text below in one sentence.\nInput: The cat sat on the mat all day long.",
    "Translate the sentence into French. I like green apples and warm bread.",
    "Explain why the sky is blue, then give two examples. Light scatters in the air.",
    "Could you help me with this exercise? Find all equilibria in rock paper scissors.",
    'He said "hello" to everyone, and they answered with a smile.',
]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
#: Tokenizer style per family: GPT-2-like byte-level BPE ("Ġ", no BOS) or sentencepiece-like ("▁", BOS added).
STYLE = {"gpt2": "bytelevel", "llama": "metaspace", "gemma": "metaspace", "gpt_neox": "bytelevel",
         "opt": "bytelevel", "t5": "metaspace"}  # fmt: skip
FAMILY_NAMES = list(STYLE)
CAUSAL_FAMILIES = [name for name in FAMILY_NAMES if name != "t5"]


def train_tokenizer(style: str) -> transformers.PreTrainedTokenizerFast:
    """A small BPE tokenizer (300 tokens) of `style` ("bytelevel" or "metaspace") trained on CORPUS + PROMPTS."""
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
        alphabet = sorted(set("".join(CORPUS + PROMPTS)) | {"▁", "\n"})
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS, initial_alphabet=alphabet)
    tok.train_from_iterator((CORPUS + PROMPTS) * 3, trainer)
    if style == "bytelevel":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
        )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def config(family: str, tokenizer: transformers.PreTrainedTokenizerFast) -> transformers.PretrainedConfig:
    """The tiny config of `family` for `tokenizer`: 2 blocks (T5: 2 encoder + 3 decoder), width 32, 4 heads."""
    ids = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, **ids)
    positions = dict(max_position_embeddings=128, bos_token_id=tokenizer.bos_token_id)
    if family == "gpt2":
        return transformers.GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=128, **ids)
    if family == "llama":  # grouped-query attention: 2 key heads for 4 query heads
        return transformers.LlamaConfig(**small, num_key_value_heads=2, **positions)
    if family == "gemma":  # per-head q/k norms, (1 + weight) norms, soft-capped logits
        return transformers.Gemma3TextConfig(
            **small, num_key_value_heads=2, head_dim=8, sliding_window=16, final_logit_softcapping=30.0, **positions
        )
    if family == "gpt_neox":
        return transformers.GPTNeoXConfig(**small, **positions)
    if family == "opt":
        return transformers.OPTConfig(
            hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4, word_embed_proj_dim=32,
            **positions, **ids,
        )  # fmt: skip
    if family == "t5":
        return transformers.T5Config(
            d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=3, num_heads=4,
            decoder_start_token_id=tokenizer.pad_token_id, **ids,
        )  # fmt: skip
    raise KeyError(family)


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
    tokenizers = {style: train_tokenizer(style) for style in set(STYLE.values())}
    dirs = {}
    for family in families:
        tokenizer = tokenizers[STYLE[family]]
        dirs[family] = root / family
        build(config(family, tokenizer)).save_pretrained(dirs[family])
        tokenizer.save_pretrained(dirs[family])
    return dirs


def load_tiny(directory: Path, *, eager: bool = False) -> LoadedModel:
    """A fresh load of a saved tiny model; `eager` switches to the eager attention kernel (attention weights)."""
    model = load_model(directory)
    if eager:
        model.hf_model.set_attn_implementation("eager")
    return model
