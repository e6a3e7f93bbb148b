"""The report's sections, each built from a :class:`~tuneshift.report._run.Run` only when its data is there.

Every builder returns ``None`` when the run has nothing for it, so the page shows what is finished and
:func:`absent` says, in one place, which sections are missing and which file would have produced them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from tuneshift.report._embed import Figure, Table, cell, drawn, figure, file_figure, table
from tuneshift.report._run import Internals, Run

CARD_NAMES = {  # summary column → the card's shorter heading
    "benchmark": "benchmark",
    "best_layer": "best layer",
    "best_raw": "best raw",
    "best_normalized": "best norm.",
    "honest_raw": "honest raw",
    "honest_normalized": "honest norm.",
    "ceiling": "ceiling",
}
READING_PREFIX = "Futrell2018"  # the reading-time benchmarks (|r| and ΔLL)
COMPARED = [  # compare.csv columns shown (the file has every column)
    "benchmark",
    "base_best_layer",
    "base_best_raw",
    "tuned_best_layer",
    "tuned_best_raw",
    "change_best_raw",
    "pct_change_best_raw",
    "pct_ci_low",
    "pct_ci_high",
    "unit",
    "n_units",
    "wilcoxon_p",
    "base_honest_raw",
    "tuned_honest_raw",
    "pct_change_honest_raw",
    "base_best_normalized",
    "tuned_best_normalized",
    "note",
]
TOP_HEAD_PAIRS = 20  # rows of the top head word pairs table per model
PAIRS_SHOWN = 6  # word pairs shown per head dimension
SCATTER_LIMIT = 10  # alignment × property scatter plots drawn at most (the table lists every test)


@dataclass
class Card:
    """One model: its identity line and a small table of its per-benchmark scores."""

    model: str
    identity: str
    scores: Table


@dataclass
class InternalsView:
    """What one `tuneshift explain` folder contributes."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)


def model_cards(run: Run) -> tuple[list[Card], Table] | None:
    """Per model: best-layer and honest scores, ceilings, normalized scores; plus one table of all of them."""
    if run.summary.empty:
        return None
    identities = {row["model"]: row for row in run.methods.get("models", [])}
    shown = run.summary.rename(columns=CARD_NAMES)
    cards = [
        Card(model, _identity(identities.get(model, {})), table(rows, list(CARD_NAMES.values())))
        for model, rows in shown.groupby("model", sort=False)
    ]
    return cards, table(run.summary, ["model", *CARD_NAMES, "ci_low", "ci_high"])


def _identity(info: dict) -> str:
    parts = [f"{key} {info[key]}" for key in ("source", "dtype", "device", "quantization") if pd.notna(info.get(key))]
    if pd.notna(info.get("fingerprint")):
        parts.insert(0, f"fingerprint {str(info['fingerprint'])[:12]}")
    return " · ".join(parts)


def layer_profiles(run: Run) -> list[Figure] | None:
    """Per benchmark scored on more than one layer: every model on relative depth, honest choices as ticks."""
    from tuneshift.study.figures import layer_profiles as plot_profiles

    if run.scores.empty or "layer" not in run.scores:
        return None
    layered = run.scores[run.scores["layer"].notna()]
    layers_per_model = layered.groupby(["benchmark", "model"], sort=False)["layer"].nunique()
    depth = layers_per_model.groupby("benchmark", sort=False).max()
    benchmarks = list(depth.index[depth > 1])
    figures = []
    for benchmark in benchmarks:
        models = layered.loc[layered["benchmark"] == benchmark, "model"].unique()
        honest = {m: run.honest_layers(m, benchmark) for m in models if run.honest_layers(m, benchmark)}
        caption = (
            f"{benchmark}: raw score per layer on relative depth; dots mark each model's best layer, ticks at the "
            "bottom the layers the honest protocol chose in each split."
        )
        figures += _draw(
            run, f"layer profiles of {benchmark}", plot_profiles, layered, benchmark, honest or None, caption=caption
        )
    return figures or None


def changes(run: Run) -> dict | None:
    """Base vs tuned: the compare table (one pair) and/or the study's effects with their summary and bars."""
    from tuneshift.study.figures import change_bars

    compare, effects = run.tables.get("compare"), run.tables.get("effects")
    if compare is None and effects is None and run.compare is None:
        return None
    view: dict = {"facts": {}, "figures": [], "tables": []}
    for role, info in (run.compare or {}).get("models", {}).items():
        view["facts"][role] = " · ".join(str(info[k]) for k in ("name", "source", "fingerprint") if info.get(k))
    if compare is not None:
        if effects is None:
            from tuneshift.study.compare import effects_of

            caption = (
                "% change tuned vs base per benchmark (best layers), with the bootstrap CI of the change and the "
                "paired Wilcoxon p in the benchmark's own units (neuroids, splits or stories)."
            )
            view["figures"] += _draw(
                run, "change bars of compare.csv", change_bars, effects_of(compare), caption=caption
            )
        view["tables"].append(("Per benchmark: both models, the change and its paired test", table(compare, COMPARED)))
    if effects is not None and len(effects):
        caption = (
            "% change tuned vs base per benchmark: mean over pairs with its bootstrap CI (one dot per pair) and the "
            "Wilcoxon signed-rank p."
        )
        view["figures"] += _draw(run, "change bars of effects.csv", change_bars, effects, caption=caption)
        view["tables"].append(("Effect per pair and benchmark", table(effects)))
    if "effects_summary" in run.tables:
        view["tables"].append(("Effects averaged over pairs", table(run.tables["effects_summary"])))
    return view


def correlations(run: Run) -> dict | None:
    """Correlations of alignment with model properties: the table (r, p, FDR q) and one scatter per alignment ×
    property (tuned and base models coloured apart; the title shows the widest subset's Pearson r, the caption
    every subset's r, p, q and n)."""
    from tuneshift.study.figures import correlation_scatter

    found = run.tables.get("correlations")
    if found is None or found.empty:
        return None
    figures = []
    models = _model_table(run)
    if models is not None:
        pearson = found[found["method"] == "pearson"] if "method" in found else found
        pairs = pearson.groupby(["alignment", "property"], sort=False)
        for (alignment, prop), rows in list(pairs)[:SCATTER_LIMIT]:
            if alignment not in models or prop not in models:
                continue
            widest = rows.loc[rows["n"].idxmax()]
            shown = models if not str(widest["subset"]).startswith("tuned") else models[models["instruction_tuned"]]
            tests = "; ".join(
                f"{row.subset} models: r = {row.r:.3f}, p = {row.p:.3g}, FDR q = {row.q:.3g}, n = {row.n}"
                for row in rows.itertuples(index=False)
            )
            figures += _draw(
                run,
                f"scatter of {alignment} vs {prop}",
                correlation_scatter,
                shown,
                prop,
                alignment,
                r=widest["r"],
                p=widest["p"],
                caption=f"{alignment} vs {prop} (Pearson). {tests}.",
            )
    return {"table": table(found), "figures": figures}


def _model_table(run: Run) -> pd.DataFrame | None:
    """The study's model table (models.csv) with the alignment columns the correlations name, when it has them."""
    from tuneshift.errors import InvalidInputError
    from tuneshift.study.stats import prepare

    models = run.tables.get("models")
    if models is None:
        return None
    try:
        return prepare(models, str(run.directory / "models.csv"))
    except InvalidInputError:
        return None


def reading_times(run: Run) -> dict | None:
    """Reading-time benchmarks: pooled |r| and ΔLL with their CIs, and the score of each story."""
    if run.summary.empty:
        return None
    pooled = run.summary[run.summary["benchmark"].str.startswith(READING_PREFIX)]
    if pooled.empty:
        return None
    pooled = pooled.rename(columns={"best_raw": "score"})
    stories = pd.DataFrame(
        [
            {"model": model, "benchmark": benchmark, **story}
            for model, benchmark in zip(pooled["model"], pooled["benchmark"], strict=True)
            for story in _stories(run.details.get((model, benchmark), {}))
        ]
    )
    return {
        "pooled": table(pooled, ["model", "benchmark", "score", "ci_low", "ci_high", "unit", "n_words", "context"]),
        "stories": _story_table(stories) if len(stories) else None,
    }


def _stories(details: dict) -> list[dict]:
    """Per-story rows from the details: ``per_story`` records (with CIs) or the plain ``per_story_raw`` map."""
    if isinstance(details.get("per_story"), list):
        return [dict(story) for story in details["per_story"]]
    return [{"story": str(story), "score": value} for story, value in details.get("per_story_raw", {}).items()]


def _story_table(stories: pd.DataFrame) -> Table:
    """One row per model × benchmark, one column per story: the score, with its CI when recorded."""
    stories = stories.assign(story=stories["story"].astype(str))
    has_ci = {"ci_low", "ci_high"} <= set(stories.columns)
    order = sorted(stories["story"].unique(), key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    rows = []
    for (model, benchmark), group in stories.groupby(["model", "benchmark"], sort=False):
        by_story = group.set_index("story")
        row = [cell(model), cell(benchmark)]
        for story in order:
            if story not in by_story.index:
                row.append(cell(None))
                continue
            text, key = cell(by_story.at[story, "score"])
            if has_ci and pd.notna(by_story.at[story, "ci_low"]):
                text += f" [{cell(by_story.at[story, 'ci_low'])[0]}, {cell(by_story.at[story, 'ci_high'])[0]}]"
            row.append((text, key))
        rows.append(row)
    return Table(["model", "benchmark", *(f"story {s}" for s in order)], rows)


def internals(run: Run) -> list[InternalsView] | None:
    """What `tuneshift explain` wrote: instruction-attribution scores by source, heatmaps, FFN concept shares,
    top head word pairs, the instruction-verb comparison."""
    views = [_internals_view(run, found) for found in run.internals]
    return [view for view in views if view.figures or view.tables] or None


def _internals_view(run: Run, found: Internals) -> InternalsView:
    from tuneshift.interpret import plots
    from tuneshift.interpret.plots import plot_attribution

    where = found.directory.relative_to(run.directory).as_posix() if found.directory != run.directory else "."
    view = InternalsView(title=f"Internals ({where})")
    if found.instruction_scores is not None:
        by_source = (
            found.instruction_scores.groupby(["model", "source"], sort=False)["score"]
            .agg(mean="mean", sd="std", n="count")
            .reset_index()
        )
        view.tables.append(("Instruction-attribution score by source (mean over samples)", table(by_source)))
        if found.instruction_summary is not None and len(found.instruction_summary):
            view.tables.append(("Comparisons (one-sided Welch)", table(found.instruction_summary)))
    for path in found.heatmaps:
        view.figures.append(file_figure(path, caption=f"Attribution heatmap {path.stem} (prompt × response tokens)."))
    if found.attribution is not None:
        matrix, tokens = found.attribution
        view.figures += _draw(
            run,
            f"attribution heatmap in {where}",
            plot_attribution,
            matrix,
            tokens["prompt_tokens"],
            tokens["response_tokens"],
            title="",
            caption="Attribution heatmap (prompt × response tokens).",
            to_file=".png",
        )
    if found.ffn_shares is not None and len(found.ffn_shares):
        for scheme in ("level", "task"):
            caption = f"FFN concepts: share of explainable components per {scheme} category and layer group."
            view.figures += _draw(
                run,
                f"FFN {scheme} shares in {where}",
                plots.plot_category_shares,
                found.ffn_shares,
                scheme=scheme,
                caption=caption,
                to_file=".svg",
            )
        if found.ffn_compare is not None:
            view.tables.append(("FFN concept shares, base vs tuned (Fisher exact)", table(found.ffn_compare)))
    for role, frame in found.heads.items():
        view.tables.append((f"Top head word pairs ({role})", table(_top_pairs(frame))))
    if found.verbs_shares is not None and len(found.verbs_shares):
        caption = "Heads encoding instruction verbs vs frequent verbs, per layer group (base dashed)."
        view.figures += _draw(
            run, f"verb shares in {where}", plots.plot_verb_shares, found.verbs_shares, caption=caption, to_file=".svg"
        )
    if found.verbs_tests is not None:
        view.tables.append(("Instruction verbs vs frequent verbs", table(found.verbs_tests)))
    return view


def _top_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """The most energetic head dimensions (paper-format TSV) with their first few word pairs."""
    top = frame.sort_values("Score", ascending=False).head(TOP_HEAD_PAIRS)
    pairs = top["TopK"].fillna("").astype(str).str.split(r"\|\|\|").map(lambda p: ", ".join(p[:PAIRS_SHOWN]))
    return top.assign(TopK=pairs).drop(columns=[c for c in ("Size", "Type") if c in top])


def _draw(
    run: Run, what: str, plot: Callable[..., object], *args: object, caption: str, to_file: str = "", **kwargs: object
) -> list[Figure]:
    """[the embedded figure] of ``plot(*args, **kwargs)`` — a function returning a Figure, or with `to_file` (a
    suffix) one writing to a path given last — or [] with the error listed on the page: one figure that cannot be
    drawn must not take the rest of the report down."""
    try:
        if to_file:
            return [drawn(plot, *args, caption=caption, suffix=to_file, **kwargs)]
        return [figure(plot(*args, **kwargs), caption=caption)]
    except Exception as error:  # any plotting failure: named on the page with its error, the rest is shown
        run.unreadable[what] = f"{type(error).__name__}: {error}"
        return []


def failures(run: Run) -> Table | None:
    """Tasks of a study that failed, with their errors."""
    found = run.tables.get("failures")
    return table(found) if found is not None and len(found) else None


def missing(run: Run) -> Table | None:
    """Units planned or implied by the grid of models × benchmarks that are not finished (or failed)."""
    return table(run.missing) if len(run.missing) else None


def absent(run: Run, sections: dict) -> list[str]:
    """Sections this run has no data for, each with the file or command that would produce it."""
    needs = {
        "models": "scores: summary.json (tuneshift score)",
        "profiles": "per-layer scores: scores.csv (tuneshift score)",
        "changes": "base vs tuned: compare.csv / effects.csv (tuneshift compare, tuneshift study analyze)",
        "correlations": "correlations: correlations.csv (tuneshift study analyze)",
        "reading": "reading times: a Futrell2018 benchmark (tuneshift score -b Futrell2018-deltall)",
        "internals": "internals: tuneshift explain outputs (instruction_scores.csv, ffn_shares.csv, heads_*.tsv)",
    }
    return [text for key, text in needs.items() if sections.get(key) is None]
