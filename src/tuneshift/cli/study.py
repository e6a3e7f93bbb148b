"""`tuneshift study run|analyze|correlate`: many models on many benchmarks, and the statistics of Aw et al. 2023."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tuneshift.report import write_report
from tuneshift.study import stats
from tuneshift.study.properties import merge_properties, read_properties
from tuneshift.study.zoo import load_zoo

app = typer.Typer(help="Studies over many models: run them (locally or on Ray), then effects and correlations.")
console = Console(soft_wrap=True)


@app.callback()
def _group() -> None:
    """Keep `study` a command group (run, analyze, correlate) however many subcommands exist."""


WHERE = typer.Option(None, "--where", help="Keep models matching COLUMN OP VALUE, e.g. family!=gpt2 (repeatable).")
PROPERTIES = typer.Option(
    None, "--properties", help="CSV (model, mmlu, bbh, nwp_loss, params_b) or lm-eval results JSON (repeatable)."
)
ZOO = typer.Option(None, "--zoo", help="A YAML file adding or overriding zoo models (repeatable).")


def _show(analysis: stats.Analysis) -> None:
    effects = Table("benchmark", "pairs", "mean % change", "95 % CI", "Wilcoxon p", title="Tuned vs base")
    for row in analysis.effect_summary.itertuples():
        effects.add_row(
            row.benchmark, str(row.n_pairs), f"{row.mean_pct:+.2f}", f"[{row.ci_low:+.2f}, {row.ci_high:+.2f}]",
            f"{row.wilcoxon_p:.3g}",
        )  # fmt: skip
    console.print(effects)
    pearson = analysis.correlations[analysis.correlations["method"] == "pearson"]
    table = Table("alignment", "property", "subset", "n", "r", "p", "q (BH)", title="Pearson correlations")
    for row in pearson.itertuples():
        table.add_row(
            row.alignment, row.property, row.subset, str(row.n), f"{row.r:.3f}", f"{row.p:.3g}", f"{row.q:.3g}"
        )
    console.print(table)


def _finish(analysis: stats.Analysis, out: Path | None) -> None:
    _show(analysis)
    if out is not None:
        written = stats.write_analysis(analysis, out)
        console.print(f"wrote {len(written)} files to {out}: effects.csv, correlations.csv, analysis.json, figures/")


@app.command()
def correlate(
    table: Path = typer.Argument(..., help="A model table CSV (e.g. aw2023_models.csv) with the zoo's columns."),
    where: list[str] | None = WHERE,
    properties: list[Path] | None = PROPERTIES,
    out: Path | None = typer.Option(None, "--out", help="Write effects.csv, correlations.csv and figures here."),
    zoo: list[Path] | None = ZOO,
) -> None:
    """Instruction-tuning effects and alignment correlations of any table of models (the paper's analyses)."""
    frame = stats.read_table(str(table))
    if properties:
        specs = {name: entry.spec for name, entry in load_zoo(zoo or ()).items()}
        frame = merge_properties(frame, [read_properties(p) for p in properties], specs)
    _finish(stats.analyze(frame, where or (), source=str(table)), out)


@app.command()
def run(
    study_file: Path = typer.Argument(..., help="STUDY.yaml: models, benchmarks, controls, options (see docs)."),
    out: Path = typer.Option(..., "--out", help="Study directory: scores.csv, summary.json, failures.csv, tasks/."),
    executor: str = typer.Option("local", help="local (this process, no Ray) or ray (a cluster or a local one)."),
    address: str | None = typer.Option(None, help="Ray cluster address (e.g. auto or head-node:6379)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (tasks, memory per model) and stop."),
    zoo: list[Path] | None = ZOO,
) -> None:
    """Score every model of a study on every benchmark; a rerun skips finished tasks, failures go to failures.csv."""
    from tuneshift.study.run import load_study, plan_study, run_study

    study = load_study(study_file, zoo or ())
    plan = plan_study(study, out)
    if dry_run:
        view = Table("model", "spec", "tasks", "pending", "memory (GB)", title=f"Plan of {study_file}")
        for row in plan.describe().itertuples():
            view.add_row(row.model, row.spec, str(row.tasks), str(row.pending), f"{row.memory_gb:.2f}")
        console.print(view)
        console.print(
            f"{len(plan.tasks)} tasks ({len(plan.pending)} pending, {len(plan.finished)} finished) over "
            f"{len(study.models)} models × {len(study.benchmarks)} benchmarks; largest model group needs "
            f"{max(plan.memory.values()) / 1e9:.1f} GB"
        )
        return
    outcome = run_study(study, out, executor=executor, address=address)
    console.print(
        f"{outcome.done} tasks done, {outcome.failed} failed, {outcome.skipped} skipped (finished before) in "
        f"{outcome.seconds:.1f} s; scores: {out / 'scores.csv'}"
        + (f"; failures: {out / 'failures.csv'}" if outcome.failed else "")
        + f"; report: {write_report(out)}"
    )
    if outcome.failed:
        raise typer.Exit(2)


@app.command()
def analyze(
    study_dir: Path = typer.Argument(..., help="A study directory written by `tuneshift study run`."),
    where: list[str] | None = WHERE,
    properties: list[Path] | None = PROPERTIES,
    honest: bool = typer.Option(False, help="Use the honest score (layer chosen on training folds), not the best."),
    zoo: list[Path] | None = ZOO,
) -> None:
    """Effects and correlations of a study's models; writes effects.csv, correlations.csv, figures into the study."""
    from tuneshift.study.run import model_table

    frame = model_table(study_dir, score="honest_raw" if honest else "best_raw")
    if properties:
        specs = {name: entry.spec for name, entry in load_zoo(zoo or ()).items()}
        frame = merge_properties(frame, [read_properties(p) for p in properties], specs)
    _finish(stats.analyze(frame, where or (), source=str(study_dir)), study_dir)
