"""Base vs tuned on each benchmark: scores, change, and a paired test over the benchmark's paired units.

For each benchmark and each of the two models: the best layer with its raw and normalized score, the honest score
(layer chosen on training folds), the absolute and % change tuned − base, and a paired test of that change:

* neural benchmarks with enough neuroids (≥ :data:`MIN_NEUROIDS`): per neuroid, each model at its own best layer,
  r averaged over splits. Two-sided Wilcoxon signed-rank test of the per-neuroid differences, and a bootstrap CI
  (neuroids resampled, both models with the same draw) of the change in the benchmark's score itself (median over
  neuroids, mean over splits);
* neural benchmarks with too few neuroids (Tuckute2024 ships one network-averaged response): per split, the
  splits' scores paired (same train/test stimuli for both models). Splits share training stimuli, so they are not
  independent and the p-value is optimistic; the output says ``paired_unit = split`` and notes it;
* reading times (Futrell2018): per story, the existing per-story scores paired over the 10 stories. For ΔLL, a
  word-weighted mean of the stories (values' ``attrs["weight"] = "n_words"``), the CI is that of the score's own
  change; for |r| of the pooled words it is that of the mean per-story change, which need not contain it;
* capabilities, per item from the stored per-item values: a question answered right or wrong (MMLU, BBH) is paired
  by McNemar's exact test (two-sided binomial test of the discordant questions against 1/2), with a paired
  bootstrap over questions (the same draw for both models) for the CI of the accuracy change; a per-article loss
  (WikiText2-nwp) by the Wilcoxon signed-rank test over articles, with a bootstrap over articles of the change in
  the token-weighted loss the score is (the values' ``attrs["weight"]`` names the weights, ``n_tokens``).

Each row names its paired unit (``paired_unit``: neuroid, split, story, item; "none" without a test), how many
were paired (``n_paired``) and their mean change (``mean_paired_change``), its test (``test``) and p-value
(``p``); ``wilcoxon_p`` repeats p where the test is Wilcoxon's. compare.csv files written before these names had
``unit``, ``n_units`` and ``mean_unit_change``: :func:`with_current_names` renames them on read.
Whether a change is an improvement is ``effect`` (better / worse / no change), read in the benchmark's declared
direction (``higher_is_better``: a loss improves when it falls), never from its name.

Everything comes from the results store: each stored result's score rows and its paired values
(``BenchmarkResult.values``: ``r(layer, split, neuroid)``, ``cka(layer, split)``, per story, per item), so a
comparison of finished results reads files and runs no model. Results scored before values were kept get no paired
test (the row says so). The paired unit is the values' ``attrs["paired_unit"]``.

% changes are the arithmetic change relative to the base's score (a loss that falls 5 % reads −5 %, effect
``better``) and left empty where that score is not positive (ΔLL of a random model: a % of a negative number flips
sign).

Layer profiles of both models are drawn on relative depth (layer / deepest layer), so models of different depths
compare (:func:`tuneshift.study.figures.layer_profiles`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from tuneshift._io import write_csv, write_json
from tuneshift.errors import InvalidInputError
from tuneshift.metrics.encoding import aggregate
from tuneshift.study.stats import effect_label

if TYPE_CHECKING:
    import xarray as xr

    from tuneshift.benchmarks.store import Unit

MIN_NEUROIDS = 10
N_BOOT = 2000
WILCOXON = "Wilcoxon signed-rank"


@dataclass
class BenchmarkScores:
    """What `compare` needs of one model on one benchmark.

    layers: scored layer indices; raw: (L,) score per layer; normalized: (L,) or NaN; honest_raw/honest_normalized:
    the honest score; values: the stored result's paired values (``BenchmarkResult.values``), or None when it kept
    none.
    """

    model: str
    benchmark: str
    kind: str
    layers: np.ndarray
    raw: np.ndarray
    normalized: np.ndarray
    honest_raw: float
    honest_normalized: float = float("nan")
    values: xr.Dataset | None = None
    honest_layers: list[int] = field(default_factory=list)
    higher_is_better: bool = True

    @property
    def best(self) -> int:
        """Index (into `layers`) of the best layer (the lowest score where lower is better)."""
        return int(np.nanargmax(self.raw) if self.higher_is_better else np.nanargmin(self.raw))

    def best_values(self) -> xr.DataArray | None:
        """The measure behind the scores at the best layer (all of it when the values have no layer)."""
        if self.values is None:
            return None
        measured = self.values[measure_of(self.values)]
        return measured.sel(layer=self.layers[self.best]) if "layer" in measured.dims else measured


def measure_of(values: xr.Dataset) -> str:
    """The variable a result's scores summarize: ``attrs["measure"]``, else the first one over the paired unit."""
    unit = values.attrs.get("paired_unit")
    named = values.attrs.get("measure")
    return named if named in values else next(name for name, v in values.data_vars.items() if unit in v.dims)


def _by_dataset(r: xr.DataArray) -> list[np.ndarray]:
    """(split, neuroid) r at the best layer as one (S, T) array per dataset of the benchmark (a combined benchmark
    averages its datasets' scores)."""
    r = r.transpose("split", "neuroid")
    if "dataset" not in r.coords:
        return [r.to_numpy().astype(float)]
    names = r["dataset"].to_numpy()
    return [r.to_numpy()[:, names == name].astype(float) for name in dict.fromkeys(names)]


NOTES = {
    "story": "per-story scores paired over stories",
    "item": "per-item values paired over items",
    "split": "paired over the random stimulus subsets, which overlap, so the p-value is optimistic",
}


def paired_test(base: BenchmarkScores, tuned: BenchmarkScores, *, seed: int = 0) -> dict:
    """The paired test of tuned − base over the benchmark's paired units (see the module docstring)."""
    rng = np.random.default_rng(seed)
    a, b = base.best_values(), tuned.best_values()
    if a is None or b is None:
        return _untested("no paired values stored for this result (scored before tuneshift kept them): no paired test")
    unit = base.values.attrs.get("paired_unit")
    if unit != tuned.values.attrs.get("paired_unit") or a.sizes != b.sizes:
        return _untested(f"{unit} sets differ between the two models' results: no pairing")
    if unit == "neuroid":
        pairs = list(zip(_by_dataset(a), _by_dataset(b), strict=True))  # per dataset: (S, T) each
        if min(x.shape[-1] for x, _ in pairs) >= MIN_NEUROIDS:
            diff = np.concatenate([np.nanmean(y, 0) - np.nanmean(x, 0) for x, y in pairs])
            boot = np.zeros(N_BOOT)
            for x, y in pairs:  # neuroids resampled within each dataset, the same draw for both models
                draws = rng.integers(0, x.shape[-1], (N_BOOT, x.shape[-1]))
                boot += aggregate(y[:, draws].transpose(1, 0, 2)) - aggregate(x[:, draws].transpose(1, 0, 2))
            note = "each model at its own best layer; r averaged over splits"
            return _summary("neuroid", diff, boot / len(pairs), note)
        diff = np.mean([np.nanmedian(y, -1) - np.nanmedian(x, -1) for x, y in pairs], axis=0)  # per split
        draws = rng.integers(0, len(diff), (N_BOOT, len(diff)))
        note = (
            f"only {pairs[0][0].shape[-1]} neuroid(s): paired over the {len(diff)} cross-validation splits, which "
            "share training stimuli, so the p-value is optimistic"
        )
        return _summary("split", diff, diff[draws].mean(1), note)
    x, y = a.to_numpy(), b.to_numpy()
    diff = np.asarray(y, float) - np.asarray(x, float)
    draws = rng.integers(0, len(diff), (N_BOOT, len(diff)))
    note = NOTES.get(unit, f"paired over {unit}s")
    if x.dtype == bool and y.dtype == bool:  # right/wrong per question
        note = "per-question correct/incorrect paired: McNemar's exact test, bootstrap over questions"
        return _summary(unit, diff, diff[draws].mean(1), note, test="McNemar exact", p=mcnemar_exact_p(x, y))
    weight = base.values.attrs.get("weight")
    if weight and weight in base.values and weight in tuned.values:  # the score is a weighted mean (tokens)
        boot = _weighted_change(x, y, base.values[weight].to_numpy(), tuned.values[weight].to_numpy(), draws)
        return _summary(unit, diff, boot, f"{note}; CI of the {weight}-weighted score's change")
    return _summary(unit, diff, diff[draws].mean(1), note)


def mcnemar_exact_p(base: np.ndarray, tuned: np.ndarray) -> float:
    """Two-sided exact McNemar p of paired right/wrong outcomes: a binomial test of the questions tuned got right
    and base wrong, out of all discordant questions, against 1/2; 1.0 when no question is discordant."""
    gained = int(np.sum(tuned & ~base))
    discordant = gained + int(np.sum(base & ~tuned))
    return float(sps.binomtest(gained, discordant, 0.5).pvalue) if discordant else 1.0


def weighted_mean(values: np.ndarray, weights: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Σ w·v / Σ w over the paired units of each bootstrap draw (`draws`: (B, n) unit indices) → (B,)."""
    weights = np.asarray(weights, float)
    return (values * weights)[draws].sum(1) / weights[draws].sum(1)


def _weighted_change(x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Bootstrap draws of the change in a weighted mean (each model with its own weights: its token counts), paired
    units resampled by `draws` (B, n) with the same draw for both models."""
    return weighted_mean(y, wy, draws) - weighted_mean(x, wx, draws)


def _untested(note: str) -> dict:
    nan = float("nan")
    return {"paired_unit": "none", "n_paired": 0, "mean_paired_change": nan, "test": "none", "p": nan,
            "wilcoxon_p": nan, "change_ci_low": nan, "change_ci_high": nan, "note": note}  # fmt: skip


def _summary(
    unit: str, diff: np.ndarray, boot: np.ndarray, note: str, *, test: str = WILCOXON, p: float | None = None
) -> dict:
    """A paired test's row: `p` of `test` (default: Wilcoxon signed-rank over the finite `diff`) and the 95 %
    percentile interval of the bootstrap draws `boot` of the change."""
    finite = diff[np.isfinite(diff)]
    if p is None:
        p = float(sps.wilcoxon(finite).pvalue) if np.count_nonzero(finite) >= 2 else float("nan")
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    return {
        "paired_unit": unit,
        "n_paired": len(finite),
        "mean_paired_change": float(finite.mean()) if len(finite) else float("nan"),
        "test": test,
        "p": p,
        "wilcoxon_p": p if test == WILCOXON else float("nan"),
        "change_ci_low": float(low),
        "change_ci_high": float(high),
        "note": note,
    }


def compare_benchmark(base: BenchmarkScores, tuned: BenchmarkScores, *, seed: int = 0) -> dict:
    """One row of compare.csv: both models' best and honest scores, the change, the paired test, and ``effect``
    (better / worse / no change: the best-layer change read in the benchmark's direction, ``higher_is_better``)."""
    row: dict = {
        "benchmark": base.benchmark,
        "kind": base.kind,
        "base": base.model,
        "tuned": tuned.model,
        "higher_is_better": base.higher_is_better,
    }
    for label, scores in (("base", base), ("tuned", tuned)):
        best = scores.best
        row |= {
            f"{label}_best_layer": int(scores.layers[best]),
            f"{label}_relative_depth": float(scores.layers[best] / max(scores.layers.max(), 1)),
            f"{label}_best_raw": float(scores.raw[best]),
            f"{label}_best_normalized": float(scores.normalized[best]),
            f"{label}_honest_raw": float(scores.honest_raw),
            f"{label}_honest_normalized": float(scores.honest_normalized),
        }
    for which in ("best_raw", "honest_raw"):
        change = row[f"tuned_{which}"] - row[f"base_{which}"]
        row[f"change_{which}"] = change
        row[f"pct_change_{which}"] = _percent(change, row[f"base_{which}"])
    row["effect"] = str(effect_label([row["change_best_raw"]], base.higher_is_better)[0])
    test = paired_test(base, tuned, seed=seed)
    row |= test
    base_raw = row["base_best_raw"] if row["base_best_raw"] > 0 else float("nan")
    row["pct_ci_low"] = 100 * test["change_ci_low"] / base_raw
    row["pct_ci_high"] = 100 * test["change_ci_high"] / base_raw
    return row


def _percent(change: float, base: float) -> float:
    """100 · change / base; NaN when the base score is not positive (a % of a negative ΔLL flips its sign)."""
    return 100 * change / base if base > 0 else float("nan")


#: compare.csv's paired-test columns before they were renamed (old → current): a `unit` there was the paired unit,
#: not a model unit (``tuneshift score --units``) nor a stored result (``units/``).
OLD_COLUMNS = {"unit": "paired_unit", "n_units": "n_paired", "mean_unit_change": "mean_paired_change"}


def with_current_names(compare_table: pd.DataFrame) -> pd.DataFrame:
    """compare.csv as read, with the columns of files written before the rename under their current names
    (:data:`OLD_COLUMNS`); a current file is returned as it is. The report reads compare.csv through here."""
    old = {name: new for name, new in OLD_COLUMNS.items() if name in compare_table and new not in compare_table}
    return compare_table.rename(columns=old) if old else compare_table


def effects_of(compare_table: pd.DataFrame) -> pd.DataFrame:
    """compare.csv as effects rows (pair, benchmark, base, tuned, change, pct_change, CI, p) for change_bars."""
    return pd.DataFrame(
        {
            "pair": compare_table["base"] + " → " + compare_table["tuned"],
            "benchmark": compare_table["benchmark"],
            "base": compare_table["base_best_raw"],
            "tuned": compare_table["tuned_best_raw"],
            "change": compare_table["change_best_raw"],
            "pct_change": compare_table["pct_change_best_raw"],
            "pct_ci_low": compare_table.get("pct_ci_low", np.nan),
            "pct_ci_high": compare_table.get("pct_ci_high", np.nan),
            "p": compare_table.get("p", compare_table.get("wilcoxon_p", np.nan)),
            "higher_is_better": compare_table.get("higher_is_better", True),
        }
    )


# ------------------------------------------------------------------------------------------- reading the results


def unit_scores(unit: Unit, values: xr.Dataset | None) -> BenchmarkScores:
    """One stored unit as `compare` reads it: its score rows, summary, kind (as the unit recorded it, else as its
    registered benchmark declares it) and per-unit values."""
    from tuneshift.benchmarks import BENCHMARKS

    identifier = unit.provenance["benchmark_id"]
    kind = unit.provenance.get("kind") or BENCHMARKS.get(identifier).kind
    direction = unit.provenance.get("higher_is_better")
    direction = BENCHMARKS.get(identifier).higher_is_better if direction is None else bool(direction)
    return _scores(unit.model, unit.benchmark, kind, unit.scores, unit.summary, values, direction)


def load_scores(out_dir: str | Path, model: str, benchmark: str) -> BenchmarkScores:
    """`model`'s results on `benchmark` (labels as in scores.csv) from a results directory written by
    ``tuneshift.benchmarks.score``: the newest matching unit with its values; a directory from before per-unit
    results is read from scores.csv and summary.json (per-story scores only)."""
    from tuneshift.benchmarks import BENCHMARKS
    from tuneshift.benchmarks.store import UNITS, ResultStore

    out = Path(out_dir)
    if any((out / UNITS).glob("*.json")):
        store = ResultStore(out, read_only=True)  # units and values are only read (the folder may be read-only)
        found = [u for u in store.units() if u.model == model and u.benchmark == benchmark]
        if found:
            return unit_scores(found[-1], store.values(found[-1]))
    table = pd.read_csv(out / "scores.csv")
    rows = table[(table["model"] == model) & (table["benchmark"] == benchmark)]
    if rows.empty:
        raise InvalidInputError(f"{out} has no results for {model!r} on {benchmark!r}.")
    summary = json.loads((out / "summary.json").read_text()).get(model, {}).get(benchmark, {})
    identifier = benchmark.split(" [")[0]
    kind = summary.get("kind") or (BENCHMARKS.get(identifier).kind if identifier in BENCHMARKS else "neural")
    direction = BENCHMARKS.get(identifier).higher_is_better if identifier in BENCHMARKS else True
    return _scores(model, benchmark, kind, rows, summary, _story_values(summary.get("per_story_raw")), direction)


def _story_values(per_story: dict | None) -> xr.Dataset | None:
    """Per-story scores of a table-only result as values (``raw(story)``), so they pair like stored ones."""
    if not per_story:
        return None
    import xarray as xr

    values = xr.Dataset(
        {"raw": ("story", np.asarray(list(per_story.values()), float))}, coords={"story": list(per_story)}
    )
    values.attrs.update(paired_unit="story", measure="raw")
    return values


def _scores(
    model: str, benchmark: str, kind: str, rows: pd.DataFrame, summary: dict, values, higher_is_better: bool = True
) -> BenchmarkScores:
    # one row per layer; capability rows are aggregates (a `measure` column), the headline first: compared alone
    rows = rows.head(1) if "measure" in rows else rows.sort_values("layer")
    honest_layers = [
        layer for value in summary.values() if isinstance(value, dict)
        for layer in value.get("honest_layers_per_split", [])
    ]  # fmt: skip
    return BenchmarkScores(
        model=model,
        benchmark=benchmark,
        kind=kind,
        layers=np.nan_to_num(rows["layer"].to_numpy(dtype=float), nan=0.0).astype(int),
        raw=rows["raw"].to_numpy(dtype=float),
        normalized=rows["normalized"].to_numpy(dtype=float),
        honest_raw=float(summary.get("honest_raw", np.nanmax(rows["raw"]))),
        honest_normalized=float(summary.get("honest_normalized") or np.nan),
        values=values,
        honest_layers=honest_layers,
        higher_is_better=higher_is_better,
    )


# ----------------------------------------------------------------------------------------------- the comparison


@dataclass
class Comparison:
    """compare.csv rows, the layer scores of both models, what each model is, the internals summary, and the tuned
    model's ``tuneshift-tune.json`` (how it was tuned, from which base) when it has one."""

    table: pd.DataFrame
    scores: pd.DataFrame
    models: dict
    honest_layers: dict = field(default_factory=dict)
    internals: pd.DataFrame | None = None
    tune: dict | None = None

    def figures(self) -> dict[str, Any]:
        """name → Figure: one layer profile per benchmark and the change bars (with each CI)."""
        from tuneshift.study.figures import change_bars, layer_profiles
        from tuneshift.study.stats import summarize_effects

        layered = self.scores[self.scores["layer"].notna()].groupby("benchmark")["layer"].nunique()
        figures = {
            f"profile-{benchmark}": layer_profiles(self.scores, benchmark, self.honest_layers.get(benchmark))
            for benchmark in self.table["benchmark"]
            if layered.get(benchmark, 0) > 1  # reading-time benchmarks score the output only: no profile
        }
        effects = effects_of(self.table)
        figures["change"] = change_bars(effects, summarize_effects(effects), title="% change, second model vs first")
        return figures

    def write(self, out_dir: str | Path) -> list[Path]:
        """compare.csv, compare.json, internals.csv (with --internals) and figures/ (PNG + SVG)."""
        from tuneshift.study.figures import save_figure

        out = Path(out_dir)
        written = [
            write_csv(out / "compare.csv", self.table),
            write_json(
                out / "compare.json",
                {"models": self.models, "tune": self.tune, "benchmarks": self.table.to_dict("records")},
            ),
        ]
        if self.internals is not None:
            written.append(write_csv(out / "internals.csv", self.internals))
        for name, figure in self.figures().items():
            written += save_figure(figure, out / "figures" / name)
        return written


def tune_record(path: str | Path) -> dict | None:
    """The ``tuneshift-tune.json`` of a tuned model directory (names its base), or None."""
    record = Path(path) / "tuneshift-tune.json"
    if not record.is_file():
        return None
    try:
        return json.loads(record.read_text())
    except ValueError as error:
        raise InvalidInputError(f"{record}: not valid JSON ({error}).") from None


def compare_models(
    base: Any,
    tuned: Any,
    benchmarks: Sequence[str],
    out_dir: str | Path,
    *,
    options: Mapping[str, Any] | None = None,
    cache: bool = True,
    progress: bool = True,
    seed: int = 0,
) -> Comparison:
    """Score `base` and `tuned` (subjects) on `benchmarks` with `options` (as :func:`tuneshift.benchmarks.score`
    takes them) into ``out_dir`` — finished units are reused, not recomputed — then compare them benchmark by
    benchmark from the stored units and their values."""
    from tuneshift.benchmarks import score
    from tuneshift.benchmarks.store import ResultStore

    out = Path(out_dir)
    scored = [score(m, list(benchmarks), out, options=options, cache=cache, progress=progress) for m in (base, tuned)]
    store = ResultStore(out)
    units = {(u.key, u.model): u for u in store.units()}
    first = [frame.drop_duplicates("benchmark").set_index("benchmark") for frame in scored]  # one row per unit
    rows, honest_layers = [], {}
    for benchmark in first[0].index:
        a, b = (
            unit_scores(u, store.values(u))
            for u in (units[f.at[benchmark, "unit_key"], f.at[benchmark, "model"]] for f in first)
        )
        rows.append(compare_benchmark(a, b, seed=seed))
        honest_layers[benchmark] = {a.model: a.honest_layers, b.model: b.honest_layers}
    scores = pd.concat(scored, ignore_index=True)
    models = {"base": dict(base.describe()), "tuned": dict(tuned.describe())}
    return Comparison(pd.DataFrame(rows), scores, models, honest_layers)


def compare_internals(base: Any, tuned: Any, dataset: str | Path, *, limit: int | None = None, **generation: Any):
    """Instruction attribution of both models on FinalDataset prompts (Wu et al. 2023): per sample scores and, per
    source, the one-sided Welch test of base < tuned (:func:`tuneshift.interpret.instructions.base_vs_tuned`)."""
    from tuneshift.interpret import instructions as ins

    samples = ins.load_final_dataset(dataset)[:limit]
    scores = pd.concat(
        [ins.score_with_model(m, samples, model_name=m.name, **generation) for m in (base, tuned)], ignore_index=True
    )
    return scores, ins.base_vs_tuned(scores, base.name, tuned.name)
