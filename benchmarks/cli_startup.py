"""How long ``--help`` of each tuneshift command takes in a fresh process, and which heavy libraries it imports.

    python benchmarks/cli_startup.py [--repeat 5] [--before OLD/src] [COMMAND ...]

Prints one Markdown table: for every command and subcommand (or those whose path starts with one of COMMAND), the
median over `--repeat` fresh processes of ``python -m tuneshift.cli.main CMD --help``: wall seconds and CPU seconds
(user + system; on a shared machine the CPU time moves less with the load than the wall time), and the heavy
libraries (torch, pandas, ...) the help imported. ``--before`` times another copy of the source beside this one
(e.g. ``git archive COMMIT src | tar -x -C /tmp/old``), each run of it next to a run of this one, so both see the
same load. Two floor rows time Python alone and Python importing typer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import typer

from tuneshift.cli._lazy import command_paths
from tuneshift.cli.main import app

HEAVY = ("torch", "transformers", "datasets", "lm_eval", "pandas", "sklearn", "scipy", "matplotlib")
FLOORS = {"python (floor)": ["-c", "pass"], "python + typer (floor)": ["-c", "import typer.main"]}
HERE = Path(__file__).resolve().parents[1] / "src"


def run_once(arguments: list[str], src: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``python ARGUMENTS`` with `src` first on the import path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, *arguments], stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"python {' '.join(arguments)} failed (PYTHONPATH={src})")
    return wall, usage.ru_utime + usage.ru_stime


def medians(arguments: list[str], sources: list[Path], repeat: int) -> list[tuple[float, float]]:
    """Median wall and CPU seconds of ``python ARGUMENTS`` for each source, their runs interleaved."""
    runs: list[list[tuple[float, float]]] = [[] for _ in sources]
    for _ in range(repeat):
        for times, src in zip(runs, sources, strict=True):
            times.append(run_once(arguments, src))
    return [(statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)) for times in runs]


def heavy_imports(arguments: list[str]) -> list[str]:
    """The libraries of :data:`HEAVY` that ``python ARGUMENTS`` imports (this source), read from ``-X importtime``."""
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *arguments], capture_output=True, text=True, env=env, check=True
    )
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    return [name for name in HEAVY if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", type=Path, help="an older tuneshift src/ folder to time beside this one")
    parser.add_argument("commands", nargs="*", help="only commands whose path starts with one of these (e.g. study)")
    args = parser.parse_args()
    sources = [args.before, HERE] if args.before else [HERE]
    columns = [
        f"{label} {unit}" for label in (["before", "now"] if args.before else ["now"]) for unit in ("wall s", "CPU s")
    ]
    print(f"| command | {' | '.join(columns)} | heavy imports |\n|---|{'---:|' * len(columns)}---|", flush=True)
    rows = [(label, arguments) for label, arguments in FLOORS.items()]
    for path in command_paths(typer.main.get_command(app)):
        if not args.commands or any(" ".join(path).startswith(prefix) for prefix in args.commands):
            rows.append((f"`tuneshift {' '.join((*path, '--help'))}`", ["-m", "tuneshift.cli.main", *path, "--help"]))
    for label, arguments in rows:
        times = " | ".join(f"{wall:.2f} | {cpu:.2f}" for wall, cpu in medians(arguments, sources, args.repeat))
        heavy = ", ".join(heavy_imports(arguments)) or "none"
        print(f"| {label} | {times} | {heavy} |", flush=True)


if __name__ == "__main__":
    main()
