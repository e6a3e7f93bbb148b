"""`tuneshift study run|analyze|correlate`: many models on many benchmarks, and the statistics of Aw et al. 2023."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from tuneshift.cli._console import make_console
from tuneshift.cli.tune import trajectory

if TYPE_CHECKING:
    from tuneshift.study import stats

app = typer.Typer(help="Studies over many models: run them (locally or on Ray), then effects and correlations.")
console = make_console(soft_wrap=True)


@app.callback()
def _group() -> None:
    """Keep `study` a command group (run, analyze, correlate) however many subcommands exist."""


WHERE = typer.Option(
    None, "--where", metavar="FILTER", help="Keep models matching COLUMN OP VALUE, e.g. family!=gpt2 (repeatable)."
)
PROPERTIES = typer.Option(
    None,
    "--properties",
    metavar="FILE",
    help="CSV (model, mmlu, bbh, nwp_loss, params_b) or lm-eval results JSON (repeatable).",
)
ZOO = typer.Option(None, "--zoo", metavar="FILE", help="A YAML file adding or overriding zoo models (repeatable).")


def _show(analysis: stats.Analysis) -> None:
    effects = Table("benchmark", "pairs", "mean % change", "95 % CI", "Wilcoxon p", "direction", title="Tuned vs base")
    for row in analysis.effect_summary.itertuples():
        effects.add_row(
            row.benchmark, str(row.n_pairs), f"{row.mean_pct:+.2f}", f"[{row.ci_low:+.2f}, {row.ci_high:+.2f}]",
            f"{row.wilcoxon_p:.3g}", row.direction + ("" if row.higher_is_better else " (lower is better)"),
        )  # fmt: skip
    console.print(effects)
    pearson = analysis.correlations[analysis.correlations["method"] == "pearson"]
    table = Table("alignment", "property", "subset", "n", "r", "p", "q (BH)", title="Pearson correlations")
    for row in pearson.itertuples():
        table.add_row(
            row.alignment, row.property, row.subset, str(row.n), f"{row.r:.3f}", f"{row.p:.3g}", f"{row.q:.3g}"
        )
    console.print(table)
    shown = analysis.table2[analysis.table2["n"] > 0]
    form = Table("subset", "benchmark", "category", "n", "r", "p", "q (BH)", "measured by", "Aw et al. r",
                 title="Brain alignment vs capabilities (Aw et al. Table 2 form)")  # fmt: skip
    for row in shown.itertuples():
        form.add_row(
            row.subset, row.benchmark, row.category, str(row.n), f"{row.r:.3f}", f"{row.p:.3g}", f"{row.q:.3g}",
            row.measured_by, "–" if math.isnan(row.aw2023_r) else f"{row.aw2023_r:.3f}",
        )  # fmt: skip
    if len(shown):
        console.print(form)


def _finish(analysis: stats.Analysis, out: Path | None) -> None:
    from tuneshift.study import stats

    if analysis.effects.empty:
        console.print(
            "0 base/tuned pairs: no instruction-tuned model (instruction_tuned: true) has its base_model among the "
            f"{len(analysis.table)} models analysed, so there are no tuning effects; only correlations follow. Give "
            "tuned models `base_model:` (a zoo name or another model of the study) to compare them."
        )
    _show(analysis)
    if out is not None:
        written = stats.write_analysis(analysis, out)
        names = sorted(
            {p.relative_to(out).parts[0] + ("/" if len(p.relative_to(out).parts) > 1 else "") for p in written}
        )
        console.print(f"wrote {len(written)} files to {out}: {', '.join(names)}")
        from tuneshift.report import write_report

        console.print(f"report: {write_report(out)}")


@app.command()
def correlate(
    table: Path = typer.Argument(
        ..., metavar="FILE", help="A model table CSV (e.g. aw2023_models.csv) with the zoo's columns."
    ),
    where: list[str] | None = WHERE,
    properties: list[Path] | None = PROPERTIES,
    out: Path | None = typer.Option(
        None, "--out", metavar="DIR", help="Write effects.csv, correlations.csv, table2.csv/.md and figures here."
    ),
    zoo: list[Path] | None = ZOO,
    measured: list[Path] | None = typer.Option(
        None,
        "--measured",
        help="A results or study folder whose MMLU/BBH/WikiText2-nwp results replace the table's imported properties "
        "for the models scored there (repeatable).",
    ),
) -> None:
    """Instruction-tuning effects and alignment correlations of any table of models (the paper's analyses), and
    brain alignment vs each MMLU and BBH category, WikiText-2 loss and size in Aw et al.'s Table 2 form (Pearson,
    Benjamini–Hochberg over the table; each row says whether its property was measured or imported)."""
    from tuneshift.benchmarks.capability import measured_properties
    from tuneshift.study import stats
    from tuneshift.study.properties import merge_properties, read_properties
    from tuneshift.study.zoo import load_zoo

    frame = stats.read_table(str(table))
    sources = [read_properties(p) for p in properties or ()]
    sources += [found for folder in measured or () if not (found := measured_properties(folder)).empty]
    if sources:
        specs = {name: entry.spec for name, entry in load_zoo(zoo or ()).items()}
        frame = merge_properties(frame, sources, specs)
    _finish(stats.analyze(frame, where or (), source=str(table)), out)


def _run_help() -> str:
    from tuneshift.study.example import EXAMPLE

    example = "\n".join(f"    {line}" for line in EXAMPLE.splitlines())
    return (
        "Score every model of a study on every benchmark; a rerun skips what the results store holds, failures go "
        "to failures.csv. A trajectory file (`trajectory:`, docs/trajectory.md) runs as `study trajectory` does: "
        "arms × seeds tuned, every checkpoint scored, OUT/report.html.\n\nExit status: 0 every task done (or done "
        "before), 1 error (nothing run), 2 usage error, 3 some tasks failed (listed in OUT/failures.csv; rerun to "
        "retry them).\n\nA commented study file (docs/study.md explains each field):"
        f"\n\n\b\n{example}"
    )


app.command()(trajectory)


@app.command(help=_run_help())
def run(
    study_file: Path = typer.Argument(
        ..., metavar="FILE", help="STUDY.yaml: models, benchmarks, controls, options (example above)."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        metavar="DIR",
        help="Study folder: units/ (the stored results), scores.csv, summary.json, failures.csv.",
    ),
    executor: str = typer.Option(
        "local",
        metavar="NAME",
        help="local (this process, no Ray), ray (a cluster or a local one), or another registered engine.",
    ),
    address: str | None = typer.Option(
        None, metavar="ADDRESS", help="Ray cluster address (e.g. auto or head-node:6379)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check everything a run would, print the plan (tasks, memory, time) and stop."
    ),
    zoo: list[Path] | None = ZOO,
) -> None:
    from tuneshift.report import write_report
    from tuneshift.study.run import load_study, plan_study, run_study
    from tuneshift.study.trajectory import is_trajectory_file

    if is_trajectory_file(study_file):  # arms × seeds tuned and scored along the run: `study trajectory`
        trajectory(study_file, out, dry_run=dry_run, executor=executor, address=address, quiet=False)
        return
    study = load_study(study_file, zoo or ())
    plan = plan_study(study, out)
    if dry_run:
        _show_plan(plan, study_file)
        return
    outcome = run_study(study, out, executor=executor, address=address)
    console.print(
        f"{outcome.done} tasks done, {outcome.failed} failed, {outcome.skipped} skipped (finished before) in "
        f"{outcome.seconds:.1f} s; scores: {out / 'scores.csv'}"
        + (f"; failures: {out / 'failures.csv'}" if outcome.failed else "")
        + f"; report: {write_report(out)}"
    )
    if outcome.failed:
        raise typer.Exit(3)


def _show_plan(plan, study_file: Path) -> None:
    """The dry run's table and totals, and what would fail (models whose config is unreadable, data not here)."""
    described = plan.describe()
    view = Table("model", "spec", "tasks", "pending", "memory (GB)", "time (s)", title=f"Plan of {study_file}")
    for row in described.itertuples():
        seconds = "?" if row.pending and row.seconds != row.seconds else f"{row.seconds:.0f}" if row.pending else "-"
        view.add_row(row.model, row.spec, str(row.tasks), str(row.pending), f"{row.memory_gb:.2f}", seconds)
    console.print(view)
    estimates = plan.estimate_seconds()
    timed = (
        f"{sum(estimates.values()):.0f} s of compute for {len(estimates)} of them (throughput measured in {plan.out})"
    )
    console.print(
        f"{len(plan.tasks)} tasks ({len(plan.pending)} pending, {len(plan.finished)} finished) over "
        f"{len(plan.study.models)} models × {len(plan.study.benchmarks)} benchmarks; largest model group needs "
        f"{max(plan.memory.values()) / 1e9:.1f} GB; "
        + (timed if estimates else "no time estimate yet (none of these benchmarks has run in this folder)")
    )
    for problem in plan.problems():
        console.print(f"would fail: {problem}", highlight=False)


@app.command()
def analyze(
    study_dir: Path = typer.Argument(..., metavar="DIR", help="A study directory written by `tuneshift study run`."),
    where: list[str] | None = WHERE,
    properties: list[Path] | None = PROPERTIES,
    honest: bool = typer.Option(False, help="Use the honest score (layer chosen on training folds), not the best."),
    zoo: list[Path] | None = ZOO,
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="DIR",
        help="Write effects.csv, correlations.csv, table2, figures and report.html here (default: the study folder; "
        "needed when it is read-only).",
    ),
) -> None:
    """Effects and correlations of a study's models; writes effects.csv, correlations.csv, figures into the study.

    Capabilities the study measured (MMLU, BBH, WikiText2-nwp units in the folder) replace imported ones (the zoo's,
    --properties); the table's `measured_by` column says which benchmark each measured value came from. A read-only
    study folder (a read-only mount, results copied from a cluster) is only read: give --out."""
    from tuneshift.benchmarks.capability import measured_properties
    from tuneshift.benchmarks.store import writable
    from tuneshift.errors import InvalidInputError

    if out is None and study_dir.is_dir() and not writable(study_dir):
        raise InvalidInputError(
            f"{study_dir}: the study folder is read-only, so the analysis cannot be written there; pass --out "
            "ELSEWHERE to write it elsewhere."
        )
    from tuneshift.study import stats
    from tuneshift.study.properties import merge_properties, read_properties
    from tuneshift.study.run import model_table
    from tuneshift.study.zoo import load_zoo

    frame = model_table(study_dir, score="honest_raw" if honest else "best_raw")
    imported = [read_properties(p) for p in properties or ()]
    measured = measured_properties(study_dir)
    sources = imported + ([measured] if not measured.empty else [])
    if sources:
        specs = {name: entry.spec for name, entry in load_zoo(zoo or ()).items()}
        frame = merge_properties(frame, sources, specs)
    _finish(stats.analyze(frame, where or (), source=str(study_dir)), out or study_dir)
