"""Tiny random models of each family (GPT-2, LLaMA with grouped-query attention, Gemma 3, T5) and tokenizers
trained here with the `tokenizers` library: no hub access. Session-scoped so the suite stays fast."""

from __future__ import annotations

import pytest
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

CORPUS = [
    "Write a short poem about the sea. The sea is blue and the waves are loud.",
    "Summarize the text below in one sentence.\nInput: The cat sat on the mat all day long.",
    "Translate the sentence into French. I like green apples and warm bread.",
    "Explain why the sky is blue, then give two examples. Light scatters in the air.",
    "Could you help me with this exercise? Find all equilibria in rock paper scissors.",
    'He said "hello" to everyone, and they answered with a smile.',
] * 4


def _train(style: str) -> transformers.PreTrainedTokenizerFast:
    """A small BPE tokenizer: 'bytelevel' (GPT-2 style, 'Ġ', no BOS) or 'metaspace' (sentencepiece style, '▁',
    BOS added, like LLaMA)."""
    tok = Tokenizer(models.BPE(unk_token=None if style == "bytelevel" else "<unk>", byte_fallback=False))
    specials = ["<s>", "</s>", "<pad>"] + (["<unk>"] if style == "metaspace" else [])
    if style == "bytelevel":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
        alphabet = sorted(set("".join(CORPUS)) | set("▁\n"))
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials, initial_alphabet=alphabet)
    tok.train_from_iterator(CORPUS, trainer)
    if style == "bytelevel":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
        )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>" if style == "metaspace" else None,
    )


@pytest.fixture(scope="session")
def tokenizers_by_style() -> dict[str, transformers.PreTrainedTokenizerFast]:
    return {style: _train(style) for style in ("bytelevel", "metaspace")}


def _build(family: str, tokenizer: transformers.PreTrainedTokenizerFast) -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    common = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    if family == "gpt2":
        cfg = transformers.GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=512, bos_token_id=0, **common)
        model = transformers.GPT2LMHeadModel(cfg)
    elif family == "llama":
        cfg = transformers.LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            bos_token_id=tokenizer.bos_token_id,
            **common,
        )
        model = transformers.LlamaForCausalLM(cfg)
    elif family == "gemma3":
        cfg = transformers.Gemma3TextConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=8,
            max_position_embeddings=512,
            sliding_window=16,
            bos_token_id=tokenizer.bos_token_id,
            **common,
        )
        model = transformers.Gemma3ForCausalLM(cfg)
    elif family == "t5":
        cfg = transformers.T5Config(
            d_model=32,
            d_ff=64,
            d_kv=8,
            num_layers=2,
            num_heads=4,
            decoder_start_token_id=tokenizer.pad_token_id,
            **common,
        )
        model = transformers.T5ForConditionalGeneration(cfg)
    else:
        raise ValueError(family)
    return model.float().eval()


TOKENIZER_OF = {"gpt2": "bytelevel", "llama": "metaspace", "gemma3": "metaspace", "t5": "bytelevel"}


@pytest.fixture(scope="session")
def tiny_models(tokenizers_by_style) -> dict[str, tuple[transformers.PreTrainedModel, object]]:
    """family -> (model, tokenizer)."""
    return {
        family: (_build(family, tokenizers_by_style[style]), tokenizers_by_style[style])
        for family, style in TOKENIZER_OF.items()
    }


@pytest.fixture(scope="session")
def saved_llama(tiny_models, tmp_path_factory):
    """The tiny LLaMA saved with save_pretrained, as a local model directory for the CLI."""
    model, tokenizer = tiny_models["llama"]
    path = tmp_path_factory.mktemp("tiny_llama")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
