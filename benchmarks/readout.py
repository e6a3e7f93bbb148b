"""Readout speed: tuneshift's one-pass readout vs Brain-Score's per-prefix re-runs, same machine, one run.

Natural Stories (10 stories, 10,256 words) with SmolLM2-135M-Instruct on CPU, all 31 layers and surprisal. The
per-prefix reference is quadratic in story length, so both approaches are also timed on the same subset (the first
`--subset` words of each story) and compared per word there; the one-pass readout is then timed on the full corpus.
Each measurement runs in its own process so that peak RSS is its own.

    python benchmarks/readout.py [--subset 150] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def stories(subset: int | None) -> list[list[str]]:
    from tuneshift.data.naturalstories import load_naturalstories

    words = load_naturalstories()
    texts = [group["word"].tolist() for _, group in words.groupby("story", sort=True)]
    return [t[:subset] for t in texts] if subset else texts


def measure(part: str, subset: int | None, threads: int, out: Path) -> None:
    import torch

    from tuneshift.models import load_model
    from tuneshift.models.readout import read_out
    from tuneshift.models.reference import read_out_per_prefix

    torch.set_num_threads(threads)
    model = load_model("smollm2-135m-instruct")
    passages = stories(subset)
    start = time.perf_counter()
    if part == "reference":
        words, activations = read_out_per_prefix(model, passages)
    else:
        result = read_out(model, passages, cache=False, progress=False)
        words, activations = result.words, np.asarray(result.activations)
    seconds = time.perf_counter() - start
    np.save(out / f"{part}-{subset}.npy", activations)
    words.to_csv(out / f"{part}-{subset}.csv", index=False)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "words": len(words), "peak_rss_mb": peak_mb}))


def child(part: str, subset: int | None, threads: int, out: Path) -> dict:
    command = [sys.executable, __file__, "--child", part, "--threads", str(threads), "--dir", str(out)]
    command += ["--subset", str(subset or 0)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=150, help="words per story for the reference comparison")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=["fast", "reference"])
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    if args.child:
        measure(args.child, args.subset or None, args.threads, args.dir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        fast_subset = child("fast", args.subset, args.threads, out)
        reference = child("reference", args.subset, args.threads, out)
        fast_full = child("fast", None, args.threads, out)
        a, b = np.load(out / f"fast-{args.subset}.npy"), np.load(out / f"reference-{args.subset}.npy")
        import pandas as pd

        s_fast = pd.read_csv(out / f"fast-{args.subset}.csv")["surprisal_bits"].to_numpy()
        s_ref = pd.read_csv(out / f"reference-{args.subset}.csv")["surprisal_bits"].to_numpy()
    rate = {k: v["words"] / v["seconds"] for k, v in [("fs", fast_subset), ("ref", reference), ("ff", fast_full)]}
    print(f"SmolLM2-135M-Instruct, Natural Stories, all 31 layers + surprisal, {args.threads} threads\n")
    print("| approach | words | seconds | words/s | peak RSS (MB) | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [
        (f"per-prefix reference (first {args.subset} words/story)", reference, rate["ref"]),
        (f"tuneshift one pass (first {args.subset} words/story)", fast_subset, rate["fs"]),
        ("tuneshift one pass (all 10,256 words)", fast_full, rate["ff"]),
    ]
    for label, stats, words_per_s in rows:
        print(
            f"| {label} | {stats['words']} | {stats['seconds']:.1f} | {words_per_s:.0f} | "
            f"{stats['peak_rss_mb']:.0f} | {words_per_s / rate['ref']:.0f}x |"
        )
    print(f"\nmax |surprisal difference| (bits): {np.nanmax(np.abs(s_fast - s_ref)):.2e}")
    gap = np.abs(a - b).max()
    print(f"max |hidden-state difference|: {gap:.2e} (relative to max |h|: {gap / np.abs(b).max():.2e})")


if __name__ == "__main__":
    main()
