"""Reports of the commands whose results are not score tables: `tuneshift localize` (where the network is, the
network against random units of its size with a permutation test, the ablation), `tuneshift tune` (the loss
curve, the data and options, the base), `tuneshift graft` (the share of the change each part recovers) and a
trajectory study (scores along the tuning run, seeds as the unit). One self-contained page each, in the style of
the main report, with the same SVG/PDF and Markdown/LaTeX copies.

>>> write_localize_report("localize-out")  # doctest: +SKIP
>>> write_tune_report("tuned-model-dir")  # doctest: +SKIP
>>> write_graft_report("tuneshift-graft")  # doctest: +SKIP
>>> write_trajectory_report("trajectory-out")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pandas as pd

from tuneshift._io import write_atomic
from tuneshift.errors import InvalidInputError
from tuneshift.report import figures
from tuneshift.report._embed import Figure, Table, figure, table
from tuneshift.report._export import DEFAULT_FIGURE_FORMATS, FIGURES_DIR, TABLES_DIR, save_figures, save_tables
from tuneshift.report._methods import flat_value
from tuneshift.report._render import TEMPLATES, report_path, tuneshift_version, write_run_report


@dataclass
class Section:
    """One section of a command's page: a paragraph, facts, figures and titled tables; `quiet` for hints."""

    key: str
    title: str
    text: str = ""
    facts: dict = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)
    quiet: bool = False


# -------------------------------------------------------------------------------------------------- localize
def localize_sections(out_dir: str | Path) -> list[Section]:
    """The sections of a `tuneshift localize --out DIR` folder (whatever of --score / --ablate / --compare ran)."""
    from tuneshift.localize import Localization
    from tuneshift.localize.figures import depth_figure

    out = Path(out_dir)
    network = Localization.load(out)
    info = json.loads((out / "localization.json").read_text())
    problems: dict[str, str] = {}
    scope = "per layer" if network.scope == "layer" else "of the model"
    depth_caption = "Selected units per layer (top) over the spread of the t-map across each layer's units (bottom)."
    where = Section(
        "network",
        "Where the network is",
        f"{network.model}: the {info['n_units_selected']} most selective units of {info['n_units_tested']} "
        f"(sentences > non-words, Welch t; top {network.top:.2%} {scope}), {info['n_distinct_dimensions']} "
        f"distinct residual dimensions; {info['n_q05']} units at FDR q < 0.05.",
        figures=_safe(problems, "depth", depth_figure, network, caption=depth_caption),
        tables=[("Units per layer", table(network.per_layer(), name="localize-layers"))],
    )
    sections = [where]
    scores = _csv(out / "network_scores.csv")
    if scores is not None:
        drawn_sets = {"units", "benchmark"} <= set(scores.columns)
        n_random = int((scores["units"] == "random").groupby(scores["benchmark"]).sum().max()) if drawn_sets else 0
        section = Section(
            "scores",
            "Network vs random model units",
            "Brain score of the network's units (all layers concatenated, the benchmark's own regression and "
            "splits) beside random unit sets of the same size; the one-sided permutation p is (1 + number of random "
            f"sets scoring at least the network) / (random sets + 1), so with {n_random} random sets it cannot go "
            f"below {1 / (n_random + 1):.3g}.",
        )
        try:
            benchmark = str(scores["benchmark"].iat[0])
            drawn, tests = figures.network_vs_random(scores, figures.metric_label(benchmark))
            caption = (
                "Network (◆) against random unit sets (●); lines: all units at the best and at the honest layer; "
                "dotted: noise ceiling."
            )
            section.figures.append(figure(drawn, caption, name="localize-vs-random"))
            frame = pd.DataFrame([{"benchmark": b, **t} for b, t in tests.items()])
            section.tables.append(("Permutation test", table(frame, name="localize-test")))
        except (KeyError, IndexError, ValueError) as error:
            problems["network_scores.csv"] = f"{type(error).__name__}: {error}"
        section.tables.append(("network_scores.csv", table(scores, name="localize-scores")))
        sections.append(section)
    ablation = _csv(out / "ablation.csv")
    if ablation is not None:
        sections.append(
            Section(
                "ablation",
                "Ablation",
                "Natural Stories read with the network's units set to "
                f"{ablation['ablation'].iat[0] if 'ablation' in ablation else 'zero'}, and with random unit sets of "
                "the same size: the change in mean surprisal (bits per word) and, when measured, in the fit to "
                "reading times.",
                figures=_safe(
                    problems,
                    "ablation",
                    figures.ablation_effects,
                    ablation,
                    caption="Ablating the network (◆) vs random units (●).",
                ),
                tables=[("ablation.csv", table(ablation, name="localize-ablation"))],
            )
        )
    pairs = _csv(out / "pairs.csv")
    if pairs is not None:
        sections.append(Section("pairs", "Base vs tuned networks", "Overlap (Jaccard) of the two networks per layer "
                                "and over the model, and the correlation of their t-maps.",
                                tables=[("pairs.csv", table(pairs, name="localize-pairs"))]))  # fmt: skip
    hints = [
        text
        for name, text in (
            ("network_scores.csv", "--score BENCHMARK scores the network against random units"),
            ("ablation.csv", "--ablate ablates it on Natural Stories"),
            ("pairs.csv", "--compare BASE_DIR compares it with a base model's network"),
        )
        if not (out / name).exists()
    ]
    sections.append(Section("methods", "Methods", facts={key: flat_value(value) for key, value in info.items()}))
    return sections + _quiet(hints, problems, "tuneshift localize")


# ------------------------------------------------------------------------------------------------------ tune
def tune_sections(out_dir: str | Path) -> list[Section]:
    """The sections of a tuned model directory (`tuneshift tune --out DIR`): loss curve, data, options, base."""
    out = Path(out_dir)
    record_path = out / "tuneshift-tune.json"
    if not record_path.is_file():
        raise InvalidInputError(f"{out}: no tuneshift-tune.json; give the --out folder of a finished `tuneshift tune`.")
    record = json.loads(record_path.read_text())
    problems: dict[str, str] = {}
    loss = _csv(out / "loss.csv")
    curve = Section(
        "loss",
        "Training loss",
        f"{record.get('steps', '?')} optimizer steps; loss {record.get('initial_loss', float('nan')):.4g} at the "
        f"first step, {record.get('final_loss', float('nan')):.4g} at the end ({record.get('final_loss_note', '')}).",
    )
    if loss is not None:
        title = f"{record.get('base_name', record.get('base', ''))} → {out.name}"
        curve.figures = _safe(problems, "loss curve", figures.loss_curve, loss, title,
                              caption="Loss per optimizer step (nats per response token), its running mean, and the "
                              "learning rate (dashed, right axis).")  # fmt: skip
    base = {key: record[key] for key in ("base", "base_name", "base_source", "base_fingerprint") if key in record}
    run = {
        key: flat_value(record[key])
        for key in ("steps", "trainable_parameters", "tokens", "tokens_per_s", "wall_time_s", "peak_memory_mb",
                    "run_key", "torch", "transformers")
        if key in record
    }  # fmt: skip
    known = {*base, *run, "data", "options", "initial_loss", "final_loss", "final_loss_note"}
    run |= {key: flat_value(value) for key, value in record.items() if key not in known}
    sections = [
        curve,
        Section("base", "Base model", facts=base),
        Section("data", "Data", facts=_facts(record.get("data", {}))),
        Section("options", "Options", facts=_facts(record.get("options", {}))),
        Section("run", "Run", facts=run),
    ]
    hints = [f"`tuneshift compare {out}` scores it against its base (the base is read from tuneshift-tune.json)"]
    return sections + _quiet(hints, problems, "tuneshift tune")


# ----------------------------------------------------------------------------------------------------- graft
GRAFT_TEXT = {
    "leave-one-in": "The base with one part of the tuned model grafted in: what each part carries on its own.",
    "leave-one-out": "The tuned model with one part restored to the base: what is lost without each part.",
    "cumulative-bottom": "The base with the tuned parts from the bottom up to each row: where the change builds up.",
    "cumulative-top": "The base with the tuned parts from the top down to each row.",
    "attn-ffn": "The base with the tuned attention, feed-forward or norms of the blocks: which sublayer carries it.",
}
HYBRID_COLUMNS = ["part", "parts", "always", "direction", "alpha", "benchmark", "score", "honest", "share",
                  "share_ci_low", "share_ci_high", "ci_from", "seconds"]  # fmt: skip


def graft_sections(out_dir: str | Path) -> list[Section]:
    """The sections of a `tuneshift graft --out DIR` folder: the pair and its absolute scores, one heatmap of the
    share recovered per part sweep, the α curves, every hybrid, wall times (from graft.csv and graft.json)."""
    out = Path(out_dir)
    frame = _csv(out / "graft.csv")
    if frame is None:
        raise InvalidInputError(f"{out}: no graft.csv; give the --out folder of a finished `tuneshift graft`.")
    frame[["parts", "always"]] = frame.reindex(columns=["parts", "always"]).fillna("")
    record = json.loads((out / "graft.json").read_text()) if (out / "graft.json").is_file() else {}
    problems: dict[str, str] = {}
    ends = frame[frame["sweep"] == "ends"]
    absolute = ends.pivot_table(index="benchmark", columns="part", values="score", aggfunc="first")
    absolute = absolute.reindex(columns=[c for c in ("base", "tuned", "always") if c in absolute.columns])
    absolute = absolute.assign(change=absolute["tuned"] - absolute["base"]).rename_axis(columns=None)
    if "always" in absolute:
        share = ends[ends["part"] == "always"].set_index("benchmark")["share"]
        absolute = absolute.rename(columns={"always": "always baseline"}).assign(**{"always baseline share": share})
    kept = record.get("always") or sorted({a for a in frame["always"] if a})
    sweeps = [s for s in dict.fromkeys(frame["sweep"]) if s != "ends"]
    what = (
        f"{record.get('tuned', 'the tuned model')} grafted into {record.get('base', 'the base')}: the share of the "
        "base→tuned change of each benchmark's best-layer raw score a hybrid recovers, (hybrid − base) / (tuned − "
        "base) — 0: none of the change, 1: all of it. Intervals (95 %) resample the benchmark's paired units "
        "(splits, stories) for base, tuned and hybrid together; without them, the hybrid's own score interval."
    )
    if kept:
        what += (
            f" Kept tuned in every hybrid: {', '.join(kept)}; the always baseline is the base with only those tuned "
            "(a row's share minus the baseline's is what that row adds)."
        )
    shown = ("base", "base_fingerprint", "tuned", "tuned_fingerprint", "tuned_source", "tuned_from", "units",
             "group", "alphas", "options")  # fmt: skip
    facts = {key: flat_value(record[key]) for key in shown if record.get(key) not in (None, "", [], {})}
    sections = [
        Section(
            "pair",
            "Base and tuned",
            what,
            facts={**facts, "sweeps": ", ".join(sweeps) or "none", "always tuned": ", ".join(kept) or "none"},
            tables=[("Absolute scores (best-layer raw)", table(absolute.reset_index(), name="graft-ends"))],
        )
    ]
    for sweep in sweeps:
        rows = frame[frame["sweep"] == sweep].sort_values(["step", "benchmark"])
        if sweep == "alpha":
            title = "α curve"
            text = "base + α·(tuned − base) on the parts named; the dotted diagonal is a change linear in the weights."
            caption = "Share of the change recovered against α, with its 95 % interval."
            drawn = _safe(problems, "graft-alpha", figures.alpha_curves, frame, caption=caption)
        else:
            title, text = sweep, GRAFT_TEXT.get(sweep, "")
            caption = "Share of the base→tuned change per part (rows) and benchmark (columns), 95 % interval below it."
            drawn = _safe(problems, f"graft-{sweep}", figures.share_heatmap, frame, sweep, caption=caption)
        hybrids = table(rows, HYBRID_COLUMNS, name=f"graft-{sweep}")
        sections.append(
            Section(f"sweep-{sweep}", title, text, figures=drawn, tables=[(f"Hybrids of {sweep}", hybrids)])
        )
    steps = frame.drop_duplicates(["sweep", "step"])
    wall = steps.groupby("sweep", sort=False).agg(hybrids=("step", "size"), seconds=("seconds", "sum")).reset_index()
    sections.append(
        Section(
            "wall",
            "Wall time",
            f"{steps['seconds'].sum():.1f} s in all: each hybrid scored on {frame['benchmark'].nunique()} "
            "benchmark(s) in the run that wrote graft.csv (a hybrid found finished in the results store takes ~0 s).",
            tables=[("Wall time per sweep", table(wall, name="graft-wall"))],
        )
    )
    more = {"leave-one-in": "what each part carries alone", "cumulative-bottom": "where the change builds up",
            "alpha": "the α curve"}  # fmt: skip
    hints = [f"-s {sweep}: {why}" for sweep, why in more.items() if sweep not in sweeps]
    return sections + _quiet(hints, problems, "tuneshift graft")


# ------------------------------------------------------------------------------------------------ trajectory
def trajectory_sections(out_dir: str | Path) -> list[Section]:
    """The sections of a trajectory study folder (`tuneshift study run|trajectory FILE --out DIR`): the design and
    its seeds, the scores along the run per arm (seed bands, each seed, the base), the arm differences with seeds
    as the unit, the training losses, and the table per checkpoint — whatever has finished."""
    from tuneshift.study.trajectory import compare_arms, summarize, training_losses, trajectory_table

    out = Path(out_dir)
    if not (out / "trajectory.json").is_file():
        raise InvalidInputError(f"{out}: no trajectory.json; give the --out folder of a trajectory study.")
    record = json.loads((out / "trajectory.json").read_text())
    problems: dict[str, str] = {}
    frame = trajectory_table(out)
    seeds, arms = record.get("seeds", []), [arm["name"] for arm in record.get("arms", [])]
    tuned = frame[frame["step"] > 0]
    finished = tuned.groupby("arm")["seed"].nunique().to_dict() if len(tuned) else {}
    n = len(seeds)
    design = (
        f"{record.get('base')} tuned in {len(arms)} arm(s) ({', '.join(arms)}) × {n} seed(s) "
        f"({', '.join(map(str, seeds))}) for {record.get('steps')} steps, a checkpoint every "
        f"{record.get('save_every')} (step 0 is the base), scored on {', '.join(record.get('benchmarks', []))}."
    )
    spread = (
        "with one seed there is no interval, and no test between arms."
        if n == 1
        else f"the band is the 95 % t-interval over them, on {n - 1} degree(s) of freedom."
    )
    plain = f"{design} n = {n} seed(s) per arm: seeds are the unit of replication; each curve is their mean, {spread}"
    if finished and any(finished.get(arm, 0) < n for arm in arms):
        plain += " Finished so far: " + ", ".join(f"{arm} {finished.get(arm, 0)} of {n} seeds" for arm in arms) + "."
    facts = {"holdout": record.get("holdout_note", record.get("holdout")), "data": record.get("data"),
             "tuning options": flat_value(record.get("tune_options") or {}) or "defaults",
             "benchmark options": flat_value(record.get("benchmark_options") or {}) or "defaults",
             "checkpoint steps": flat_value(record.get("checkpoint_steps", []))}  # fmt: skip
    sections = [Section("design", "Design", plain, facts=facts)]
    if len(frame):
        summary = summarize(frame)
        caption = (
            "Per benchmark, the score against the optimizer step: per arm the mean over seeds (dots) with its 95 % "
            "t-interval (band) and each seed (thin lines); dashed grey: the base (step 0)."
        )
        pairs = [compare_arms(frame, a, b) for i, a in enumerate(sorted(arms)) for b in sorted(arms)[i + 1 :]]
        differences = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame()
        sections.append(
            Section(
                "curves",
                "Scores along the run",
                figures=_safe(problems, "trajectory", figures.trajectory_curves, frame, summary, caption=caption),
                tables=[("Difference between arms (seeds as the unit)", table(differences, name="arm-differences"))]
                if len(differences)
                else [],
            )
        )
    losses = training_losses(out)
    if len(losses):
        caption = "Training loss of every (arm, seed) run: colour by arm, line style by seed."
        sections.append(
            Section(
                "loss",
                "Training loss",
                figures=_safe(problems, "trajectory-loss", figures.trajectory_losses, losses, caption=caption),
            )
        )
    if len(frame):
        per_checkpoint = summarize(frame).rename(columns={"mean": "mean best_raw"})
        sections.append(
            Section(
                "checkpoints",
                "Per checkpoint",
                "Mean and 95 % interval over seeds per benchmark, arm and step (tokens seen and training loss are "
                "means over seeds; loss: mean since the previous checkpoint, nats per loss token), then every "
                "checkpoint.",
                tables=[
                    ("Per checkpoint, over seeds", table(per_checkpoint, name="trajectory-summary")),
                    ("Every checkpoint", table(frame.drop(columns=["base"]), name="trajectory")),
                ],
            )
        )
    hints = [] if len(frame) else ["nothing is scored yet: `tuneshift study run FILE --out DIR` resumes the study"]
    return sections + _quiet(hints, problems, "tuneshift study run")


# ---------------------------------------------------------------------------------------------------- writing
def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    tables: Sequence[str] = (),
    figures: Sequence[str] = DEFAULT_FIGURE_FORMATS,
) -> Path:
    """Write the report of `run_dir` to `out` (an .html file, or a folder to hold report.html; default
    ``run_dir/report.html``) atomically, each figure also in `figures` formats (SVG and PDF; png; none: ``()``) in
    ``report-figures/`` and, with `tables` (``"md"``, ``"tex"``), each table in ``report-tables/``, both beside the
    page; return the page's path. A read-only `run_dir` is read without writing anything there and needs `out`
    (refused by name without it). A `tuneshift localize` folder, a tuned model directory, a `tuneshift graft`
    folder or a trajectory study gets its own page
    (:func:`write_localize_report`, :func:`write_tune_report`, :func:`write_graft_report`,
    :func:`write_trajectory_report`)."""
    folder = Path(run_dir)
    for kind, marker in (("trajectory", "trajectory.json"), ("graft", "graft.csv"), ("localize", "localization.json")):
        if (folder / marker).is_file():
            return write_page(kind, folder, out, tables=tables, figures=figures)
    if (folder / "tuneshift-tune.json").is_file() and not (folder / "summary.json").exists():
        return write_page("tune", folder, out, tables=tables, figures=figures)
    return write_run_report(folder, out, tables=tables, figures=figures)


#: The commands with a page of their own: folder kind → its sections (the rest get :func:`write_run_report`).
PAGES: dict[str, Callable[[Path], list[Section]]] = {
    "localize": localize_sections,
    "tune": tune_sections,
    "graft": graft_sections,
    "trajectory": trajectory_sections,
}


def write_page(
    kind: str,
    out_dir: str | Path,
    out: str | Path | None = None,
    *,
    tables: Sequence[str] = (),
    figures: Sequence[str] = DEFAULT_FIGURE_FORMATS,
) -> Path:
    """Write the page of a `kind` folder (:data:`PAGES`: a `tuneshift localize` folder, a tuned model directory, a
    `tuneshift graft` folder, a trajectory study) to `out` (default ``out_dir/report.html``; figure and table copies
    as :func:`write_report` writes them); return its path."""
    path = report_path(out_dir, out)
    return _write(out_dir, kind, PAGES[kind](Path(out_dir)), path, tables, figures)


write_localize_report = partial(write_page, "localize")
write_tune_report = partial(write_page, "tune")
write_graft_report = partial(write_page, "graft")
write_trajectory_report = partial(write_page, "trajectory")


def _write(
    out_dir, command: str, sections: list[Section], path: Path, tables: Sequence[str], formats: Sequence[str]
) -> Path:
    """Render `sections` into the page at `path` (:func:`report_path`), the figure and table copies beside it."""
    folder = Path(out_dir)
    html = TEMPLATES.get_template("page.html.j2").render(
        command=command,
        name=folder.resolve().name,
        directory=str(folder.resolve()),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=tuneshift_version(),
        sections=sections,
    )
    save_figures([f for s in sections for f in s.figures], path.parent / FIGURES_DIR, formats)
    save_tables([t for s in sections for _, t in s.tables], path.parent / TABLES_DIR, tables)
    return write_atomic(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))


def _csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def _facts(values: dict) -> dict:
    return {key: flat_value(value) for key, value in values.items()} if isinstance(values, dict) else {"": values}


def _safe(problems: dict[str, str], what: str, plot: Callable[..., object], *args: object, caption: str) -> list:
    """[the figure] or [] with the error kept for the page (one figure must not take the page down)."""
    try:
        return [figure(plot(*args), caption, name=f"{what}")]
    except Exception as error:  # any plotting failure is named on the page
        problems[what] = f"{type(error).__name__}: {error}"
        return []


def _quiet(hints: list[str], problems: dict[str, str], command: str) -> list[Section]:
    """A quiet closing section: what this command can add (options not used) and figures that failed."""
    if not hints and not problems:
        return []
    text = f"Not measured in this run ({command} options that would add it): " + "; ".join(hints) if hints else ""
    return [Section("more", "Not in this run", text, facts=problems, quiet=True)]
