"""Wu et al. (2023) global explanations of every layer of SmolLM2-135M-Instruct: seconds for the attention-head word
pairs and for the FFN concepts (+ lexicon labels), on this machine's CPU. Prints a Markdown table and examples.

Run: python benchmarks/internals.py [--model smollm2-135m-instruct] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from tuneshift.interpret import ffn, heads
from tuneshift.interpret.labelers import LexiconLabeler
from tuneshift.interpret.vocab import load_vocabulary
from tuneshift.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="hub id, directory, .gguf or catalog name")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    loaded = load_model(args.model)
    load_s = time.perf_counter() - start
    words = load_vocabulary()

    start = time.perf_counter()
    dims, pairs = heads.explain_heads(loaded, words)
    attention_s = time.perf_counter() - start
    start = time.perf_counter()
    components = ffn.explain_ffn(loaded, words, n_components=300)
    ffn_s = time.perf_counter() - start
    start = time.perf_counter()
    labelled = ffn.label_components(components, LexiconLabeler())
    label_s = time.perf_counter() - start

    n_layers, n_heads = loaded.n_layers, loaded.hf_model.config.num_attention_heads
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {args.threads}")
    print("| step | what | seconds |\n| --- | --- | --- |")
    print(f"| load | {loaded.name} → float32 | {load_s:.1f} |")
    print(f"| attention | {n_layers} layers × {n_heads} heads × {dims['dim'].nunique()} dims, "
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
