"""Base vs tuned on each benchmark: scores, change, and a paired test in the benchmark's own units.

For each benchmark and each of the two models: the best layer with its raw and normalized score, the honest score
(layer chosen on training folds), the absolute and % change tuned − base, and a paired test of that change:

* neural benchmarks with enough neuroids (≥ :data:`MIN_NEUROIDS`): per neuroid, each model at its own best layer,
  r averaged over splits. Two-sided Wilcoxon signed-rank test of the per-neuroid differences, and a bootstrap CI
  (neuroids resampled, both models with the same draw) of the change in the benchmark's score itself (median over
  neuroids, mean over splits);
* neural benchmarks with too few neuroids (Tuckute2024 ships one network-averaged response): per split, the
  splits' scores paired (same train/test stimuli for both models). Splits share training stimuli, so they are not
  independent and the p-value is optimistic; the output says ``unit = split`` and notes it;
* reading times (Futrell2018): per story, the existing per-story scores paired over the 10 stories. The CI is
  that of the mean per-story change, which need not contain the change of the pooled score.

% changes are relative to the base's score and left empty where that score is not positive (ΔLL of a random
model: a % of a negative number flips sign).

Layer profiles of both models are drawn on relative depth (layer / deepest layer), so models of different depths
compare (:func:`tuneshift.study.figures.layer_profiles`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from tuneshift._io import write_csv, write_json
from tuneshift.errors import InvalidInputError

MIN_NEUROIDS = 10
N_BOOT = 2000


@dataclass
class BenchmarkScores:
    """What `compare` needs of one model on one benchmark.

    layers: scored layer indices; raw: (L,) score per layer; normalized: (L,) or NaN; honest_raw/honest_normalized:
    the honest score; split_neuroid: at the best layer, one (S, T) array of r per split and neuroid for each of the
    benchmark's datasets (Pereira2018: two experiments), or None; per_unit: (U,) scores per story (reading times),
    or None; unit_labels: the stories' names.
    """

    model: str
    benchmark: str
    kind: str
    layers: np.ndarray
    raw: np.ndarray
    normalized: np.ndarray
    honest_raw: float
    honest_normalized: float = float("nan")
    split_neuroid: list[np.ndarray] | None = None
    per_unit: np.ndarray | None = None
    unit_labels: list[str] = field(default_factory=list)
    honest_layers: list[int] = field(default_factory=list)

    @property
    def best(self) -> int:
        """Index (into `layers`) of the best layer."""
        return int(np.nanargmax(self.raw))


def _aggregate(split_neuroid: np.ndarray) -> np.ndarray:
    """Brain-Score's score of (..., S, T) r: median over neuroids, then mean over splits."""
    return np.nanmedian(split_neuroid, axis=-1).mean(-1)


def paired_test(base: BenchmarkScores, tuned: BenchmarkScores, *, seed: int = 0) -> dict:
    """The paired test of tuned − base in the benchmark's units (see the module docstring)."""
    rng = np.random.default_rng(seed)
    if base.split_neuroid is not None and tuned.split_neuroid is not None:
        pairs = list(zip(base.split_neuroid, tuned.split_neuroid, strict=True))  # per dataset: (S, T) each
        if any(a.shape != b.shape for a, b in pairs):
            return _untested("neuroid sets differ between the two models' results: no pairing")
        if min(a.shape[-1] for a, _ in pairs) >= MIN_NEUROIDS:
            diff = np.concatenate([np.nanmean(b, 0) - np.nanmean(a, 0) for a, b in pairs])
            boot = np.zeros(N_BOOT)
            for a, b in pairs:  # neuroids resampled within each dataset, the same draw for both models
                draws = rng.integers(0, a.shape[-1], (N_BOOT, a.shape[-1]))
                boot += _aggregate(b[:, draws].transpose(1, 0, 2)) - _aggregate(a[:, draws].transpose(1, 0, 2))
            note = "each model at its own best layer; r averaged over splits"
            return _summary("neuroid", diff, boot / len(pairs), note)
        diff = np.mean([np.nanmedian(b, -1) - np.nanmedian(a, -1) for a, b in pairs], axis=0)  # per split
        draws = rng.integers(0, len(diff), (N_BOOT, len(diff)))
        note = (
            f"only {pairs[0][0].shape[-1]} neuroid(s): paired over the {len(diff)} cross-validation splits, which "
            "share training stimuli, so the p-value is optimistic"
        )
        return _summary("split", diff, diff[draws].mean(1), note)
    if base.per_unit is not None and tuned.per_unit is not None and len(base.per_unit) == len(tuned.per_unit):
        diff = np.asarray(tuned.per_unit, float) - np.asarray(base.per_unit, float)
        draws = rng.integers(0, len(diff), (N_BOOT, len(diff)))
        return _summary("story", diff, diff[draws].mean(1), "per-story scores paired over stories")
    return _untested("no per-unit scores stored for this benchmark: no paired test")


def _untested(note: str) -> dict:
    nan = float("nan")
    return {"unit": "none", "n_units": 0, "mean_unit_change": nan, "wilcoxon_p": nan, "change_ci_low": nan,
            "change_ci_high": nan, "note": note}  # fmt: skip


def _summary(unit: str, diff: np.ndarray, boot: np.ndarray, note: str) -> dict:
    finite = diff[np.isfinite(diff)]
    p = float(sps.wilcoxon(finite).pvalue) if np.count_nonzero(finite) >= 2 else float("nan")
    low, high = np.nanpercentile(boot, [2.5, 97.5])
    return {
        "unit": unit,
        "n_units": len(finite),
        "mean_unit_change": float(finite.mean()) if len(finite) else float("nan"),
        "wilcoxon_p": p,
        "change_ci_low": float(low),
        "change_ci_high": float(high),
        "note": note,
    }


def compare_benchmark(base: BenchmarkScores, tuned: BenchmarkScores, *, seed: int = 0) -> dict:
    """One row of compare.csv: both models' best and honest scores, the change, and the paired test."""
    row: dict = {"benchmark": base.benchmark, "kind": base.kind, "base": base.model, "tuned": tuned.model}
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
    test = paired_test(base, tuned, seed=seed)
    row |= test
    base_raw = row["base_best_raw"] if row["base_best_raw"] > 0 else float("nan")
    row["pct_ci_low"] = 100 * test["change_ci_low"] / base_raw
    row["pct_ci_high"] = 100 * test["change_ci_high"] / base_raw
    return row


def _percent(change: float, base: float) -> float:
    """100 · change / base; NaN when the base score is not positive (a % of a negative ΔLL flips its sign)."""
    return 100 * change / base if base > 0 else float("nan")


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
            "p": compare_table.get("wilcoxon_p", np.nan),
        }
    )


# ------------------------------------------------------------------------------------------- reading the results


def neuroid_scores(model: Any, benchmark: str, layer: int, *, cache: bool = True) -> list[np.ndarray] | None:
    """(S, T) Pearson r per split and neuroid of `model`'s `layer` on each dataset of a neural benchmark, with the
    benchmark's own regression and splits (so their aggregate is the benchmark's score at that layer); the readout
    comes from the activation cache the scoring filled. None for benchmarks without a regression protocol."""
    from tuneshift.benchmarks.neural import PROTOCOLS, layer_features
    from tuneshift.data import DATASETS
    from tuneshift.metrics import encoding_score

    protocol = PROTOCOLS.get(benchmark)
    if protocol is None:
        return None
    arrays = []
    for name in protocol.datasets:
        dataset = DATASETS.get(name).load(**protocol.load_kwargs)
        features, layers = layer_features(model, dataset, cache=cache, progress=False)
        result = encoding_score(
            features[list(layers).index(layer)], dataset.targets, regression=protocol.regression, cv=protocol.cv,
            groups=dataset.groups, n_splits=protocol.n_splits,
        )  # fmt: skip
        arrays.append(np.asarray(result.split_neuroid, dtype=float))
    return arrays


def load_scores(out_dir: str | Path, model: str, benchmark: str) -> BenchmarkScores:
    """`model`'s results on `benchmark` from a results directory written by ``tuneshift.benchmarks.score``."""
    from tuneshift.benchmarks import BENCHMARKS

    out = Path(out_dir)
    table = pd.read_csv(out / "scores.csv")
    rows = table[(table["model"] == model) & (table["benchmark"] == benchmark)].sort_values("layer")
    if rows.empty:
        raise InvalidInputError(f"{out / 'scores.csv'} has no rows for {model!r} on {benchmark!r}.")
    summary = json.loads((out / "summary.json").read_text()).get(model, {}).get(benchmark, {})
    per_story = summary.get("per_story_raw")
    honest_layers = [
        layer for value in summary.values() if isinstance(value, dict)
        for layer in value.get("honest_layers_per_split", [])
    ]  # fmt: skip
    layers = rows["layer"].to_numpy(dtype=float)
    return BenchmarkScores(
        model=model,
        benchmark=benchmark,
        kind=BENCHMARKS.get(benchmark).kind if benchmark in BENCHMARKS else "neural",
        layers=np.nan_to_num(layers, nan=0.0).astype(int),
        raw=rows["raw"].to_numpy(dtype=float),
        normalized=rows["normalized"].to_numpy(dtype=float),
        honest_raw=float(summary.get("honest_raw", np.nanmax(rows["raw"]))),
        honest_normalized=float(summary.get("honest_normalized") or np.nan),
        split_neuroid=None,
        per_unit=np.array(list(per_story.values()), dtype=float) if per_story else None,
        unit_labels=list(per_story) if per_story else [],
        honest_layers=honest_layers,
    )


# ----------------------------------------------------------------------------------------------- the comparison


@dataclass
class Comparison:
    """compare.csv rows, the layer scores of both models, what each model is, and the internals summary."""

    table: pd.DataFrame
    scores: pd.DataFrame
    models: dict
    honest_layers: dict = field(default_factory=dict)
    internals: pd.DataFrame | None = None

    def figures(self) -> dict[str, Any]:
        """name → Figure: one layer profile per benchmark and the change bars (with each CI)."""
        from tuneshift.study.figures import change_bars, layer_profiles

        layered = self.scores[self.scores["layer"].notna()].groupby("benchmark")["layer"].nunique()
        figures = {
            f"profile-{benchmark}": layer_profiles(self.scores, benchmark, self.honest_layers.get(benchmark))
            for benchmark in self.table["benchmark"]
            if layered.get(benchmark, 0) > 1  # reading-time benchmarks score the output only: no profile
        }
        figures["change"] = change_bars(effects_of(self.table))
        return figures

    def write(self, out_dir: str | Path) -> list[Path]:
        """compare.csv, compare.json, internals.csv (with --internals) and figures/ (PNG + SVG)."""
        from tuneshift.study.figures import save_figure

        out = Path(out_dir)
        written = [
            write_csv(out / "compare.csv", self.table),
            write_json(out / "compare.json", {"models": self.models, "benchmarks": self.table.to_dict("records")}),
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
    cache: bool = True,
    progress: bool = True,
    seed: int = 0,
) -> Comparison:
    """Score `base` and `tuned` (loaded models) on `benchmarks` into ``out_dir`` (finished work reused), then
    compare them benchmark by benchmark."""
    from tuneshift.benchmarks import score

    out = Path(out_dir)
    label = {}  # a model's name in the results (with its dtype when not float32)
    for model in (base, tuned):
        label[model.name] = score(model, list(benchmarks), out, cache=cache, progress=progress)["model"].iat[0]
    rows, honest_layers = [], {}
    for benchmark in benchmarks:
        a, b = load_scores(out, label[base.name], benchmark), load_scores(out, label[tuned.name], benchmark)
        for scores, model in ((a, base), (b, tuned)):
            if scores.kind == "neural" and scores.split_neuroid is None:
                scores.split_neuroid = neuroid_scores(model, benchmark, int(scores.layers[scores.best]), cache=cache)
        rows.append(compare_benchmark(a, b, seed=seed))
        honest_layers[benchmark] = {a.model: a.honest_layers, b.model: b.honest_layers}
    table = pd.read_csv(out / "scores.csv")
    scores = table[table["model"].isin(list(label.values())) & table["benchmark"].isin(benchmarks)]
    models = {"base": _describe(base), "tuned": _describe(tuned)}
    return Comparison(pd.DataFrame(rows), scores.reset_index(drop=True), models, honest_layers)


def _describe(model: Any) -> dict:
    if hasattr(model, "describe"):
        return dict(model.describe())
    return {
        "name": model.name,
        "source": str(getattr(model, "source", "")),
        "random_init": bool(getattr(model, "random_init", False)),
        "fingerprint": str(getattr(model, "fingerprint", "")),
    }


def compare_internals(base: Any, tuned: Any, dataset: str | Path, *, limit: int | None = None, **generation: Any):
    """Instruction attribution of both models on FinalDataset prompts (Wu et al. 2023): per sample scores and, per
    source, the one-sided Welch test of base < tuned (:func:`tuneshift.interpret.instructions.base_vs_tuned`)."""
    from tuneshift.interpret import instructions as ins

    samples = ins.load_final_dataset(dataset)[:limit]
    scores = pd.concat(
        [ins.score_with_model(m, samples, model_name=m.name, **generation) for m in (base, tuned)], ignore_index=True
    )
    return scores, ins.base_vs_tuned(scores, base.name, tuned.name)
