"""Graft sweeps on a real model against its random-init control, timed per sweep.

    python benchmarks/graft.py [--model smollm2-135m-instruct] [--sweeps cumulative-bottom leave-one-in]
        [--group 3] [--always norm:final] [-b Tuckute2024-ridge -b Futrell2018-deltall] [--out DIR]

Base = the model's random-init control (seed 0), tuned = the trained model: the largest change available offline.
Each sweep's hybrids are scored into one results directory (resumable: rerun to continue), then the table
(graft.csv), figures and report.html are written there; the script prints each sweep's wall time and the share
table. --always keeps a part tuned in every hybrid (the final norm carries most of SmolLM2's reading-time fit).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from tuneshift.graft import GraftPair, run_sweeps, write_outputs
from tuneshift.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--sweeps", nargs="+", default=["cumulative-bottom", "leave-one-in"])
    parser.add_argument("--group", type=int, default=3, help="blocks per unit (3: every 3rd block)")
    parser.add_argument("--always", action="append", default=[], help="part kept tuned in every hybrid")
    parser.add_argument("-b", "--benchmark", action="append", dest="benchmarks")
    parser.add_argument("--out", default="graft-results")
    args = parser.parse_args()
    benchmarks = args.benchmarks or ["Tuckute2024-ridge", "Futrell2018-deltall"]

    started = time.perf_counter()
    base = load_model(args.model, random_init=True, seed=0)
    tuned = load_model(args.model)
    pair = GraftPair(base, tuned)
    print(f"loads: {time.perf_counter() - started:.1f} s")
    tables = []
    for sweep in args.sweeps:
        started = time.perf_counter()
        table = run_sweeps(pair, [sweep], benchmarks, args.out, group=args.group, always=args.always, progress=False)
        hybrids = len(table) // len(benchmarks)
        print(f"{sweep}: {time.perf_counter() - started:.1f} s wall ({hybrids} hybrids incl. ends)", flush=True)
        tables.append(table if not tables else table[table["sweep"] != "ends"])
        table = pd.concat(tables, ignore_index=True)
        write_outputs(table, args.out)  # after each sweep: a stopped run keeps the sweeps it finished
    shown = table.pivot_table(index=["sweep", "step", "part"], columns="benchmark", values=["score", "share"])
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(shown.round(4))


if __name__ == "__main__":
    main()
