"""`tuneshift score`: every layer of a model on brain and reading-time benchmarks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tuneshift.models.catalog import CATALOG, DEFAULT_MODEL

# In a log file or pipe rich would wrap the results table at 80 columns and cut the benchmark names.
console = Console(width=None if sys.stdout.isatty() else 160)


def score(
    model: str = typer.Option(
        DEFAULT_MODEL,
        metavar="MODEL",
        help=f"Hub id, local directory, .gguf file or catalog name ({', '.join(CATALOG.names())}).",
    ),
    benchmark: list[str] = typer.Option(
        None,
        "--benchmark",
        "-b",
        metavar="ID",
        help="Benchmark id (repeatable; `--list` shows them). Default: every benchmark whose data is present.",
    ),
    out: Path = typer.Option(Path("tuneshift-results"), help="Output directory (scores.csv, summary.json)."),
    random_init: bool = typer.Option(False, metavar="", help="Same architecture with random weights (the control)."),
    seed: int = typer.Option(0, help="Seed of --random-init."),
    dtype: str = typer.Option("float32", metavar="DTYPE", help="Model dtype: float32, bfloat16, float16."),
    device: str = typer.Option("cpu", metavar="DEVICE", help="cpu, cuda, cuda:N, mps or auto."),
    cache: bool = typer.Option(True, metavar="", help="Reuse / store readouts in the activation cache."),
    surprisal: Path | None = typer.Option(
        None,
        help="Score token log-probabilities computed elsewhere (an API model) on the Futrell2018 benchmarks instead "
        "of a model: CSV in the format of the bundled all_stories_gpt3.csv (token, logprob in nats, offset, "
        "story from 0); the file name is the model name.",
    ),
    list_benchmarks: bool = typer.Option(
        False, "--list", metavar="", help="List the benchmarks and whether their data is here."
    ),
) -> None:
    """Score a model on every layer; results are written as each benchmark finishes, and a rerun resumes.

    OUT/scores.csv: one row per model × benchmark × layer (model, benchmark, layer, raw, ceiling, normalized, ...).
    OUT/summary.json: per benchmark, the best layer with its raw and normalized score, and the honest score
    (layer chosen on training folds only).
    """
    from tuneshift.benchmarks import BENCHMARKS
    from tuneshift.benchmarks import score as run_score
    from tuneshift.benchmarks.run import available_benchmarks
    from tuneshift.errors import InvalidParameterError
    from tuneshift.models import load_model

    if list_benchmarks:
        table = Table("benchmark", "kind", "data here", "description")
        for name in BENCHMARKS:
            bench = BENCHMARKS.get(name)
            table.add_row(name, bench.kind, "yes" if bench.available() else "no", bench.description)
        console.print(table)
        return
    # every name and the data it needs are checked before a model loads (which can take minutes)
    behavioral = [name for name in BENCHMARKS if BENCHMARKS.get(name).kind == "behavioral"]
    default = behavioral if surprisal is not None else available_benchmarks()
    chosen = [BENCHMARKS.get(name).identifier for name in benchmark] if benchmark else default
    missing = [name for name in chosen if not BENCHMARKS.get(name).available()]
    if missing:
        raise InvalidParameterError(
            "--benchmark", "a benchmark whose data is here", missing, "See `tuneshift score --list`."
        )
    if surprisal is not None:
        from tuneshift.benchmarks.futrell2018 import TokenLogprobs

        neural = [name for name in chosen if BENCHMARKS.get(name).kind != "behavioral"]
        if neural:
            raise typer.BadParameter(f"--surprisal scores reading-time benchmarks only, not {neural}.")
        loaded = TokenLogprobs.from_file(surprisal)
    else:
        loaded = load_model(model, dtype=dtype, device=device, random_init=random_init, seed=seed)
    run_score(loaded, chosen, out, cache=cache)
    summary = json.loads((out / "summary.json").read_text())[loaded.name]
    console.print(results_table(loaded.name, {name: summary[name] for name in chosen}))
    from tuneshift.report import write_report

    report = write_report(out)
    console.print(f"scores: {out / 'scores.csv'}   summary: {out / 'summary.json'}   report: {report}")


def results_table(title: str, summaries: dict[str, dict]) -> Table:
    """The one results table: per benchmark, the best layer's raw score (with its 95 % interval where the
    benchmark has one), ceiling and normalized score, and the honest score (layer chosen on training folds)."""
    from tuneshift.benchmarks.run import format_number as number

    table = Table("benchmark", "best layer", "raw", "95% CI", "ceiling", "normalized", "honest raw", "honest norm.")
    table.title = title
    for name, best in summaries.items():
        layered = best.get("best_layer") is not None
        interval = f"{number(best['ci_low'])}–{number(best['ci_high'])}" if best.get("ci_low") is not None else "–"
        table.add_row(
            name,
            str(best["best_layer"]) if layered else "– (output)",
            number(best["best_raw"]),
            interval,
            number(best.get("ceiling"), 3),
            number(best["best_normalized"]),
            number(best["honest_raw"]) if layered else "–",
            number(best["honest_normalized"]) if layered else "–",
        )
    return table
