"""Benchmark: Wu et al. attribution of a 300-token response, batched (forward / reverse mode) vs the paper's
per-token backward loop. Prints seconds, speed-up and max |difference|; writes a JSON line per model.

    python benchmarks/attribution.py [--response-tokens 300] [--smollm]

Models: a tiny-but-not-trivial random LLaMA (4 layers, hidden 256, 8 query / 2 key-value heads) with a BPE
tokenizer trained here; with --smollm, SmolLM2-135M-Instruct (hub, HF cache, or the catalog's GGUF).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tuneshift.interpret.attribution import attribute
from tuneshift.models.load import LoadedModel

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle. Keep it under 300 words."
TEXT = (
    "The lighthouse stood at the edge of the island, and every night the keeper climbed its stairs to light the "
    "lamp. One morning he found a green bottle on the rocks. Inside was a letter from a child who lived across "
    "the sea, asking whether anyone was listening. He wrote back, sealed the bottle, and threw it into the tide. "
)


def tiny_llama() -> LoadedModel:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator([PROMPT, TEXT] * 4, trainers.BpeTrainer(vocab_size=2000, special_tokens=["<s>", "</s>"]))
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    )
    hf_model = transformers.LlamaForCausalLM(config).float().eval()
    return LoadedModel(name="tiny-llama", hf_model=hf_model, tokenizer=tokenizer, source="memory")


def smollm() -> LoadedModel:
    from tuneshift.models import load_model

    return load_model("smollm2-135m-instruct")


def response_of(tokenizer, n_tokens: int) -> str:
    ids = tokenizer(" " + TEXT * 20, add_special_tokens=False)["input_ids"][:n_tokens]
    return tokenizer.decode(ids).strip()


MODES = {"forward": dict(mode="forward"), "reverse": dict(mode="reverse"), "loop": dict(batched=False)}


def run(name: str, model: LoadedModel, n_tokens: int, modes: list[str]) -> dict:
    response = response_of(model.tokenizer, n_tokens)
    timings, results = {}, {}
    for label in [*modes, "loop"]:
        start = time.perf_counter()
        results[label] = attribute(model, PROMPT, response, chunk_size=32, **MODES[label]).matrix
        timings[label] = time.perf_counter() - start
    reference = results["loop"]
    row = {
        "model": name,
        "prompt_tokens": reference.shape[0],
        "response_tokens": reference.shape[1],
        "threads": torch.get_num_threads(),
        **{f"{k}_s": round(v, 2) for k, v in timings.items()},
        **{f"speedup_{k}": round(timings["loop"] / timings[k], 1) for k in modes},
        **{f"max_abs_diff_{k}": float((results[k] - reference).abs().max()) for k in modes},
        "max_abs_value": float(reference.abs().max()),
    }
    print(json.dumps(row))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--response-tokens", type=int, default=300)
    parser.add_argument("--smollm", action="store_true", help="also SmolLM2-135M-Instruct (slow on CPU)")
    parser.add_argument("--modes", nargs="+", default=["forward", "reverse"], choices=["forward", "reverse"])
    args = parser.parse_args()
    run("tiny-llama-4L-256d-gqa", tiny_llama(), args.response_tokens, args.modes)
    if args.smollm:
        run("SmolLM2-135M-Instruct", smollm(), args.response_tokens, args.modes)


if __name__ == "__main__":
    main()
