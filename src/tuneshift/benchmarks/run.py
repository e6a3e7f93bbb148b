"""Score one model on benchmarks, writing results as each benchmark finishes and resuming an interrupted run.

``out_dir/scores.csv`` — one row per model × benchmark × layer (columns of :data:`SCORE_COLUMNS`, plus extras);
``out_dir/summary.json`` — per model and benchmark: best layer, best raw and normalized score, honest score.
Both are rewritten atomically after every benchmark; a (model, benchmark) pair already in scores.csv is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from rich.console import Console

from tuneshift._io import write_csv, write_json
from tuneshift.benchmarks._base import BENCHMARKS, summarize
from tuneshift.benchmarks.futrell2018 import TokenLogprobs
from tuneshift.errors import InvalidParameterError
from tuneshift.models.load import LoadedModel

console = Console(stderr=True)


def available_benchmarks() -> list[str]:
    """Ids of the registered benchmarks whose data is on this machine (or bundled)."""
    return [name for name in BENCHMARKS if BENCHMARKS.get(name).available()]


def score(
    model: LoadedModel | TokenLogprobs,
    benchmarks: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    *,
    cache: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Run `benchmarks` (default: every available one) on `model`; return all score rows of this model."""
    names = list(benchmarks) if benchmarks else available_benchmarks()
    chosen = [BENCHMARKS.get(name) for name in names]
    missing = [b.identifier for b in chosen if not b.available()]
    if missing:
        raise InvalidParameterError(
            "benchmark", "a benchmark whose data is present", missing, "Run `tuneshift data list` to see what is."
        )
    out = Path(out_dir) if out_dir else None
    table = _read_scores(out)
    summary = json.loads((out / "summary.json").read_text()) if out and (out / "summary.json").exists() else {}
    for bench in chosen:
        done = not table.empty and ((table["model"] == model.name) & (table["benchmark"] == bench.identifier)).any()
        if done and bench.identifier in summary.get(model.name, {}):
            console.print(f"[dim]{bench.identifier}: already scored in {out}, skipped[/dim]")
            continue
        console.print(f"[bold]{bench.identifier}[/bold] on {model.name}")
        result = bench.run(model, cache=cache, progress=progress)
        table = pd.concat(
            [table[~((table["model"] == model.name) & (table["benchmark"] == bench.identifier))], result.scores]
            if not table.empty
            else [result.scores],
            ignore_index=True,
        )
        summary.setdefault(model.name, {})[bench.identifier] = summarize(result)
        if out:
            write_csv(out / "scores.csv", table)
            write_json(out / "summary.json", summary)
        console.print(f"  {summary_line(summary[model.name][bench.identifier])}")
    return table[table["model"] == model.name].reset_index(drop=True)


def summary_line(best: dict) -> str:
    """One benchmark's summary in words: the best layer's raw and normalized score, and the honest score."""
    where = f"best layer {best['best_layer']}" if best.get("best_layer") is not None else "output surprisal"
    text = f"{where}: raw {format_number(best['best_raw'])}"
    if best.get("ci_low") is not None:
        text += f" [{format_number(best['ci_low'])}, {format_number(best['ci_high'])}]"
    text += f", normalized {format_number(best['best_normalized'])}"
    if best.get("best_layer") is not None:
        text += f"; honest raw {format_number(best['honest_raw'])}"
    return text


def format_number(value: float | None, digits: int = 4) -> str:
    """A value for people: fixed digits, or "–" where there is none (no ceiling, no interval)."""
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def _read_scores(out: Path | None) -> pd.DataFrame:
    if out is None or not (out / "scores.csv").exists():
        return pd.DataFrame()
    return pd.read_csv(out / "scores.csv")
