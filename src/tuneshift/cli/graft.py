"""`tuneshift graft BASE TUNED`: hybrids of a base and a tuned model scored on benchmarks — where the change lives."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tuneshift.cli._console import make_console

console = make_console()
SWEEP_HELP = (
    "leave-one-in (base + one tuned part), leave-one-out (tuned with one part restored to the base), "
    "cumulative-bottom / cumulative-top (tuned parts added from the bottom / top), attn-ffn (attention vs FFN vs "
    "norms of all blocks at once; per block or group: --parts block:0-2,block:3-5,...), alpha "
    "(base + α·(tuned − base)). Repeatable."
)
PARTS_HELP = (
    "Parts the sweep walks, comma-separated: block:I, attn:I, ffn:I, norm:I (I: 3, 2-5 or *), embed, head, "
    "norm:final, first-half, second-half, all (T5: encoder, decoder). Default: embed, each block (see --group), "
    "norm:final, head. For alpha: the parts interpolated (default all)."
)


def graft(
    base: str = typer.Argument(..., metavar="BASE", help="Base model: hub id, local directory, .gguf or catalog name."),
    tuned: str = typer.Argument(
        None,
        metavar="TUNED",
        show_default=False,
        help="Tuned model of the same architecture (a `tuneshift tune` directory works: LoRA is merged there). "
        "Omit with --random-init.",
    ),
    sweep: list[str] = typer.Option(["leave-one-in"], "--sweep", "-s", metavar="NAME", help=SWEEP_HELP),
    parts: str = typer.Option(None, "--parts", metavar="LIST", show_default=False, help=PARTS_HELP),
    group: int = typer.Option(
        1, metavar="N", help="Blocks per part in the default parts (3: block:0-2, block:3-5...)."
    ),
    alpha: str = typer.Option("0,0.25,0.5,0.75,1", metavar="LIST", help="α values of the alpha sweep, in [0, 1]."),
    benchmark: list[str] = typer.Option(
        ..., "--benchmark", "-b", metavar="ID", help="Benchmark id (repeatable; `tuneshift score --list` shows them)."
    ),
    always: list[str] = typer.Option(
        None,
        "--always",
        metavar="NAME",
        help="A part kept tuned in every hybrid of the sweeps (repeatable), e.g. norm:final where the final norm "
        "carries most of the change; the table adds the base with only these tuned (the always baseline).",
    ),
    option: list[str] = typer.Option(
        None,
        "--option",
        "-o",
        metavar="[BENCHMARK:]KEY=VALUE",
        help="Benchmark option (repeatable), as for `tuneshift score`; with BENCHMARK: for one benchmark only.",
    ),
    out: Path = typer.Option(
        Path("tuneshift-graft"),
        metavar="DIR",
        help="Output directory: units/ (the stored results: resumable), graft.csv, graft.json, graft-<sweep>.png/.svg, "
        "report.html.",
    ),
    random_init: bool = typer.Option(
        False,
        "--random-init",
        help="Graft BASE's trained weights into its random-init control (TUNED = BASE).",
    ),
    seed: int = typer.Option(0, help="Seed of --random-init."),
    dtype: str = typer.Option("float32", metavar="DTYPE", help="Dtype of both models: float32, bfloat16, float16."),
    device: str = typer.Option("cpu", metavar="DEVICE", help="cpu, cuda, cuda:N, mps or auto."),
    cache: bool = typer.Option(True, help="Reuse / store readouts in the activation cache."),
) -> None:
    """Graft tuned parts into the base (and the reverse) and score each hybrid: the share of the base→tuned change
    of each benchmark that each part recovers, (hybrid − base) / (tuned − base), with intervals from the
    benchmark's own splits or stories. Hybrids are made in place on the one loaded base and restored after.

    Example: tuneshift graft smollm2-135m-instruct --random-init -s cumulative-bottom --group 3 --always norm:final
    -b Tuckute2024-ridge
    """
    from tuneshift.benchmarks.run import check_benchmarks, resolve_options
    from tuneshift.cli.score import parse_option_flags
    from tuneshift.errors import InvalidParameterError
    from tuneshift.graft import GraftPair, run_sweeps
    from tuneshift.models.load import load_model

    if random_init == (tuned is not None):
        raise InvalidParameterError(
            "TUNED", "a tuned model, or --random-init (not both)", tuned, "Pass TUNED or --random-init."
        )
    alphas = parse_alphas(alpha)
    options = parse_option_flags(option)
    resolve_options(check_benchmarks(benchmark), options)  # names, data and options checked before the loads
    base_model = load_model(base, dtype=dtype, device=device, random_init=random_init, seed=seed)
    tuned_model = load_model(tuned or base, dtype=dtype, device=device)
    pair = GraftPair(base_model, tuned_model)
    table = run_sweeps(
        pair, sweep, benchmark, out, units=parts, group=group, alphas=alphas, always=always or (), options=options,
        cache=cache,
    )  # fmt: skip
    shown = Table(title=f"{tuned_model.name} into {base_model.name}: share of the change recovered")
    for column in ("sweep", "part", "direction", "α", "benchmark", "score", "share [95 % CI]"):
        shown.add_column(column, justify="right" if column in ("α", "score", "share [95 % CI]") else "left")
    for row in table.itertuples(index=False):
        interval = f" [{row.share_ci_low:.2f}, {row.share_ci_high:.2f}]" if row.share_ci_low == row.share_ci_low else ""
        shown.add_row(
            row.sweep, row.part, row.direction, f"{row.alpha:g}", row.benchmark, f"{row.score:.4f}",
            f"{row.share:.2f}{interval}",
        )  # fmt: skip
    console.print(shown)
    console.print(f"Wrote {out / 'graft.csv'}, its figures and the report: {out / 'report.html'}")


def parse_alphas(text: str) -> list[float]:
    """``"0,0.5,1"`` → [0.0, 0.5, 1.0]; refused by name unless each is a number in [0, 1]."""
    from tuneshift.errors import InvalidParameterError

    try:
        values = [float(piece) for piece in text.split(",") if piece.strip()]
    except ValueError:
        values = []
    if not values or not all(0.0 <= v <= 1.0 for v in values):
        raise InvalidParameterError("--alpha", "comma-separated numbers in [0, 1], e.g. 0,0.25,0.5,0.75,1", text)
    return values
