"""Cost of keeping results as per-unit files (tuneshift.benchmarks.store) against rewriting one table per result.

Both write after every finished (model, benchmark): the store writes the unit file, then re-assembles scores.csv
and summary.json from every unit under a file lock; the old runner rewrote both tables from its in-memory copy
(and lost other writers' rows). Units are synthetic, 31 layer rows each (a 30-block model), so the numbers are the
bookkeeping alone. Prints one table: milliseconds per save as the folder fills, and the ratio.

    python benchmarks/results_store.py [--units 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift._io import write_csv, write_json
from tuneshift.benchmarks.store import ResultStore, new_unit


def _rows(model: str, benchmark: str, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {"model": model, "benchmark": benchmark, "layer": np.arange(31), "raw": rng.random(31), "ceiling": np.nan,
         "normalized": np.nan}
    )  # fmt: skip


def main(n_units: int) -> None:
    rng = np.random.default_rng(0)
    checkpoints = sorted({1, 10, 50, n_units})
    store_ms, table_ms = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(Path(tmp) / "store")
        table, summary = pd.DataFrame(), {}
        for i in range(1, n_units + 1):
            model, benchmark = f"model-{i // 5}", f"bench-{i % 5}"
            rows = _rows(model, benchmark, rng)
            unit = new_unit(f"{i:016x}", model, benchmark, rows, {"best_raw": float(rows["raw"].max())},
                            benchmark_id=benchmark, fingerprint=f"{i:016x}")  # fmt: skip
            start = time.perf_counter()
            store.save(unit)
            store_ms[i] = 1000 * (time.perf_counter() - start)
            start = time.perf_counter()
            table = pd.concat([table, rows], ignore_index=True)
            summary.setdefault(model, {})[benchmark] = {"best_raw": float(rows["raw"].max())}
            write_csv(Path(tmp) / "scores.csv", table)
            write_json(Path(tmp) / "summary.json", summary)
            table_ms[i] = 1000 * (time.perf_counter() - start)
    print(f"{'units in folder':>16} {'store save (ms)':>16} {'one table (ms)':>15} {'ratio':>6}")
    for n in checkpoints:
        print(f"{n:>16} {store_ms[n]:>16.1f} {table_ms[n]:>15.1f} {store_ms[n] / table_ms[n]:>6.1f}")
    total_store, total_table = sum(store_ms.values()) / 1000, sum(table_ms.values()) / 1000
    print(f"{'total (s)':>16} {total_store:>16.2f} {total_table:>15.2f} {total_store / total_table:>6.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200)
    main(parser.parse_args().units)
