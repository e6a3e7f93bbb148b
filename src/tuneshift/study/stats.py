"""The statistics of Aw et al. 2023 on a table of models: instruction-tuning effects and alignment correlations.

The input is a *model table*: one row per model with ``model``, ``instruction_tuned``, ``base_model``, ``family``,
``params_b`` (billions), property columns (``mmlu``, ``bbh``, ``nwp_loss``) and one score column per benchmark
(the paper's ``pereira2018``, ``blank2014``, ``wehbe2014``, ``futrell2018``, or benchmark ids such as
``Tuckute2024-ridge`` in a study). The reference table aw2023_models.csv, the zoo's :meth:`Zoo.table` and
:func:`tuneshift.study.run.model_table` all have this layout.

* Effect of a pair (base, tuned) on a benchmark: ``pct_change = 100 · (tuned − base) / base``; averaged over pairs
  with a percentile bootstrap CI of the mean and a two-sided Wilcoxon signed-rank test of the changes. Capability
  columns (MMLU, BBH, WikiText2-nwp) get effects too. ``pct_change`` is the arithmetic change of the score; whether
  it is an improvement is the ``effect`` label (better / worse / no change), from the benchmark's declared
  direction (:func:`higher_is_better`: a loss falls when it improves), never from its name.
* A column's kind (neural, behavioral, similarity) is asked of the benchmark registry (:func:`benchmark_kind`),
  never parsed from a list of names: a new benchmark is known here once it is registered.
* Brain alignment: the table's ``brain_avg`` where it has one (the paper's own mean, computed from unrounded scores:
  averaging the rounded columns moves r(BBH) by 0.006), else the mean over the neural predictivity columns present
  (similarity benchmarks, CKA and RSA, are other units: analysed per benchmark only).
  Behavioral alignment: the reading-time column.
* Correlations: Pearson and Spearman of each alignment with log10 parameters, MMLU, BBH and NWP loss, over the tuned
  models and over all models; q = Benjamini–Hochberg over the whole family of tests of one method. A test whose
  models are exactly those of another subset (MMLU is reported for tuned models only, so "all" = "tuned") is kept
  once. NWP loss is correlated as given (a loss: higher = worse), so its r is positive where the paper prints −0.54.
* Aw et al.'s Table 2 form (:func:`table2`): Pearson r (p) of brain alignment with each MMLU category (STEM,
  humanities, social sciences, other) and overall, each BBH category (algorithmic, language understanding, world
  knowledge, multilingual, others; derived categories, see :mod:`tuneshift.data.bbh`) and overall, WikiText-2 NWP
  loss and log10 parameters; q = Benjamini–Hochberg over the table's tests (one family per subset). Each row says
  whether its property was measured here (the capability units' labels, from the table's ``measured_by``) or
  imported, and gives the r the paper prints (:data:`AW2023_TABLE2_R`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from tuneshift._io import write_csv, write_json
from tuneshift.errors import InvalidInputError, InvalidParameterError

ALIGNMENT_KINDS = ("neural", "behavioral", "similarity")  # score columns; capabilities are properties here
EFFECT_KINDS = (*ALIGNMENT_KINDS, "capability")  # the columns whose tuning effect is estimated
PROPERTIES = ("log10_params", "mmlu", "bbh", "nwp_loss")
BRAIN, BEHAVIOR = "brain_alignment", "behavioral_alignment"
#: Aw et al. 2023 Table 2's rows: (benchmark, row label, property column of the model table).
TABLE2_ROWS = (
    ("MMLU", "STEM", "mmlu_stem"),
    ("MMLU", "Humanities", "mmlu_humanities"),
    ("MMLU", "Social sciences", "mmlu_social_sciences"),
    ("MMLU", "Other", "mmlu_other"),
    ("MMLU", "Overall", "mmlu"),
    ("BBH", "Algorithmic", "bbh_algorithmic"),
    ("BBH", "Language understanding", "bbh_language_understanding"),
    ("BBH", "World knowledge", "bbh_world_knowledge"),
    ("BBH", "Multilingual", "bbh_multilingual"),
    ("BBH", "Others", "bbh_others"),
    ("BBH", "Overall", "bbh"),
    ("WikiText-2", "NWP loss (nats/token)", "nwp_loss"),
    ("Model size", "log10 parameters", "log10_params"),
)
#: r of brain alignment with each row as Aw et al. 2023 print it, per subset: over their instruction-tuned models,
#: Table 2 for the categories (3 decimals) and the text for overall MMLU (0.81), BBH (0.38), NWP loss (−0.54, sign
#: as printed) and size (0.95); over all models, size only (0.92). The categories cannot be recomputed from
#: published numbers (the paper gives no per-model category scores); the rest can, from the zoo's reported scores
#: (tests/study/test_study_docs.py).
AW2023_TABLE2_R = {
    "tuned": {
        "mmlu_stem": 0.792,
        "mmlu_humanities": 0.791,
        "mmlu_social_sciences": 0.807,
        "mmlu_other": 0.809,
        "mmlu": 0.81,
        "bbh_algorithmic": 0.194,
        "bbh_language_understanding": 0.163,
        "bbh_world_knowledge": 0.679,
        "bbh_multilingual": -0.035,
        "bbh_others": 0.478,
        "bbh": 0.38,
        "nwp_loss": -0.54,
        "log10_params": 0.95,
    },
    "all": {"log10_params": 0.92},
}
TABLE2_COLUMNS = ["subset", "benchmark", "category", "property", "n", "r", "p", "q", "higher_is_better"]
TABLE2_COLUMNS += ["measured_by", "aw2023_r"]
_OPERATORS = {"!=": operator.ne, ">=": operator.ge, "<=": operator.le, "==": operator.eq, "=": operator.eq}
_OPERATORS |= {">": operator.gt, "<": operator.lt}
_WHERE = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*(!=|>=|<=|==|=|>|<)\s*(.*?)\s*$")


def benchmark_kind(column: str) -> str | None:
    """The kind of a score column, as the registered benchmark declares it: a benchmark's id or label
    (``Tuckute2024-ridge [pooling=mean]``) → its kind; a dataset's name as the paper's tables use it
    (``pereira2018``: its predictivity) → the kind of that dataset's benchmarks, similarity variants aside; None for
    any other column."""
    from tuneshift.benchmarks import BENCHMARKS

    identifier = column.split(" [")[0]
    if identifier in BENCHMARKS:
        return BENCHMARKS.get(identifier).kind
    dataset = re.compile(rf"{re.escape(identifier)}[-.]", re.IGNORECASE)
    kinds = {BENCHMARKS.get(name).kind for name in BENCHMARKS if dataset.match(name)} - {"similarity"}
    return kinds.pop() if len(kinds) == 1 else None


def higher_is_better(column: str) -> bool:
    """Whether a larger value of a score or property column is better, as the registered benchmark declares it
    (``WikiText2-nwp`` and its property columns ``nwp_loss``, ``nwp_word_perplexity``: False); True for any other
    column (alignment scores, accuracies, size)."""
    from tuneshift.benchmarks import BENCHMARKS
    from tuneshift.benchmarks.capability import PROPERTY_COLUMNS

    identifier = column.split(" [")[0]
    owner = {prop: bench for bench, columns in PROPERTY_COLUMNS.items() for prop in columns.values()}
    identifier = owner.get(identifier, identifier)
    return BENCHMARKS.get(identifier).higher_is_better if identifier in BENCHMARKS else True


def effect_label(change: np.ndarray | pd.Series, better_when_higher: np.ndarray | pd.Series | bool) -> np.ndarray:
    """``better`` / ``worse`` / ``no change`` for each change (tuned − base) given its benchmark's direction; ``""``
    where the change is missing."""
    signed = np.sign(np.asarray(change, dtype=float)) * np.where(better_when_higher, 1.0, -1.0)
    return np.select([signed > 0, signed < 0, signed == 0], ["better", "worse", "no change"], default="")


def score_columns(table: pd.DataFrame, kinds: Sequence[str] = ALIGNMENT_KINDS) -> list[str]:
    """The benchmark score columns of a model table whose kind is in `kinds` (in that order; table order within):
    by default the alignment ones, neural, then behavioral, then similarity."""
    found = {column: benchmark_kind(str(column)) for column in table.columns}
    columns = [c for c, kind in found.items() if kind in kinds]
    return sorted(columns, key=lambda c: list(kinds).index(found[c]))


def prepare(table: pd.DataFrame, source: str = "table") -> pd.DataFrame:
    """A copy with booleans parsed, ``log10_params`` and the two alignment columns added; refuses missing columns."""
    missing = {"model", "instruction_tuned"} - set(table.columns)
    if missing:
        raise InvalidInputError(
            f"{source}: missing column(s) {sorted(missing)}; a model table needs model, instruction_tuned, base_model, "
            f"params_b and score columns. Columns found: {list(table.columns)}."
        )
    table = table.copy()
    tuned = table["instruction_tuned"].map(lambda v: str(v).strip().lower())
    bad = ~tuned.isin(["true", "false", "1", "0", "1.0", "0.0"])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{source}, row {row + 2} ({table['model'].iloc[row]}): instruction_tuned must be true or false, "
            f"got {table['instruction_tuned'].iloc[row]!r}."
        )
    table["instruction_tuned"] = tuned.isin(["true", "1", "1.0"])
    if "base_model" not in table:
        table["base_model"] = None
    table["base_model"] = table["base_model"].where(table["base_model"].notna(), None)
    if "params_b" in table:
        table["log10_params"] = np.log10(pd.to_numeric(table["params_b"], errors="coerce") * 1e9)
    # brain alignment averages predictivity benchmarks only: CKA / RSA (kind similarity) are other units (Table 8)
    columns = score_columns(table)
    neural = [c for c in columns if benchmark_kind(c) == "neural"]
    behavioral = [c for c in columns if benchmark_kind(c) == "behavioral"]
    if "brain_avg" in table and table["brain_avg"].notna().any():
        table[BRAIN] = table["brain_avg"]
    elif neural:
        table[BRAIN] = table[neural].mean(axis=1, skipna=False)
    if behavioral:
        table[BEHAVIOR] = table[behavioral].mean(axis=1, skipna=False)
    return table


def parse_where(expression: str) -> tuple[str, str, str]:
    """``family!=gpt2`` → ("family", "!=", "gpt2"); refuses anything else with the accepted forms."""
    match = _WHERE.match(expression)
    if not match:
        raise InvalidParameterError(
            "--where", "COLUMN OP VALUE with OP one of != = == > < >= <=", expression, "Example: --where family!=gpt2"
        )
    return match.group(1), match.group(2), match.group(3)


def apply_where(table: pd.DataFrame, where: Sequence[str]) -> pd.DataFrame:
    """Rows meeting every condition (AND). Values compare as numbers where the column is numeric."""
    keep = np.ones(len(table), dtype=bool)
    for expression in where:
        column, op, value = parse_where(expression)
        if column not in table:
            raise InvalidParameterError(
                "--where", f"a column of the table ({', '.join(map(str, table.columns))})", column, ""
            )
        values = table[column]
        if pd.api.types.is_bool_dtype(values):
            target: object = value.lower() in ("true", "1", "yes")
        elif pd.api.types.is_numeric_dtype(values):
            try:
                target = float(value)
            except ValueError:
                raise InvalidParameterError("--where", f"a number for column {column!r}", value, "") from None
        else:
            values, target = values.astype(str), value
        keep &= np.asarray(_OPERATORS[op](values, target), dtype=bool)
    return table[keep].reset_index(drop=True)


def effects(table: pd.DataFrame, benchmarks: Sequence[str] | None = None) -> pd.DataFrame:
    """Per pair × benchmark: ``pair, base, tuned, benchmark, base_score, tuned_score, change, pct_change,
    higher_is_better, effect`` (``effect``: better / worse / no change in the benchmark's direction).

    Pairs are the tuned rows whose ``base_model`` is a row of `table` (so a subset keeps only pairs inside it).
    `benchmarks`: score columns (default: the alignment ones, brain and behavioral alignment, then capabilities).
    """
    if benchmarks is None:
        columns = score_columns(table)
        several_behavioral = sum(benchmark_kind(c) == "behavioral" for c in columns) > 1
        benchmarks = columns + [BRAIN] * (BRAIN in table) + [BEHAVIOR] * (BEHAVIOR in table and several_behavioral)
        benchmarks += score_columns(table, ("capability",))
    by_name = table.set_index("model")
    tuned = table[table["instruction_tuned"] & table["base_model"].isin(by_name.index)]
    columns = ["pair", "base", "tuned", "benchmark", "base_score", "tuned_score", "change", "pct_change"]
    columns += ["higher_is_better", "effect"]
    frames = []
    for benchmark in benchmarks:
        base_scores = by_name.loc[tuned["base_model"], benchmark].to_numpy(dtype=float)
        tuned_scores = tuned[benchmark].to_numpy(dtype=float)
        positive = np.where(base_scores > 0, base_scores, np.nan)  # % of a non-positive base is left empty
        better_when_higher = higher_is_better(benchmark)
        frames.append(
            pd.DataFrame(
                {
                    "pair": tuned["base_model"].to_numpy() + " → " + tuned["model"].to_numpy(),
                    "base": tuned["base_model"].to_numpy(),
                    "tuned": tuned["model"].to_numpy(),
                    "benchmark": benchmark,
                    "base_score": base_scores,
                    "tuned_score": tuned_scores,
                    "change": tuned_scores - base_scores,
                    "pct_change": 100 * (tuned_scores - base_scores) / positive,
                    "higher_is_better": better_when_higher,
                    "effect": effect_label(tuned_scores - base_scores, better_when_higher),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def bootstrap_mean_ci(
    values: np.ndarray, *, n_boot: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (over the last axis resampled with replacement)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def wilcoxon_p(values: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of paired changes (NaN with fewer than 2 non-zero changes)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if np.count_nonzero(values) < 2:
        return float("nan")
    return float(sps.wilcoxon(values).pvalue)


def summarize_effects(effect_table: pd.DataFrame, *, n_boot: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Per benchmark: ``n_pairs, mean_pct, ci_low, ci_high, wilcoxon_p`` of the % changes over pairs, with
    ``higher_is_better`` and ``direction`` (better / worse / no change: the mean change read in the benchmark's
    direction; from the table's ``higher_is_better`` column, else the registry's).

    With a single pair (a `compare`) the CI is the pair's own ``pct_ci_low``/``pct_ci_high`` when given and the
    p its ``p`` column (the paired test over the benchmark's paired units), not a bootstrap over one value.
    """
    rows = []
    for benchmark, group in effect_table.groupby("benchmark", sort=False):
        if "higher_is_better" in group and group["higher_is_better"].notna().any():
            better_when_higher = str(group["higher_is_better"].dropna().iloc[0]).lower() in ("true", "1", "1.0")
        else:
            better_when_higher = higher_is_better(str(benchmark))
        pct = group["pct_change"].to_numpy(dtype=float)
        if len(group) == 1:
            low = float(group["pct_ci_low"].iloc[0]) if "pct_ci_low" in group else float("nan")
            high = float(group["pct_ci_high"].iloc[0]) if "pct_ci_high" in group else float("nan")
            p = float(group["p"].iloc[0]) if "p" in group else float("nan")
        else:
            low, high = bootstrap_mean_ci(pct, n_boot=n_boot, seed=seed)
            p = wilcoxon_p(pct)
        mean = float(np.nanmean(pct)) if np.isfinite(pct).any() else float("nan")
        change = group["change"].to_numpy(dtype=float) if "change" in group else pct  # sign kept where % is not
        mean_change = float(np.nanmean(change)) if np.isfinite(change).any() else float("nan")
        rows.append(
            {
                "benchmark": benchmark,
                "n_pairs": int(np.isfinite(pct).sum()),
                "mean_pct": mean,
                "ci_low": low,
                "ci_high": high,
                "wilcoxon_p": p,
                "higher_is_better": better_when_higher,
                "direction": str(effect_label([mean_change], better_when_higher)[0]),
            }
        )
    columns = ["benchmark", "n_pairs", "mean_pct", "ci_low", "ci_high", "wilcoxon_p", "higher_is_better", "direction"]
    return pd.DataFrame(rows, columns=columns)


def correlations(
    table: pd.DataFrame,
    *,
    alignments: Sequence[str] = (BRAIN, BEHAVIOR),
    properties: Sequence[str] = PROPERTIES,
    subsets: Sequence[str] = ("tuned", "all"),
    methods: Sequence[str] = ("pearson", "spearman"),
    subset_label: str = "",
) -> pd.DataFrame:
    """``alignment, property, subset, n, r, p, q, method, models``: every test with ≥ 3 complete rows; q = BH FDR
    over the family of one method's tests (see the module docstring for the de-duplication of subsets)."""
    rows, seen = [], set()
    for method in methods:
        test = sps.pearsonr if method == "pearson" else sps.spearmanr
        for alignment in (a for a in alignments if a in table):
            for prop in (p for p in properties if p in table):
                for subset in subsets:
                    chosen = table if subset == "all" else table[table["instruction_tuned"]]
                    values = chosen[[alignment, prop]].apply(pd.to_numeric, errors="coerce")
                    chosen = values.assign(model=chosen["model"]).dropna()
                    models = tuple(sorted(chosen["model"]))
                    key = (method, alignment, prop, models)
                    if len(chosen) < 3 or key in seen:
                        continue
                    seen.add(key)
                    result = test(chosen[alignment].to_numpy(float), chosen[prop].to_numpy(float))
                    rows.append(
                        {
                            "alignment": alignment,
                            "property": prop,
                            "subset": subset + (f" ({subset_label})" if subset_label else ""),
                            "n": len(chosen),
                            "r": float(result.statistic),
                            "p": float(result.pvalue),
                            "method": method,
                        }
                    )
    frame = pd.DataFrame(rows, columns=["alignment", "property", "subset", "n", "r", "p", "method"])
    frame["q"] = np.nan
    for _, group in frame.groupby("method"):
        frame.loc[group.index, "q"] = sps.false_discovery_control(group["p"].to_numpy(), method="bh")
    return frame[["alignment", "property", "subset", "n", "r", "p", "q", "method"]]


def table2(table: pd.DataFrame, *, alignment: str = BRAIN, subsets: Sequence[str] = ("tuned", "all")) -> pd.DataFrame:
    """Aw et al.'s Table 2 form: per subset, one row per :data:`TABLE2_ROWS` entry with :data:`TABLE2_COLUMNS`.

    r, p: Pearson's over the models with both `alignment` and the property (NaN below 3); q: Benjamini–Hochberg
    over the finite p of one subset (the table is the family); ``measured_by``: the capability units the values
    came from (``MMLU [num_fewshot=5]``; "k of n models" where only some were measured), else ``imported`` (the
    table's own column: the zoo, a CSV, --properties), ``none`` where no model has the property; ``aw2023_r``: the
    paper's printed r for that subset. The "all" subset is left out when no base model has an alignment score.
    """
    from tuneshift.benchmarks.capability import PROPERTY_COLUMNS

    owner = {column: bench for bench, columns in PROPERTY_COLUMNS.items() for column in columns.values()}
    measured = table["measured_by"].fillna("") if "measured_by" in table else pd.Series("", index=table.index)
    base_scored = alignment in table and table.loc[~table["instruction_tuned"], alignment].notna().any()
    frames = []
    for subset in (s for s in subsets if s != "all" or base_scored):
        chosen = table if subset == "all" else table[table["instruction_tuned"]]
        rows = []
        for benchmark, category, column in TABLE2_ROWS:
            present = [c for c in (alignment, column) if c in chosen]
            pairs = chosen[present].apply(pd.to_numeric, errors="coerce").dropna() if len(present) == 2 else None
            result = sps.pearsonr(*pairs.to_numpy(float).T) if pairs is not None and len(pairs) >= 3 else None
            labels = [
                [b for b in measured[i].split("; ") if b.split(" [")[0] == owner.get(column)]
                for i in (pairs.index if pairs is not None else [])
            ]
            rows.append(
                {
                    "subset": subset,
                    "benchmark": benchmark,
                    "category": category,
                    "property": column,
                    "n": len(labels),
                    "r": float(result.statistic) if result else float("nan"),
                    "p": float(result.pvalue) if result else float("nan"),
                    "higher_is_better": higher_is_better(column),
                    "measured_by": _provenance(labels),
                    "aw2023_r": AW2023_TABLE2_R.get(subset, {}).get(column, float("nan")),
                }
            )
        frame = pd.DataFrame(rows)
        tested = frame["p"].notna()
        if tested.any():
            frame.loc[tested, "q"] = sps.false_discovery_control(frame.loc[tested, "p"].to_numpy(), method="bh")
        frames.append(frame.reindex(columns=TABLE2_COLUMNS))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TABLE2_COLUMNS)


def _provenance(labels: list[list[str]]) -> str:
    """``measured_by`` of a Table 2 row from each model's measuring unit labels (empty: imported)."""
    found = sorted({label for model in labels for label in model})
    n_measured = sum(bool(model) for model in labels)
    if not labels:
        return "none"
    if not n_measured:
        return "imported"
    text = "; ".join(found)
    return text if n_measured == len(labels) else f"{text} ({n_measured} of {len(labels)} models; others imported)"


@dataclass
class Analysis:
    """What `study analyze` / `study correlate` compute from one model table."""

    table: pd.DataFrame
    effects: pd.DataFrame
    effect_summary: pd.DataFrame
    correlations: pd.DataFrame
    where: tuple[str, ...] = ()
    table2: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TABLE2_COLUMNS))

    def summary(self) -> dict:
        """JSON-ready: models, pairs, the effect summary and the Pearson correlations."""
        return {
            "where": list(self.where),
            "n_models": len(self.table),
            "n_tuned": int(self.table["instruction_tuned"].sum()),
            "n_pairs": int(self.effects["pair"].nunique()) if len(self.effects) else 0,
            "effects": self.effect_summary.to_dict(orient="records"),
            "correlations": self.correlations.to_dict(orient="records"),
            "table2": self.table2.to_dict(orient="records"),
        }


def analyze(table: pd.DataFrame, where: Sequence[str] = (), *, source: str = "table", seed: int = 0) -> Analysis:
    """Effects (per pair, and averaged over pairs) and correlations of `table` restricted by `where`."""
    prepared = apply_where(prepare(table, source), where)
    effect_table = effects(prepared)
    return Analysis(
        prepared,
        effect_table,
        summarize_effects(effect_table, seed=seed),
        correlations(prepared, subset_label=" & ".join(where)),
        tuple(where),
        table2(prepared),
    )


def table2_markdown(found: pd.DataFrame) -> str:
    """The Table 2 form as Markdown (one table per subset; r to 3 decimals, p and q to 3 significant digits, as the
    report shows them)."""
    from tuneshift.report._embed import table
    from tuneshift.report._export import markdown

    shown = ["benchmark", "category", "n", "r", "p", "q", "measured_by", "aw2023_r"]
    parts = [
        f"Brain alignment vs model properties, {subset} models (Pearson; q: Benjamini–Hochberg over this table)\n\n"
        + markdown(table(rows.assign(r=rows["r"].map(lambda r: f"{r:.3f}" if r == r else None)), shown))
        for subset, rows in found.groupby("subset", sort=False)
    ]
    return "\n".join(parts)


def read_table(path: str) -> pd.DataFrame:
    """A model table from CSV, refused by name when unreadable."""
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise InvalidInputError(f"{path}: cannot be read as a CSV model table ({error}).") from None


def write_analysis(analysis: Analysis, out_dir: str | Path) -> list[Path]:
    """models.csv (the model table analysed), effects.csv, effects_summary.csv, correlations.csv, table2.csv and
    table2.md (Aw et al.'s Table 2 form), analysis.json and figures (PNG + SVG) in `out_dir`."""
    from tuneshift._io import write_atomic
    from tuneshift.study.figures import change_bars, correlation_scatter, save_figure

    out = Path(out_dir)
    text = table2_markdown(analysis.table2)
    written = [
        write_csv(out / "models.csv", analysis.table),
        write_csv(out / "effects.csv", analysis.effects),
        write_csv(out / "effects_summary.csv", analysis.effect_summary),
        write_csv(out / "correlations.csv", analysis.correlations),
        write_csv(out / "table2.csv", analysis.table2),
        write_atomic(out / "table2.md", lambda tmp: tmp.write_text(text, encoding="utf-8")),
        write_json(out / "analysis.json", analysis.summary()),
    ]
    if len(analysis.effects):
        bars = change_bars(analysis.effects, summarize_effects(analysis.effects))
        written += save_figure(bars, out / "figures" / "effects")
    pearson = analysis.correlations[analysis.correlations["method"] == "pearson"]
    for row in pearson.itertuples():
        subset = analysis.table if row.subset.startswith("all") else analysis.table[analysis.table["instruction_tuned"]]
        figure = correlation_scatter(subset, row.property, row.alignment, r=row.r, p=row.p)
        written += save_figure(figure, out / "figures" / f"{row.alignment}-{row.property}-{row.subset.split()[0]}")
    return written
