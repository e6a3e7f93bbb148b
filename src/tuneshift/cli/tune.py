"""`tuneshift tune`: fine-tune a base model on instruction data, with or without the instruction text."""

from __future__ import annotations

from pathlib import Path

import typer

from tuneshift.cli._console import make_console

console = make_console()


def tune(
    base: str = typer.Option(
        ..., "--base", metavar="MODEL", help="Base model: hub id, local directory, .gguf file or catalog name."
    ),
    out: Path = typer.Option(
        ..., "--out", metavar="DIR", help="Output directory (the tuned model; a rerun resumes here)."
    ),
    data: str = typer.Option(
        "seed-tasks",
        "--data",
        metavar="FILE",
        help="Data file, or a bundled set: seed-tasks (Self-Instruct) or finaldataset (Wu).",
    ),
    data_format: str = typer.Option(
        None,
        "--format",
        metavar="NAME",
        help="alpaca, jsonl, finaldataset or seed-tasks (default: from the file name).",
    ),
    drop_instruction: bool = typer.Option(
        False, "--drop-instruction", help="Same examples with the instruction text removed, input kept."
    ),
    method: str = typer.Option("lora", "--method", metavar="NAME", help="lora (default) or full."),
    epochs: float = typer.Option(None, "--epochs", help="Passes over the data (default 3; or --max-steps)."),
    max_steps: int = typer.Option(None, "--max-steps", help="Optimizer steps (instead of --epochs)."),
    seed: int = typer.Option(0, "--seed", help="Seed of LoRA's initialisation, dropout and the data order."),
    batch_size: int = typer.Option(4, "--batch-size", help="Examples per micro-batch."),
    grad_accum: int = typer.Option(1, "--grad-accum", help="Micro-batches per optimizer step."),
    learning_rate: float = typer.Option(None, "--lr", help="Peak learning rate (default 2e-4 LoRA, 2e-5 full)."),
    warmup_ratio: float = typer.Option(0.03, "--warmup-ratio", help="Share of steps with linear warm-up."),
    max_length: int = typer.Option(512, "--max-length", help="Longest training sequence, in tokens."),
    dtype: str = typer.Option("float32", "--dtype", metavar="DTYPE", help="float32 or bfloat16."),
    device: str = typer.Option("cpu", "--device", metavar="DEVICE", help="cpu, cuda, mps or auto."),
    lora_rank: int = typer.Option(8, "--lora-rank", help="LoRA rank r."),
    lora_alpha: int = typer.Option(16, "--lora-alpha", help="LoRA scale α (updates are α/r · B A)."),
    lora_dropout: float = typer.Option(0.05, "--lora-dropout", help="Dropout on LoRA's input."),
    chat_template: bool = typer.Option(False, "--chat-template", help="Wrap each prompt in the model's chat template."),
    checkpoint_every: int = typer.Option(50, "--checkpoint-every", help="Steps between resume checkpoints."),
    save_every: int = typer.Option(
        None,
        "--save-every",
        help="Save a loadable model every N steps in OUT/checkpoints/step-N (LoRA adapter + manifest); each folder "
        "is a model argument everywhere.",
    ),
    save_merged: bool = typer.Option(
        False, "--save-merged", help="Also write merged weights into each --save-every checkpoint (larger)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Supervised fine-tuning with the loss on response tokens only; LoRA on the family's attention and FFN
    projections by default.

    Writes OUT as a normal model directory (LoRA merged, tokenizer included) with OUT/tuneshift-tune.json (base,
    base fingerprint, data checksum, options, final loss, wall time), OUT/loss.csv and OUT/loss.png. Ctrl-C saves
    a checkpoint; the same command again resumes from it. Every option is checked before any work starts, and a
    loss or weight that becomes non-finite stops the run with an error (nothing saved as a model).
    """
    from tuneshift.tune import TuneOptions
    from tuneshift.tune import tune as run_tune

    options = TuneOptions(
        method=method,
        epochs=epochs,
        max_steps=max_steps,
        seed=seed,
        batch_size=batch_size,
        grad_accum=grad_accum,
        learning_rate=learning_rate,
        warmup_ratio=warmup_ratio,
        max_length=max_length,
        dtype=dtype,
        device=device,
        lora_rank=lora_rank,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        drop_instruction=drop_instruction,
        chat_template=chat_template,
        checkpoint_every=checkpoint_every,
        save_every=save_every,
        save_merged=save_merged,
    )
    result = run_tune(base, out, data, data_format=data_format, options=options, progress=not quiet)
    record = result.record
    console.print(
        f"{record['steps']} steps on {record['data']['examples']} examples "
        f"({record['data']['skipped_empty']} with an empty response skipped): loss {record['initial_loss']:.3f} → "
        f"{record['final_loss']:.3f}, {record['tokens_per_s']:.0f} tokens/s, {record['wall_time_s']:.0f} s. "
        f"Tuned model: {result.out_dir}",
        highlight=False,
    )
    if record.get("checkpoints"):
        where = result.out_dir / "checkpoints"
        console.print(f"Checkpoints at steps {record['checkpoints']}: {where}", highlight=False)
    from tuneshift.report import write_tune_report

    console.print(f"Report: {write_tune_report(result.out_dir)}", highlight=False)


def trajectory(
    file: Path = typer.Argument(
        ..., metavar="FILE", help="Trajectory file (YAML with `trajectory:` and `benchmarks:`)."
    ),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Output directory (a rerun resumes here)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan and an estimate timed on this machine (2 tuning steps); run nothing."
    ),
    executor: str = typer.Option("local", "--executor", metavar="NAME", help="local or ray (a study executor)."),
    address: str = typer.Option(
        None, "--address", metavar="ADDRESS", help="Ray cluster address (auto, head:6379); default: local."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
) -> None:
    """Tune every (arm, seed) of FILE with checkpoints and score every checkpoint (step 0 = the base) on every
    benchmark: OUT/trajectory.csv, trajectory_summary.csv (mean and CI over seeds), arm_differences.csv (seeds as
    the unit), trajectory.png, trajectory-loss.png and report.html. Arms: instructions, drop-instruction, plain-lm,
    or a data file plus options. `tuneshift study run FILE` does the same."""
    from tuneshift.study.trajectory import estimate_seconds, load_trajectory, plan_trajectory, run_trajectory

    spec = load_trajectory(file)
    plan = plan_trajectory(spec, out)  # reads and filters every arm's data: an empty arm is refused here
    console.print(plan.describe(), highlight=False)
    if dry_run:
        estimate = estimate_seconds(plan)
        console.print(
            f"Estimate: {estimate['tokens_per_s']:.0f} training tokens/s ({estimate['seconds_per_step']:.1f} s/step) → "
            f"tuning {estimate['tuning_s'] / 60:.1f} min, scoring ~{estimate['scoring_s_per_checkpoint']:.0f} s per "
            f"checkpoint → {estimate['scoring_s'] / 60:.1f} min; total ~{estimate['total_s'] / 60:.1f} min.",
            highlight=False,
        )
        return
    outcome = run_trajectory(spec, out, executor=executor, address=address, progress=not quiet)
    console.print(
        f"{outcome.done} run(s) done, {outcome.failed} failed; {outcome.tuned_steps} tuning steps and "
        f"{outcome.scored} checkpoint × benchmark scorings now, {outcome.seconds:.0f} s. "
        f"Table: {out / 'trajectory.csv'}",
        highlight=False,
    )
    for failure in outcome.failures:
        console.print(f"[red]failed[/red] {failure['model']}: {failure.get('error', '')}", highlight=False)
    from tuneshift.report import write_trajectory_report

    console.print(f"Report: {write_trajectory_report(out)}", highlight=False)
    if outcome.failed:
        raise typer.Exit(3)
