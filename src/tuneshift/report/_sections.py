"""The report's sections, each built from a :class:`~tuneshift.report._run.Run` only when its data is there.

Every builder returns ``None`` when the run has nothing for it, so the page shows what is finished and
:func:`absent` says, in one place, which sections are missing and which file would have produced them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift.errors import InvalidInputError
from tuneshift.report import figures
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
    "effect",
    "higher_is_better",
    "paired_unit",
    "n_paired",
    "test",
    "p",
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


def benchmark_kind(run: Run, benchmark: str) -> str | None:
    """The kind of `benchmark` (neural, behavioral, capability, similarity): as its unit recorded it, else as the
    registered benchmark of its id declares it; None for an id this tuneshift does not know."""
    recorded = run.summary.loc[run.summary["benchmark"] == benchmark, "kind"] if "kind" in run.summary else []
    if len(recorded) and pd.notna(recorded.iat[0]):
        return str(recorded.iat[0])
    from tuneshift.benchmarks import BENCHMARKS
    from tuneshift.errors import UnknownNameError

    try:
        return BENCHMARKS.get(benchmark.split(" [")[0]).kind
    except UnknownNameError:
        return None


def model_cards(run: Run) -> tuple[list[Card], Table] | None:
    """Per model: best-layer and honest scores, ceilings, normalized scores, a flag where the best layer is ≫ the
    honest score; plus one table of all of them."""
    if run.summary.empty:
        return None
    identities = {row["model"]: row for row in run.methods.get("models", [])}
    flagged = run.summary.assign(
        note=[
            "best ≫ honest: optimistic" if figures.optimistic(best, honest) and layer == layer else ""
            for best, honest, layer in zip(
                run.summary["best_raw"], run.summary["honest_raw"], run.summary["best_layer"], strict=True
            )
        ]
    )
    shown = flagged.rename(columns=CARD_NAMES)
    controls = run.controls
    cards = [
        Card(
            model + (" (random-init control)" if model in controls else ""),
            _identity(identities.get(model, {})),
            table(rows, [*CARD_NAMES.values(), "note"]),
        )
        for model, rows in shown.groupby("model", sort=False)
    ]
    return cards, table(flagged, ["model", *CARD_NAMES, "ci_low", "ci_high", "note"], name="all scores")


def _identity(info: dict) -> str:
    parts = [f"{key} {info[key]}" for key in ("source", "dtype", "device", "quantization") if pd.notna(info.get(key))]
    if pd.notna(info.get("fingerprint")):
        parts.insert(0, f"fingerprint {str(info['fingerprint'])[:12]}")
    return " · ".join(parts)


def ylabel(run: Run, benchmark: str) -> str:
    """The axis label of `benchmark`'s scores: its metric as the run recorded or registered it."""
    rows = run.summary[run.summary["benchmark"] == benchmark] if len(run.summary) else run.summary
    unit = rows["unit"].dropna().iat[0] if "unit" in rows and rows["unit"].notna().any() else None
    protocol = next(
        (run.details.get((m, benchmark), {}).get("protocol") for m in rows.get("model", [])), None
    )  # recorded by the benchmark (what actually ran), when it records it
    return figures.metric_label(benchmark, unit if isinstance(unit, str) else None, protocol)


def per_split(run: Run, model: str, benchmark: str) -> np.ndarray | None:
    """(layers, splits) scores of `model` on `benchmark` as the benchmark aggregates them (median over neuroids,
    mean over datasets), from the unit's values (``r(layer, split, neuroid)``, or the measure's ``(layer,
    split)`` scores: CKA / RSA) or the per-split scores its details keep; None when the run kept neither."""
    values = run.values(model, benchmark)
    if values is not None and "r" in values and {"layer", "split", "neuroid"} == set(values["r"].dims):
        r = values["r"].transpose("layer", "split", "neuroid")
        if "dataset" in r.coords and r.coords["dataset"].dims == ("neuroid",):
            return r.groupby("dataset").median("neuroid").mean("dataset").transpose("layer", "split").to_numpy()
        return r.median("neuroid").to_numpy()
    measure = values.attrs.get("measure") if values is not None else None
    if measure in getattr(values, "data_vars", {}) and set(values[measure].dims) == {"layer", "split"}:
        scores = values[measure].transpose("layer", "split")
        if "dataset" not in scores.coords:
            return scores.to_numpy()
        parts = [part.to_numpy() for _, part in scores.groupby("dataset")]  # each dataset's own subsets
        return np.mean(parts, axis=0) if len({p.shape for p in parts}) == 1 else None
    found = _collect_arrays(run.details.get((model, benchmark), {}), "per_split")
    shapes = {array.shape for array in found}
    return np.mean(found, axis=0) if found and len(shapes) == 1 and found[0].ndim == 2 else None


def _collect_arrays(entry: object, key: str) -> list[np.ndarray]:
    if not isinstance(entry, dict):
        return []
    here = [np.asarray(entry[key], dtype=float)] if key in entry else []
    return here + [a for value in entry.values() for a in _collect_arrays(value, key)]


def layer_profiles(run: Run) -> list[Figure] | None:
    """Per benchmark scored on more than one layer: every model on relative depth with CIs across splits, the
    noise ceiling and random-init controls as reference lines, honest choices as ticks."""
    if run.scores.empty or "layer" not in run.scores:
        return None
    layered = run.scores[run.scores["layer"].notna()]
    layers_per_model = layered.groupby(["benchmark", "model"], sort=False)["layer"].nunique()
    depth = layers_per_model.groupby("benchmark", sort=False).max()
    controls = run.controls
    result = []
    for benchmark in depth.index[depth > 1]:
        rows = layered[layered["benchmark"] == benchmark]
        profiles = []
        for model, group in rows.groupby("model", sort=False):
            group = group.sort_values("layer")
            splits = per_split(run, model, benchmark)
            low = high = np.full(len(group), np.nan)
            if splits is not None and len(splits) == len(group):
                _, low, high = figures.t_interval(splits)
            summary = run.summary[(run.summary["model"] == model) & (run.summary["benchmark"] == benchmark)]
            profiles.append(
                figures.Profile(
                    model, group["layer"].to_numpy(dtype=float), group["raw"].to_numpy(dtype=float), low, high,
                    control=model in controls,
                    honest_raw=float(summary["honest_raw"].iat[0]) if len(summary) else float("nan"),
                    honest_layers=tuple(run.honest_layers(model, benchmark)),
                )
            )  # fmt: skip
        ceiling = rows["ceiling"].dropna()
        banded = any(np.isfinite(p.ci_low).any() for p in profiles)
        caption = (
            f"{benchmark}: {ylabel(run, benchmark)} per layer on relative depth; dots mark each model's best layer, "
            "ticks at the bottom the layers the honest protocol chose in each split"
            + ("; bands: 95 % t interval across cross-validation splits (splits share stimuli: optimistic)" if banded
               else "; no per-split scores stored for this run, so no interval")
            + (f"; dotted: noise ceiling {float(ceiling.iat[0]):.3g}" if len(ceiling) else "; no noise ceiling")
            + ("; grey dashed: random-init control." if any(p.control for p in profiles) else ".")
        )  # fmt: skip
        result += _draw(
            run, f"profile {benchmark}", figures.layer_profile, profiles, benchmark, ylabel(run, benchmark),
            float(ceiling.iat[0]) if len(ceiling) else None, caption=caption,
        )  # fmt: skip
    return result or None


def changes(run: Run) -> dict | None:
    """Base vs tuned: absolute scores of both with CIs beside the % change, n and the paired test as the terminal
    states them (one pair: compare), or the study's % change per pair; the tables; a tuned model's provenance."""
    compare, effects = run.tables.get("compare"), run.tables.get("effects")
    if compare is None and effects is None and run.compare is None:
        return None
    view: dict = {"facts": {}, "figures": [], "tables": [], "tune": None, "note": ""}
    models = (run.compare or {}).get("models", {})
    controls = run.controls
    for role, info in models.items():
        text = " · ".join(str(info[k]) for k in ("name", "source", "fingerprint") if info.get(k))
        view["facts"][role] = text + (" · random-init control" if info.get("random_init") else "")
    view["tune"] = _tune_record(run)
    if compare is not None and len(compare):
        base, tuned = str(compare["base"].iat[0]), str(compare["tuned"].iat[0])
        control = base in controls or bool(models.get("base", {}).get("random_init"))
        panels = [_change(run, row) for row in compare.to_dict("records")]
        caption = (
            f"{tuned} vs {base}" + (" (the base is a random-init control: this is what training does)" if control
                                    else "") + ": best-layer score of each model with its 95 % interval (splits or "
            "stories), and beneath, the % change with the bootstrap CI of the change and the paired Wilcoxon "
            "signed-rank test over the benchmark's paired units (neuroids, splits, stories or items), as "
            "`tuneshift compare` prints them."
        )  # fmt: skip
        view["figures"] += _draw(
            run, "base vs tuned", figures.change_panels, panels, base, tuned, control=control, caption=caption
        )
        view["tables"].append(
            ("Per benchmark: both models, the change and its paired test", table(compare, COMPARED, name="compare"))
        )
    if effects is not None and len(effects):
        from tuneshift.study.stats import summarize_effects

        caption = (
            "% change tuned vs its base per benchmark: one dot per base/tuned pair, the mean over pairs with its "
            "bootstrap CI (pairs resampled), n pairs and the Wilcoxon signed-rank p over pairs; a benchmark where "
            "lower is better (a loss) is marked so, its improvements are negative % changes."
        )
        view["figures"] += _draw(
            run, "effects per pair", figures.effects_strip, effects, summarize_effects(effects), caption=caption
        )
        view["tables"].append(("Effect per pair and benchmark", table(effects, name="effects")))
    elif effects is not None:
        view["note"] = (
            "0 base/tuned pairs: no model of this study names a base_model that is also in the study, so there is "
            "no instruction-tuning effect to estimate."
        )
    if "effects_summary" in run.tables:
        view["tables"].append(("Effects averaged over pairs", table(run.tables["effects_summary"])))
    return view


def _change(run: Run, row: dict) -> figures.Change:
    """One compare.csv row as the figure's panel: absolute scores with their intervals, % change, the test."""
    benchmark = row["benchmark"]
    intervals = [_score_interval(run, row[role], benchmark, row[f"{role}_best_layer"]) for role in ("base", "tuned")]
    unit, n = row.get("paired_unit", "none"), row.get("n_paired", 0)  # run.tables' compare has the current names
    plural = {"neuroid": "neuroids", "split": "splits", "story": "stories", "item": "items"}.get(unit, unit)
    p = row.get("p", row.get("wilcoxon_p"))  # compare.csv files written before `test`/`p` have wilcoxon_p only
    name = row.get("test") if isinstance(row.get("test"), str) else "Wilcoxon signed-rank"
    test = (
        f"n = {int(n)} {plural}, {name} p = {p:.3g}"
        if unit != "none" and pd.notna(p)
        else "no paired test (no paired values stored)"
    )
    higher = str(row.get("higher_is_better", True)).lower() not in ("false", "0", "0.0")
    effect = row.get("effect") if isinstance(row.get("effect"), str) else ""
    return figures.Change(
        benchmark, ylabel(run, benchmark), float(row["base_best_raw"]), float(row["tuned_best_raw"]),
        intervals[0], intervals[1], float(row.get("pct_change_best_raw", np.nan)),
        (float(row.get("pct_ci_low", np.nan)), float(row.get("pct_ci_high", np.nan))), test, effect, higher,
    )  # fmt: skip


def _score_interval(run: Run, model: str, benchmark: str, layer: object) -> tuple[float, float]:
    """A model's score interval on a benchmark: the recorded CI (reading times: stories resampled), else the 95 %
    t interval across splits at its best layer, else NaN."""
    rows = run.summary[(run.summary["model"] == model) & (run.summary["benchmark"] == benchmark)]
    if len(rows) and "ci_low" in rows and pd.notna(rows["ci_low"].iat[0]):
        return float(rows["ci_low"].iat[0]), float(rows["ci_high"].iat[0])
    splits = per_split(run, model, benchmark)
    scored = run.scores[(run.scores["model"] == model) & (run.scores["benchmark"] == benchmark)]
    layers = list(scored.sort_values("layer")["layer"])
    if splits is not None and pd.notna(layer) and layer in layers and len(splits) == len(layers):
        _, low, high = figures.t_interval(splits[layers.index(layer)])
        return float(low), float(high)
    return float("nan"), float("nan")


def _tune_record(run: Run) -> dict | None:
    """The tuned model's tuneshift-tune.json: as compare.json carries it, else read from the tuned source."""
    compare = run.compare or {}
    if isinstance(compare.get("tune"), dict):
        return compare["tune"]
    source = compare.get("models", {}).get("tuned", {}).get("source")
    if not source:
        return None
    from tuneshift.study.compare import tune_record

    try:
        return tune_record(source) if Path(str(source)).is_dir() else None
    except InvalidInputError as error:
        run.unreadable[f"{source}/tuneshift-tune.json"] = str(error)
        return None


def correlations(run: Run) -> dict | None:
    """Correlations of alignment with model properties: the table (r, p, FDR q), the Aw et al. Table 2 form
    (brain alignment vs each capability category, measured or imported, beside the paper's r) where table2.csv
    has tests, and one scatter per alignment × property (tuned and base models coloured apart; the title gives the
    widest subset's Pearson r, p, q and n, the caption every subset's)."""
    found = run.tables.get("correlations")
    if found is None or found.empty:
        return None
    form = run.tables.get("table2")
    tested = form[form["n"] > 0] if form is not None and "n" in form else None
    result = []
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
            title = (
                f"Pearson r = {widest['r']:.2f}, p = {widest['p']:.2g}, FDR q = {widest['q']:.2g}, "
                f"n = {int(widest['n'])} ({widest['subset']} models)"
            )
            result += _draw(
                run, f"correlation {alignment} vs {prop}", figures.correlation_scatter, shown, prop, alignment,
                title=title, ylabel=f"{alignment}: {ylabel(run, alignment)}" if alignment in set(run.summary.get(
                    "benchmark", [])) else None, caption=f"{alignment} vs {prop} (Pearson). {tests}.",
            )  # fmt: skip
    shown = ["subset", "benchmark", "category", "n", "r", "p", "q", "measured_by", "aw2023_r"]
    return {
        "table": table(found, name="correlations"),
        "table2": table(tested, shown, name="table2") if tested is not None and len(tested) else None,
        "figures": result,
    }


def _model_table(run: Run) -> pd.DataFrame | None:
    """The study's model table (models.csv) with the alignment columns the correlations name, when it has them."""
    from tuneshift.study.stats import prepare

    models = run.tables.get("models")
    if models is None:
        return None
    try:
        return prepare(models, str(run.directory / "models.csv"))
    except InvalidInputError:
        return None


def reading_times(run: Run) -> dict | None:
    """Reading-time benchmarks: a forest plot per benchmark (per-story scores and the pooled score with its
    story-bootstrap CI), surprisal vs reading time binned (when the units kept per-word surprisal), the tables."""
    if run.summary.empty:
        return None
    reading = [b for b in dict.fromkeys(run.summary["benchmark"]) if benchmark_kind(run, b) == "behavioral"]
    pooled = run.summary[run.summary["benchmark"].isin(reading)]
    if pooled.empty:
        return None
    pooled = pooled.rename(columns={"best_raw": "score"})
    stories = pd.DataFrame(
        [
            {"model": model, "benchmark": benchmark, **story}
            for model, benchmark in zip(pooled["model"], pooled["benchmark"], strict=True)
            for story in _stories(run, model, benchmark)
        ]
    )
    drawn_figures = []
    for benchmark in reading:
        mine = stories[stories["benchmark"] == benchmark] if len(stories) else stories
        pooled_rows = pooled[pooled["benchmark"] == benchmark]
        with_ci = len(mine) and "ci_low" in mine and mine["ci_low"].notna().any()
        caption = (
            f"{benchmark}: {ylabel(run, benchmark)} per story (squares"
            + (", with 95 % CIs resampling words within the story" if with_ci else "; per-story CIs not stored")
            + ") and pooled over stories (diamond: 95 % CI resampling stories)."
        )
        if len(mine):
            drawn_figures += _draw(
                run, f"stories {benchmark}", figures.story_forest, mine, pooled_rows, benchmark,
                ylabel(run, benchmark), caption=caption,
            )  # fmt: skip
    words = _surprisal_words(run, pooled)
    hint = ""
    if words is not None:
        caption = (
            "Mean reading time (ms, Natural Stories self-paced reading) against the model's surprisal (bits), in 12 "
            "equal-count bins of the scored words; bars: 95 % t interval over the bin's words."
        )
        drawn_figures += _draw(run, "surprisal vs reading time", figures.surprisal_vs_rt, words, caption=caption)
    else:
        hint = (
            "Surprisal against reading time (the binned plot) needs each word's surprisal, which the results of "
            "this run do not keep (the benchmark's per-word values)."
        )
    return {
        "figures": drawn_figures,
        "hint": hint,
        "pooled": table(
            pooled, ["model", "benchmark", "score", "ci_low", "ci_high", "unit", "n_words", "context"], name="reading"
        ),
        "stories": _story_table(stories) if len(stories) else None,
    }


def _surprisal_words(run: Run, pooled: pd.DataFrame) -> pd.DataFrame | None:
    """model, surprisal (bits), mean_rt (ms) of the words each model's reading-time unit scored, from the values
    its unit kept (one benchmark per model: both measures read the same surprisal)."""
    frames = {}
    for model, benchmark in zip(pooled["model"], pooled["benchmark"], strict=True):
        values = run.values(model, benchmark) if model not in frames else None
        if values is None or not {"surprisal", "mean_rt"} <= set(values.data_vars):
            continue
        frame = values[["surprisal", "mean_rt"]].to_dataframe().reset_index()
        if "used" in values:
            frame = frame[values["used"].to_numpy().astype(bool)]
        frames[model] = frame.assign(model=model)[["model", "surprisal", "mean_rt"]]
    return pd.concat(frames.values(), ignore_index=True) if frames else None


def _stories(run: Run, model: str, benchmark: str) -> list[dict]:
    """Per-story rows: from the unit's values (the measure named by ``attrs["measure"]`` with ``ci_low``/``ci_high``
    over ``story``), else the details' ``per_story`` records or the plain ``per_story_raw`` map."""
    values = run.values(model, benchmark)
    measure = values.attrs.get("measure", "raw") if values is not None else None
    if values is not None and "story" in values.dims and measure in values.data_vars:
        kept = [name for name in (measure, "ci_low", "ci_high") if name in values and values[name].dims == ("story",)]
        frame = values[kept].to_dataframe().reset_index().rename(columns={measure: "score"})
        return frame.assign(story=frame["story"].astype(str)).to_dict("records")
    details = run.details.get((model, benchmark), {})
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
    return Table(["model", "benchmark", *(f"story {s}" for s in order)], rows, name="reading-per-story")


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
        return [figure(plot(*args, **kwargs), caption=caption, name=what)]
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


def commands_run(run: Run) -> set[str]:
    """The commands whose outputs this directory holds (so that no hint suggests one of them again)."""
    ran = set()
    if not run.summary.empty:
        ran.add("score")
    if run.compare is not None or "compare" in run.tables:
        ran.add("compare")
    if run.study is not None:
        ran.add("study run")
    if {"effects", "correlations", "models"} & set(run.tables):
        ran.add("study analyze")
    if run.internals:
        ran.add("explain")
    return ran


def absent(run: Run, sections: dict) -> list[str]:
    """Sections this run has no data for, each with why (when its command ran) or what would produce it."""
    ran = commands_run(run)
    analyzed = "study analyze" in ran
    needs = {
        "models": "scores: `tuneshift score MODEL --out DIR`",
        "profiles": "layer profiles: none of the benchmarks scored here reads several layers (reading-time "
        "benchmarks score the output only)"
        if "score" in ran
        else "layer profiles: a neural benchmark scored with `tuneshift score`",
        "changes": "base vs tuned: this study has 0 base/tuned pairs"
        if analyzed
        else "base vs tuned: `tuneshift compare BASE TUNED --out DIR`",
        "correlations": "correlations: too few models with both a score and the property"
        if analyzed
        else "correlations: `tuneshift study analyze` on a study of several models",
        "reading": "reading times: no reading-time benchmark in this run (`-b Futrell2018-deltall` adds one)"
        if "score" in ran
        else "reading times: `tuneshift score -b Futrell2018-deltall`",
        "internals": "internals: `tuneshift explain` (instruction attribution, FFN concepts, attention heads)",
    }
    return [text for key, text in needs.items() if sections.get(key) is None]
