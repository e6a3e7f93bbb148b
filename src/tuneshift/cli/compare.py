"""`tuneshift compare BASE TUNED`: what instruction tuning changed, benchmark by benchmark, with paired tests."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.table import Table

from tuneshift.cli._console import make_console
from tuneshift.errors import InvalidParameterError

console = make_console(soft_wrap=True)


def compare(
    base: str = typer.Argument(..., help="Base model (hub id, directory, .gguf, catalog name), or a tuned directory."),
    tuned: str | None = typer.Argument(
        None, help="Tuned model; omit when BASE is a directory with tuneshift-tune.json."
    ),
    benchmark: list[str] | None = typer.Option(
        None, "--benchmark", "-b", metavar="ID", help="Benchmark id (repeatable)."
    ),
    out: Path = typer.Option(
        Path("tuneshift-compare"), "--out", metavar="DIR", help="compare.csv, compare.json, figures/, scores."
    ),
    base_random_init: bool = typer.Option(False, help="Use BASE's architecture with random weights (the control)."),
    seed: int = typer.Option(0, help="Seed of --base-random-init and of the bootstrap."),
    dtype: str = typer.Option("float32", metavar="DTYPE", help="float32, bfloat16 or float16."),
    device: str = typer.Option("cpu", metavar="DEVICE", help="cpu, cuda, mps or auto."),
    cache: bool = typer.Option(True, help="Reuse / store readouts in the activation cache."),
    option: list[str] | None = typer.Option(
        None,
        "--option",
        "-o",
        metavar="[BENCHMARK:]KEY=VALUE",
        help="Benchmark option (repeatable), as for `tuneshift score`: e.g. context=stream, pooling=mean; with "
        "BENCHMARK: for one benchmark only. `tuneshift score --list` shows each benchmark's options.",
    ),
    preset: str | None = typer.Option(
        None, metavar="NAME", help="A paper's benchmark settings, as for `tuneshift score` (aw2023)."
    ),
    name: str | None = typer.Option(
        None,
        metavar="NAME",
        help="TUNED's name in the results and the report (default: its own; a `tuneshift tune` folder: "
        "'<base> tuned (<run>, step N)').",
    ),
    internals: bool = typer.Option(False, help="Also compare instruction attribution on FinalDataset prompts."),
    dataset: Path | None = typer.Option(None, help="FinalDataset.tsv (Wu et al. 2023), for --internals."),
    limit: int = typer.Option(20, help="--internals: the first N prompts (each takes seconds to minutes on CPU)."),
    max_new_tokens: int = typer.Option(300, help="--internals: length limit of the generated responses."),
) -> None:
    """Score both models (finished work reused), then per benchmark: best-layer and honest scores of each, the
    absolute and % change, and a paired test over the benchmark's paired units (neuroids, splits, stories or items).

    compare.csv names them in paired_unit, n_paired and mean_paired_change. A change is called better or worse in
    the benchmark's direction (a loss improves when it falls); items pair right/wrong answers by McNemar's exact
    test and per-article losses by Wilcoxon."""
    from tuneshift.benchmarks.run import check_benchmarks, resolve_options
    from tuneshift.cli.score import parse_option_flags
    from tuneshift.models import load_model
    from tuneshift.study.compare import compare_internals, compare_models, tune_record

    record = None
    if tuned is None:
        record = tune_record(base)
        if record is None or not record.get("base"):
            raise InvalidParameterError(
                "TUNED", "a second model, or a tuned directory whose tuneshift-tune.json names its base", base,
                "Give both: tuneshift compare BASE TUNED.",
            )  # fmt: skip
        base, tuned = str(record["base"]), base
    if internals and dataset is None:
        raise InvalidParameterError("--dataset", "the path of FinalDataset.tsv with --internals", None)
    # names, data and options are checked before the models load (minutes for large ones)
    checked = check_benchmarks(benchmark)
    benchmarks = [bench.identifier for bench in checked]
    options = parse_option_flags(option, preset=preset, benchmarks=benchmarks)
    resolve_options(checked, options)
    load = {"dtype": dtype, "device": device}
    base_model = load_model(base, random_init=base_random_init, seed=seed, **load)
    tuned_model = load_model(tuned, **load)
    tuned_model.name = name or tuned_model.name
    expected = (record or {}).get("base_fingerprint")
    if expected and not base_random_init and base_model.fingerprint != expected:
        console.print(
            f"[yellow]warning:[/yellow] {base} is not the model {tuned} was tuned from (fingerprint "
            f"{base_model.fingerprint[:12]}, tuneshift-tune.json records {str(expected)[:12]}): weights changed?"
        )
    result = compare_models(base_model, tuned_model, benchmarks, out, options=options, cache=cache, seed=seed)
    result.tune = record or tune_record(tuned)
    if internals:
        per_sample, result.internals = compare_internals(
            base_model, tuned_model, dataset, limit=limit, max_new_tokens=max_new_tokens, progress=False
        )
        per_sample.to_csv(out / "internals_samples.csv", index=False)
    result.write(out)
    view = Table(
        "benchmark", "base (layer)", "tuned (layer)", "change", "% change", "effect", "honest base → tuned",
        "paired test",
    )  # fmt: skip
    for row in result.table.itertuples():
        interval = f"CI [{row.change_ci_low:+.4f}, {row.change_ci_high:+.4f}]"
        paired = f"{row.paired_unit}: n={row.n_paired}, {row.test} p={row.p:.3g}, {interval}"
        test = paired if row.paired_unit != "none" else "none"
        effect = row.effect + ("" if row.higher_is_better else " (lower is better)")
        view.add_row(
            row.benchmark, f"{row.base_best_raw:.4f} ({row.base_best_layer})",
            f"{row.tuned_best_raw:.4f} ({row.tuned_best_layer})", f"{row.change_best_raw:+.4f}",
            percent(row.pct_change_best_raw), effect, f"{row.base_honest_raw:.4f} → {row.tuned_honest_raw:.4f}",
            test,
        )  # fmt: skip
    console.print(view)
    for row in result.table.itertuples():
        if row.paired_unit == "split":
            console.print(f"[yellow]{row.benchmark}[/yellow]: {row.note}")
    from tuneshift.report import write_report

    console.print(f"compare.csv, compare.json and figures/ in {out}; report: {write_report(out)}")


def percent(change: float) -> str:
    """A % change as the table prints it; "–" where it is undefined (a base score at or below 0)."""
    return "–" if math.isnan(change) else f"{change:+.1f} %"
