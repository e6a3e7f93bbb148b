"""Size and time of the HTML report of a 33-model study (synthetic scores in the exact formats; issue 13: < 10 s,
< 10 MB).

    python benchmarks/report.py [--pairs 16] [--layers 32] [--keep DIR]

16 base/tuned pairs + 1 unpaired base = 33 models, each scored on 3 neural benchmarks (33 layers each) and the two
reading-time benchmarks, with the study's effects and correlations tables, one failed task and a folder of
`tuneshift explain` outputs. Prints the wall and CPU time of `write_report` in a fresh process (imports included, as
`tuneshift report DIR` pays them) and warm (a second call), and the page's size. On a shared machine the CPU time
is what an idle one would take as wall time (the report is single-threaded).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the synthetic run directories live with the report's tests

from tests.report.synthetic import write_internals_dir, write_study_dir  # noqa: E402

FRESH = (
    "import time; t = time.perf_counter(); from tuneshift.report import write_report; "
    "write_report({!r}); print(time.perf_counter() - t)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--keep", type=Path, help="Write the study directory here and keep it.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        write_study_dir(directory, n_pairs=args.pairs, n_layers=args.layers)
        (directory / "internals").mkdir(exist_ok=True)
        write_internals_dir(directory / "internals")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        fresh = float(
            subprocess.run(
                [sys.executable, "-c", FRESH.format(str(directory))], check=True, capture_output=True, text=True
            ).stdout.split()[-1]
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        fresh_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        from tuneshift.report import write_report

        start, start_cpu = time.perf_counter(), time.process_time()
        path = write_report(directory)
        warm, warm_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        size = path.stat().st_size
        n_models = 2 * args.pairs + 1
        print(
            f"{n_models} models × 5 benchmarks, {args.layers + 1} layers: report {size / 1e6:.2f} MB, "
            f"fresh process {fresh:.2f} s wall / {fresh_cpu:.2f} s CPU (imports included), "
            f"warm {warm:.2f} s wall / {warm_cpu:.2f} s CPU; load average {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
