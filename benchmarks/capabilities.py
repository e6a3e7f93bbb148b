"""Capability numbers and speed on real models (issue 20): MMLU (0-shot, and k-shot with --shots), BBH answer-only,
WikiText-2 NWP loss, and MMLU questions/second with one forward pass per question vs one per option.

    nice -n 10 python benchmarks/capabilities.py smollm2-135m-instruct --mmlu /path/to/mmlu.jsonl --limit 10

Prints one JSON object per measurement (numbers, wall time); --limit N takes the first N items of every MMLU
subject / BBH task and the first N WikiText-2 articles (0 = all).
"""

from __future__ import annotations

import argparse
import json
import time

from tuneshift.benchmarks import BENCHMARKS
from tuneshift.benchmarks.options import build
from tuneshift.models import load_model


def timed(name: str, model, options: dict) -> dict:
    bench = BENCHMARKS.get(name)
    start, cpu_start = time.perf_counter(), time.process_time()
    # cache=False: every request computed (lm-eval's response cache would answer the per-option run from the first)
    result = bench.run(model, build(bench.options, options, benchmark=name), cache=False, progress=True)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    rows = result.scores[~result.scores["measure"].str.contains(":")]
    return {
        "benchmark": name,
        "options": options,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),  # the machine is shared: CPU seconds say more about cost than wall time
        "items_per_s": round(result.details["n_items"] / wall, 3),
        "items_per_cpu_s": round(result.details["n_items"] / cpu, 3),
        "forward_rows": result.details["forward_rows"],
        "scores": {row.measure: (round(row.raw, 4), int(row.n)) for row in rows.itertuples()},
        "predictions": "".join(result.values["prediction"].values) if name == "MMLU" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--mmlu", default="", help="mmlu.jsonl (default: the fetched file)")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--nwp-limit", type=int, default=4)
    parser.add_argument("--shots", type=int, default=0, help="also run MMLU k-shot")
    parser.add_argument("--speed-subjects", default="high_school_geography,marketing")
    parser.add_argument("--speed-limit", type=int, default=5)
    parser.add_argument("--max-gen-toks", type=int, default=32)
    parser.add_argument("--only", default="speed,mmlu,bbh,nwp", help="what to run, in this order")
    args = parser.parse_args()
    only = args.only.split(",")
    model = load_model(args.model)
    mmlu = {"data": args.mmlu, "limit": args.limit}
    speed = {**mmlu, "limit": args.speed_limit, "subjects": args.speed_subjects}
    plans = {
        "speed": [("MMLU", {**speed, "one_pass": True}), ("MMLU", {**speed, "one_pass": False})],
        "mmlu": [("MMLU", mmlu)] + ([("MMLU", {**mmlu, "num_fewshot": args.shots})] if args.shots else []),
        "bbh": [("BBH", {"limit": args.limit, "max_gen_toks": args.max_gen_toks})],
        "nwp": [("WikiText2-nwp", {"limit": args.nwp_limit})],
    }
    runs = [run for step in only for run in plans[step]]
    for name, options in runs:
        print(json.dumps({"model": args.model, **timed(name, model, options)}), flush=True)


if __name__ == "__main__":
    main()
