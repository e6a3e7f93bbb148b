"""Benchmark: training throughput (tokens/s) and peak memory of LoRA vs full fine-tuning on the same model; and
the timings of a trajectory study's output folder.

    python benchmarks/tune.py [--model smollm2-135m-instruct] [--steps 8] [--batch-size 2] [--max-length 128]
    python benchmarks/tune.py --trajectory OUT    # tokens/s per run, seconds per checkpoint × benchmark

Each method runs in its own Python process (peak resident memory is a per-process high-water mark), on the
bundled Self-Instruct seed tasks, through `tuneshift.tune.tune`. Throughput counts the tokens of every training
sequence (prompt + response) per second of optimizer steps, the first step (allocations, warm-up) left out.
Prints one JSON line per method and a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run_one(model: str, method: str, steps: int, batch_size: int, max_length: int) -> dict:
    """Tune `model` for `steps` steps with `method` in this process; throughput and memory."""
    from tuneshift.tune import TuneOptions, tune

    with tempfile.TemporaryDirectory() as out:
        options = TuneOptions(method=method, max_steps=steps, batch_size=batch_size, max_length=max_length)
        result = tune(model, Path(out) / method, options=options, progress=False)
    steady = result.history.iloc[1:]
    seconds = (steady["tokens"] / steady["tokens_per_s"]).sum()
    return {
        "model": model,
        "method": method,
        "steps": steps,
        "batch_size": batch_size,
        "max_length": max_length,
        "trainable_parameters": result.record["trainable_parameters"],
        "tokens_per_s": float(steady["tokens"].sum() / seconds),
        "seconds_per_step": float(seconds / len(steady)),
        "peak_memory_mb": result.record["peak_memory_mb"],
        "final_loss": result.record["final_loss"],
    }


def trajectory_timings(out: Path) -> None:
    """Print what a trajectory run measured: per run, steps and training tokens/s (first step left out); per scored
    checkpoint, the load (base + adapter merge + fingerprint) and each benchmark's seconds."""
    import pandas as pd

    for loss in sorted(out.glob("runs/*/loss.csv")):
        steady = pd.read_csv(loss).iloc[1:]
        seconds = (steady["tokens"] / steady["tokens_per_s"]).sum()
        print(
            f"{loss.parent.name:<26} steps {len(steady) + 1:>4}  tokens/s {steady['tokens'].sum() / seconds:7.1f}  "
            f"s/step {seconds / max(len(steady), 1):6.1f}"
        )
    for path in sorted(out.glob("runs/*/scored/step-*.json")):
        record = json.loads(path.read_text())
        benches = ", ".join(f"{name} {v['seconds']:.0f} s" for name, v in record["benchmarks"].items())
        print(f"{record['run']:<26} step {record['step']:>4}: load {record['load_s']:.0f} s, {benches}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--worker", choices=["lora", "full"], help=argparse.SUPPRESS)
    parser.add_argument("--trajectory", type=Path, help="A trajectory study's output folder: print its timings.")
    args = parser.parse_args()
    if args.trajectory:
        trajectory_timings(args.trajectory)
        return
    if args.worker:
        print(json.dumps(run_one(args.model, args.worker, args.steps, args.batch_size, args.max_length)))
        return
    rows = []
    for method in ("lora", "full"):
        command = [sys.executable, __file__, "--worker", method, "--model", args.model, "--steps", str(args.steps)]
        command += ["--batch-size", str(args.batch_size), "--max-length", str(args.max_length)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
        print(output.strip().splitlines()[-1], flush=True)
    print(f"\n{'method':<6} {'trainable':>12} {'tokens/s':>9} {'s/step':>7} {'peak MB':>8}")
    for row in rows:
        print(
            f"{row['method']:<6} {row['trainable_parameters']:>12,} {row['tokens_per_s']:>9.0f} "
            f"{row['seconds_per_step']:>7.2f} {row['peak_memory_mb']:>8.0f}"
        )


if __name__ == "__main__":
    main()
