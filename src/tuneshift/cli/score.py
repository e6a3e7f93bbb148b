"""`tuneshift score`: every layer of a model on brain and reading-time benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tuneshift.cli._console import make_console
from tuneshift.models.catalog import CATALOG, DEFAULT_MODEL

# In a log file or pipe rich would wrap the results table at 80 columns and cut the benchmark names.
console = make_console()


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
    out: Path = typer.Option(
        Path("tuneshift-results"), metavar="DIR", help="Output directory (scores.csv, summary.json)."
    ),
    random_init: bool = typer.Option(False, help="Same architecture with random weights (the control)."),
    seed: int = typer.Option(0, help="Seed of --random-init."),
    dtype: str = typer.Option("float32", metavar="DTYPE", help="Model dtype: float32, bfloat16, float16."),
    device: str = typer.Option("cpu", metavar="DEVICE", help="cpu, cuda, cuda:N, mps or auto."),
    cache: bool = typer.Option(True, help="Reuse / store readouts in the activation cache."),
    surprisal: Path | None = typer.Option(
        None,
        metavar="FILE",
        help="Score token log-probabilities computed elsewhere (an API model) on the Futrell2018 benchmarks instead "
        "of a model: CSV in the format of the bundled all_stories_gpt3.csv (token, logprob in nats, offset, "
        "story from 0); the file name is the model name.",
    ),
    option: list[str] = typer.Option(
        None,
        "--option",
        "-o",
        metavar="[BENCHMARK:]KEY=VALUE",
        help="Benchmark option (repeatable), e.g. context=stream, pooling=mean, store_dtype=float16; with "
        "BENCHMARK: for one benchmark only. `--list` shows each benchmark's options.",
    ),
    preset: str | None = typer.Option(
        None,
        metavar="NAME",
        help="A paper's benchmark settings: aw2023 (MMLU 5-shot, BBH 3-shot answer-only, as Aw et al. 2023 ran "
        "them through InstructEval; the deviations are printed). --option BENCHMARK:KEY=VALUE overrides it.",
    ),
    units: list[str] = typer.Option(
        None,
        metavar="UNITS",
        help="Score only some model units (hidden dimensions of its blocks) on the neural benchmarks (repeatable): "
        "language (its localized language network, localized now and cached), random:SEED (as many random model "
        "units, the control), or a `tuneshift localize` output DIR[:random:SEED].",
    ),
    name: str | None = typer.Option(
        None,
        metavar="NAME",
        help="The model's name in the results and the report (default: its catalog name, hub id or folder; a "
        "`tuneshift tune` folder: '<base> tuned (<run>, step N)').",
    ),
    list_benchmarks: bool = typer.Option(
        False, "--list", help="List the benchmarks, their options and whether their data is here."
    ),
) -> None:
    """Score a model on every layer; results are written as each benchmark finishes, and a rerun resumes.

    OUT/units/: the stored results, one file per finished (model fingerprint and dtype, benchmark, options, data);
    a rerun skips those and other options add results. OUT/scores.csv: one row per model × benchmark × layer
    (model, benchmark, layer, raw, ceiling, normalized, ..., fingerprint, options). OUT/summary.json: per model and
    benchmark, the best layer with its raw and normalized score, and the honest score (layer chosen on training
    folds only).
    """
    from tuneshift.benchmarks import BENCHMARKS
    from tuneshift.benchmarks import options as benchmark_options
    from tuneshift.benchmarks import score as run_score
    from tuneshift.benchmarks._base import REPRESENTATION_KINDS
    from tuneshift.benchmarks.run import check_benchmarks, resolve_options
    from tuneshift.benchmarks.store import ResultStore
    from tuneshift.models import load_model

    if list_benchmarks:
        from tuneshift.models.subject import ReadoutOptions

        common = benchmark_options.accepted(ReadoutOptions)
        table = Table("benchmark", "kind", "data here", "run by default", "options (--option KEY=VALUE)", "description")
        table.caption = "Every benchmark also takes " + ", ".join(f"{k}={v}" for k, v in common.items()) + "."
        for name in BENCHMARKS:
            bench = BENCHMARKS.get(name)
            own = {k: v for k, v in benchmark_options.accepted(bench.options).items() if k not in common}
            listing = "\n".join(f"{key}={value}" for key, value in own.items())
            here, default = ("yes" if flag else "no" for flag in (bench.available(), bench.in_default))
            table.add_row(name, bench.kind, here, default, listing, bench.description)
        console.print(table)
        return
    # every name and the data it needs are checked before a model loads (which can take minutes)
    if surprisal is not None:
        checked = check_benchmarks(
            benchmark, layers=False, kinds=("behavioral",), why="--surprisal scores reading-time benchmarks only"
        )
    elif units:
        checked = check_benchmarks(benchmark, kinds=REPRESENTATION_KINDS, why="--units selects representations")
    else:
        checked = check_benchmarks(benchmark)
    chosen = [bench.identifier for bench in checked]
    options = parse_option_flags(option, preset=preset, benchmarks=chosen)
    resolve_options(checked, options)
    store = ResultStore(out)  # refuses an --out it cannot write before a model loads
    if surprisal is not None:
        from tuneshift.models.subject import TokenLogprobs

        subjects = [TokenLogprobs.from_file(surprisal)]
    else:
        subjects = [load_model(model, dtype=dtype, device=device, random_init=random_init, seed=seed)]
        subjects[0].name = name or subjects[0].name
        if units:
            from tuneshift.localize.view import units_view

            subjects = [units_view(subjects[0], selection, cache=cache) for selection in units]
    for subject in subjects:
        rows = run_score(subject, chosen, out, options=options, cache=cache)
        model_label, keys = rows["model"].iat[0], set(rows["unit_key"])
        summaries = {u.benchmark: u.summary for u in store.units() if u.key in keys and u.model == model_label}
        console.print(results_table(model_label, summaries))
    from tuneshift.report import write_report

    report = write_report(out)
    console.print(f"scores: {out / 'scores.csv'}   summary: {out / 'summary.json'}   report: {report}")


def parse_option_flags(
    flags: list[str] | None, *, preset: str | None = None, benchmarks: list[str] | tuple[str, ...] = ()
) -> dict:
    """The one reader of ``--option`` and ``--preset`` (score, compare): values as
    :func:`tuneshift.benchmarks.score` takes them, KEY=VALUE for every benchmark with that option,
    BENCHMARK:KEY=VALUE for one. A preset (:data:`tuneshift.benchmarks.capability.PRESETS`) sets the options of
    the `benchmarks` it names, per benchmark, before the flags (which override it); its deviations are printed."""
    options: dict = {}
    if preset is not None:
        from tuneshift.benchmarks.capability import DEVIATIONS, PRESETS
        from tuneshift.errors import InvalidParameterError

        if preset not in PRESETS:
            raise InvalidParameterError("--preset", f"one of {', '.join(PRESETS)}", preset)
        options = {bench: dict(values) for bench, values in PRESETS[preset].items() if bench in benchmarks}
        if not options:
            raise InvalidParameterError(
                "--preset", f"benchmarks it sets ({', '.join(PRESETS[preset])})", preset, "Add them with -b."
            )
        console.print(f"preset {preset}: " + "; ".join(f"{b} {v}" for b, v in options.items()))
        for deviation in DEVIATIONS:
            console.print(f"  [dim]deviation:[/dim] {escape(deviation)}")
    for flag in flags or []:
        target, colon, assignment = flag.partition(":")
        if not colon or "=" in target:  # no benchmark named
            target, assignment = "", flag
        key, equals, value = assignment.partition("=")
        if not equals or not key:
            raise typer.BadParameter(f"{flag!r}: expected KEY=VALUE or BENCHMARK:KEY=VALUE.", param_hint="--option")
        (options.setdefault(target, {}) if target else options)[key.strip()] = value.strip()
    return options


def results_table(title: str, summaries: dict[str, dict]) -> Table:
    """The one results table: per benchmark, the best layer's raw score (with its 95 % interval where the
    benchmark has one), ceiling and normalized score, and the honest score (layer chosen on training folds)."""
    from tuneshift.benchmarks.run import format_number as number

    table = Table("benchmark", "best layer", "raw", "95% CI", "ceiling", "normalized", "honest raw", "honest norm.")
    table.title = escape(title)
    for name, best in summaries.items():
        layered = best.get("best_layer") is not None
        interval = f"{number(best['ci_low'])}–{number(best['ci_high'])}" if best.get("ci_low") is not None else "–"
        table.add_row(
            escape(name),
            str(best["best_layer"]) if layered else f"– ({best.get('scored', 'output')})",
            number(best["best_raw"]),
            interval,
            number(best.get("ceiling"), 3),
            number(best["best_normalized"]),
            number(best["honest_raw"]) if layered else "–",
            number(best["honest_normalized"]) if layered else "–",
        )
    return table
