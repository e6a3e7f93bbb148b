"""Synthetic run directories in the exact formats the commands write, for the report's tests and its benchmark.

Score files are produced by the benchmarks' own table and summary functions (`score_rows`, `summarize`) and written
with the same writers as `tuneshift score`; the study tables by `tuneshift.study.stats` from a model table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tuneshift._io import write_csv, write_json
from tuneshift.benchmarks._base import BenchmarkResult, score_rows, summarize

NEURAL = {"Pereira2018-linear": 0.35, "Blank2014-linear": 0.18, "Tuckute2024-ridge": None}
STORIES = [f"{i}" for i in range(1, 11)]
STORY_EFFECTS = np.random.default_rng(10).normal(0, 0.01, len(STORIES))
STORY_EFFECTS -= STORY_EFFECTS.mean()


def neural_result(model: str, benchmark: str, n_layers: int, peak: float, rng: np.random.Generator) -> BenchmarkResult:
    """A smooth per-layer profile peaking at two thirds of the depth, honest layers near the peak."""
    layers = np.arange(n_layers + 1)
    depth = layers / n_layers
    raw = peak * np.exp(-(((depth - 0.66) / 0.3) ** 2)) + rng.normal(0, 0.005, len(layers))
    ceiling = NEURAL.get(benchmark)  # the CKA / RSA variants have none
    honest_layers = np.clip(np.argmax(raw) + rng.integers(-2, 3, size=5), 0, n_layers).tolist()
    details = {
        "data": {"n_stimuli": 627, "n_neuroids": 240, "n_dropped_neuroids": 0, "honest_layers_per_split": honest_layers}
    }
    return BenchmarkResult(score_rows(model, benchmark, layers, raw, ceiling), float(raw.max() - 0.02), details)


def reading_result(
    model: str, benchmark: str, n_layers: int, value: float, rng: np.random.Generator
) -> BenchmarkResult:
    """A pooled Futrell2018 row with a story-bootstrap CI, and per-story scores, as `Futrell2018-*` records them."""
    pearson = benchmark.endswith("pearsonr")
    unit, ceiling = ("|r|", 0.858) if pearson else ("nats/word", None)
    scores = score_rows(
        model,
        benchmark,
        [n_layers],
        [value],
        ceiling,
        value=value,
        ci_low=value - 0.01,
        ci_high=value + 0.01,
        n=9000,
        unit=unit,
        context="story",
        sentences="conllx",
    )
    noise = rng.normal(0, 0.0005, len(STORIES))
    per_story = value + STORY_EFFECTS + noise - noise.mean()  # stories differ alike for every model; mean = pooled
    details = {
        "unit": unit,
        "context": "story",
        "sentences": "conllx",
        "ci_low": value - 0.01,
        "ci_high": value + 0.01,
        "n_words": 9000,
        "per_story_raw": dict(zip(STORIES, per_story.tolist(), strict=True)),
    }
    return BenchmarkResult(scores, details=details)


def write_score_dir(directory: Path, models: dict[str, int], *, reading: bool = True, seed: int = 0) -> Path:
    """scores.csv + summary.json of `models` (name → number of blocks) on the neural benchmarks (+ Futrell2018)."""
    rng = np.random.default_rng(seed)
    frames, summary = [], {}
    for index, (model, n_layers) in enumerate(models.items()):
        results = {b: neural_result(model, b, n_layers, 0.2 + 0.01 * index, rng) for b in NEURAL}
        if reading:
            for benchmark, value in (("Futrell2018-pearsonr", 0.4), ("Futrell2018-deltall", 0.02)):
                results[benchmark] = reading_result(model, benchmark, n_layers, value + 0.001 * index, rng)
        for benchmark, result in results.items():
            frames.append(result.scores)
            summary.setdefault(model, {})[benchmark] = summarize(result)
    write_csv(directory / "scores.csv", pd.concat(frames, ignore_index=True))
    write_json(directory / "summary.json", summary)
    return directory


def model_table(n_pairs: int, seed: int = 0) -> pd.DataFrame:
    """A study's model table: `n_pairs` base/tuned pairs (+ one unpaired base), sizes, MMLU, BBH, NWP loss."""
    rng = np.random.default_rng(seed)
    rows = []
    for pair in range(n_pairs):
        params = float(10 ** rng.uniform(-1, 1.5))
        base = f"base-{pair:02d}"
        for tuned in (False, True):
            brain = 0.2 + 0.03 * np.log10(params) + 0.01 * tuned + rng.normal(0, 0.005)
            rows.append(
                {
                    "model": f"tuned-{pair:02d}" if tuned else base,
                    "instruction_tuned": tuned,
                    "base_model": base if tuned else None,
                    "family": ["llama", "t5", "gpt2"][pair % 3],
                    "params_b": params,
                    "mmlu": 0.3 + 0.1 * np.log10(params) + rng.normal(0, 0.02) if tuned else np.nan,
                    "bbh": 0.3 + rng.normal(0, 0.03),
                    "nwp_loss": 2.5 - 0.2 * np.log10(params) + rng.normal(0, 0.05),
                    "Pereira2018-linear": brain,
                    "Blank2014-linear": brain * 0.6,
                    "Futrell2018-deltall": 0.02 + rng.normal(0, 0.002),
                }
            )
    rows.append({**rows[0], "model": "lonely-base", "base_model": None})
    return pd.DataFrame(rows)


def write_study_dir(directory: Path, n_pairs: int = 3, *, n_layers: int = 6, failed: int = 1, seed: int = 0) -> Path:
    """A study directory: scores of 2·n_pairs + 1 models (the last `failed` models' last benchmark failed), the
    model table, effects.csv, correlations.csv, table2.csv, failures.csv, as `study analyze` writes them."""
    from tuneshift.study import stats

    table = model_table(n_pairs, seed)
    lost = "Futrell2018-deltall"
    write_score_dir(directory, dict.fromkeys(table["model"], n_layers), seed=seed)
    if failed:
        summary = pd.read_json(directory / "summary.json", typ="series").to_dict()
        scores = pd.read_csv(directory / "scores.csv")
        victims = list(table["model"])[-failed:]
        for model in victims:
            summary[model].pop(lost)
        scores = scores[~(scores["model"].isin(victims) & (scores["benchmark"] == lost))]
        write_json(directory / "summary.json", summary)
        write_csv(directory / "scores.csv", scores)
        failures = pd.DataFrame({"model": victims, "benchmark": lost, "error": "OutOfMemoryError: CUDA out of memory"})
        write_csv(directory / "failures.csv", failures)
    benchmarks = [*NEURAL, "Futrell2018-pearsonr", lost]
    write_json(directory / "study.json", study_record(table, benchmarks))
    failed_models = set(table["model"].iloc[len(table) - failed :]) if failed else set()
    for index, model in enumerate(table["model"]):
        for benchmark in benchmarks:
            state = "failed" if model in failed_models and benchmark == lost else "done"
            write_json(directory / "tasks" / model / f"{benchmark}.json", task_status(model, benchmark, state, index))
    analysis = stats.analyze(table)
    write_csv(directory / "models.csv", analysis.table)
    write_csv(directory / "effects.csv", analysis.effects)
    write_csv(directory / "effects_summary.csv", analysis.effect_summary)
    write_csv(directory / "correlations.csv", analysis.correlations)
    write_csv(directory / "table2.csv", analysis.table2)
    return directory


def write_internals_dir(directory: Path, seed: int = 0) -> Path:
    """Outputs of `tuneshift explain instructions / attention / ffn` in their formats (small)."""
    rng = np.random.default_rng(seed)
    sources = ["alpaca", "self-instruct", "dolly"]
    scores = pd.DataFrame(
        {
            "id": [f"{s}_{i}" for s in sources for i in range(4) for _ in (0, 1)],
            "source": [s for s in sources for _ in range(4) for _ in (0, 1)],
            "model": ["base", "tuned"] * 12,
            "score": rng.uniform(0, 1, 24),
            "n_instruction_tokens": 5,
            "n_output_tokens": 40,
            "rating": np.nan,
        }
    )
    write_csv(directory / "instruction_scores.csv", scores)
    summary = pd.DataFrame(
        {
            "source": sources,
            "comparison": "base_vs_tuned",
            "group": "tuned",
            "mean": [0.5, 0.6, 0.55],
            "n": 4,
            "p_value": [0.04, 0.2, 0.5],
        }
    )
    write_csv(directory / "summary.csv", summary)
    np.save(directory / "attribution.npy", rng.uniform(0, 1, (5, 4)))
    write_json(
        directory / "tokens.json",
        {
            "text": "x",
            "prompt_tokens": list("abcde"),
            "response_tokens": list("wxyz"),
            "prompt_spans": [],
            "response_spans": [],
            "probabilities": [0.5] * 4,
        },
    )
    shares = pd.DataFrame(
        [
            {
                "model": model,
                "group": group,
                "layers": _layers(group),
                "scheme": scheme,
                "category": category,
                "share": rng.uniform(0, 1),
                "n_hits": 3,
                "n_explainable": 10,
                "n_components": 20,
            }
            for model in ("base", "tuned")
            for group in (*range(4), "all")
            for scheme, categories in (("level", ("morphology", "semantics")), ("task", ("math", "coding")))
            for category in categories
        ]
    )
    write_csv(directory / "ffn_shares.csv", shares)
    heads = pd.DataFrame(
        {
            "Model": "tiny",
            "Size": "",
            "Layer": np.repeat([0, 1], 8),
            "Type": "QK",
            "Head": np.tile(np.repeat([0, 1], 4), 2),
            "Dim": np.tile(np.arange(4), 4),
            "Rank": np.tile(np.arange(1, 5), 4),
            "Score": rng.uniform(0, 5, 16).round(4),
            "TopK": "write=essay|||summarize=text|||list=items|||translate=french",
        }
    )
    heads.to_csv(directory / "heads_tuned.tsv", sep="\t", index=False)
    return directory


def _layers(group: int | str) -> str:
    """The 1-based layer range of a layer group of two blocks (``"all"``: the 8 blocks)."""
    return "1-8" if group == "all" else f"{2 * group + 1}-{2 * group + 2}"


def study_record(table: pd.DataFrame, benchmarks: list[str], extra_models: tuple[str, ...] = ()) -> dict:
    """study.json as `tuneshift study run` records it: source, benchmarks, options, models with spec and fields."""
    names = [*table["model"], *extra_models]
    return {
        "source": "study.yaml",
        "benchmarks": benchmarks,
        "options": {"dtype": "float32", "device": "cpu"},
        "benchmark_options": {},
        "options_key": "float32-cpu",
        "models": [
            {"name": name, "slug": name, "spec": f"/shared/models/{name}", "random_init": False, "seed": 0}
            for name in names
        ],
    }


def write_compare_dir(directory: Path, *, internals: bool = True, seed: int = 0) -> Path:
    """What `tuneshift compare base tuned --internals` leaves: both models' scores, compare.csv / compare.json (and
    figures/) written by the study's own Comparison, internals.csv and internals_samples.csv."""
    from tuneshift.interpret.instructions import base_vs_tuned
    from tuneshift.study.compare import Comparison, compare_benchmark, load_scores

    write_score_dir(directory, {"base": 6, "tuned": 6}, seed=seed)
    summary = pd.read_json(directory / "summary.json", typ="series").to_dict()
    rows = [
        compare_benchmark(load_scores(directory, "base", b), load_scores(directory, "tuned", b))
        for b in summary["base"]
    ]
    models = {
        role: {"name": role, "source": f"/models/{role}", "fingerprint": f"{index:040x}", "dtype": "float32",
               "device": "cpu", "quantization": None}
        for index, role in enumerate(("base", "tuned"))
    }  # fmt: skip
    comparison = Comparison(pd.DataFrame(rows), pd.read_csv(directory / "scores.csv"), models)
    if internals:
        rng = np.random.default_rng(seed)
        samples = pd.DataFrame({
            "id": [f"alpaca_{i}" for i in range(6)] * 2, "source": "alpaca", "model": ["base"] * 6 + ["tuned"] * 6,
            "score": rng.uniform(0, 1, 12), "n_instruction_tokens": 4, "n_output_tokens": 30, "rating": np.nan,
        })  # fmt: skip
        comparison.internals = base_vs_tuned(samples, "base", "tuned")
        samples.to_csv(directory / "internals_samples.csv", index=False)
    comparison.write(directory)
    return directory


def task_status(model: str, benchmark: str, state: str, index: int = 0) -> dict:
    """A study task's status file as `study run` writes it (``tasks/<model>/<benchmark>.json``)."""
    seconds = 10.0 + index if benchmark.startswith("Futrell") else 100.0 + index
    return {"model": model, "spec": f"/shared/models/{model}", "benchmark": benchmark, "state": state,
            "run_id": "0123456789ab", "options_key": "float32-cpu", "spec_stamp": "", "host": f"node{index % 2}",
            "time": 1.8e9, "seconds": seconds if state == "done" else 0.0}  # fmt: skip


def write_localize_dir(directory: Path, *, score: bool = True, ablate: bool = True, seed: int = 0) -> Path:
    """What `tuneshift localize --score Tuckute2024-ridge --ablate` leaves: the localization (Localization.save),
    network_scores.csv (network, 5 random sets, all units) and ablation.csv in their formats."""
    from tuneshift.localize.localizer import STAT_FIELDS, Localization
    from tuneshift.localize.scoring import SCORE_COLUMNS

    rng = np.random.default_rng(seed)
    layers, hidden = np.arange(1, 7), 64
    arrays = {name: rng.normal(0, 1, (len(layers), hidden)) for name in STAT_FIELDS}
    arrays["t"][3:5, :8] += 6  # a network in the middle-deep layers
    arrays["p"], arrays["q"] = rng.uniform(0, 1, (2, len(layers), hidden))
    Localization("tiny", f"{7:040x}", layers, top=0.05, **arrays).save(directory)
    if score:
        random = 0.10 + rng.normal(0, 0.01, 5)
        scores = pd.DataFrame({
            "model": "tiny", "benchmark": "Tuckute2024-ridge",
            "units": ["network", *["random"] * 5, "all (best layer)", "all (honest layer)"],
            "seed": pd.array([None, 0, 1, 2, 3, 4, None, None], dtype="Int64"), "n_units": [19] * 6 + [64, 64],
            "layer": ["network"] * 6 + ["4", "chosen per split"], "raw": [0.21, *random, 0.25, 0.2],
            "ceiling": 0.4,
        }).assign(normalized=lambda f: f["raw"] / 0.4)[SCORE_COLUMNS]  # fmt: skip
        write_csv(directory / "network_scores.csv", scores)
    if ablate:
        ablation = pd.DataFrame({
            "condition": ["none", "network", *["random"] * 5], "seed": pd.array([None, None, 0, 1, 2, 3, 4], "Int64"),
            "n_units": [0, 19, 19, 19, 19, 19, 19], "ablation": "zero",
            "mean_bits": [9.0, 10.5, *(9.1 + rng.normal(0, 0.05, 5))], "words": 900,
        }).assign(delta_bits=lambda f: f["mean_bits"] - 9.0, futrell_r=[0.4, 0.3, *(0.39 + rng.normal(0, 0.01, 5))],
                  futrell_deltall=[0.02, 0.005, *(0.019 + rng.normal(0, 0.001, 5))])  # fmt: skip
        write_csv(directory / "ablation.csv", ablation)
    return directory


def write_tune_dir(directory: Path, steps: int = 30) -> Path:
    """A tuned model folder's report inputs as `tuneshift tune` writes them: loss.csv and tuneshift-tune.json."""
    step = np.arange(1, steps + 1)
    loss = 2.5 * np.exp(-step / 10) + 1.0 + np.random.default_rng(0).normal(0, 0.05, steps)
    frame = pd.DataFrame({"step": step, "loss": loss, "learning_rate": 1e-4 * np.minimum(1, step / 5),
                          "tokens": 512, "tokens_per_s": 800.0, "elapsed_s": step * 0.64})  # fmt: skip
    write_csv(directory / "loss.csv", frame)
    write_json(directory / "tuneshift-tune.json", {
        "base": "/models/base", "base_name": "smollm2-135m", "base_source": "/models/base",
        "base_fingerprint": f"{3:040x}", "data": {"name": "alpaca_seed", "sha256": "ab" * 32, "examples": 175},
        "options": {"steps": steps, "lr": 1e-4, "lora_rank": 8, "seed": 0}, "run_key": "k", "steps": steps,
        "initial_loss": float(loss[0]), "final_loss": float(loss[-10:].mean()),
        "final_loss_note": "mean of the last 10 steps' losses (nats per response token)",
        "trainable_parameters": 921600, "tokens": 512 * steps, "tokens_per_s": 800.0, "wall_time_s": steps * 0.64,
        "peak_memory_mb": 900.0, "torch": "2.13.0", "transformers": "5.23.0",
    })  # fmt: skip
    return directory


def write_unit_dir(
    directory: Path,
    models: dict[str, bool],
    benchmarks: tuple[str, ...] = ("Pereira2018-linear", "Pereira2018-cka", "Futrell2018-deltall"),
    *,
    n_layers: int = 6,
    seed: int = 0,
) -> Path:
    """A score directory written through the results store, as `tuneshift score` writes it: one unit per model
    (name → random_init) × benchmark, with provenance (subject, options, data digest, kind, versions, wall time)
    and the per-unit values the report draws from: ``r(layer, split, neuroid)`` for neural benchmarks, per-word
    surprisal and reading times and per-story scores with CIs for reading times."""
    import xarray as xr

    from tuneshift.benchmarks.store import ResultStore, new_unit, unit_key

    rng = np.random.default_rng(seed)
    store = ResultStore(directory)
    for index, (model, random_init) in enumerate(models.items()):
        subject = {"name": model, "source": f"/models/{model}", "fingerprint": f"{index:040x}", "random_init":
                   random_init, "seed": 0, "dtype": "float32", "device": "cpu", "n_parameters": 1000, "n_layers":
                   n_layers, "family": "LlamaForCausalLM"}  # fmt: skip
        peak = 0.05 if random_init else 0.2 + 0.01 * index
        for benchmark in benchmarks:
            values = None
            if benchmark.startswith("Futrell"):
                kind = "behavioral"
                surprisal = rng.gamma(2.0, 3.0, 400)
                rt = 300 + (3 if random_init else 6) * surprisal + rng.normal(0, 20, 400)
                value = 0.005 if random_init else 0.02
                measure = "abs_r" if benchmark.endswith("pearsonr") else "delta_ll"
                values = xr.Dataset(
                    {"surprisal": ("word", surprisal), "mean_rt": ("word", rt), "used": ("word", surprisal < 20),
                     measure: ("story", value + STORY_EFFECTS), "ci_low": ("story", value + STORY_EFFECTS - 0.004),
                     "ci_high": ("story", value + STORY_EFFECTS + 0.004)},
                    coords={"story": STORIES, "word_story": ("word", np.repeat(STORIES, 40))},
                    attrs={"paired_unit": "story", "measure": measure},
                )  # fmt: skip
                result = reading_result(model, benchmark, n_layers, value, rng)
            else:
                kind = "neural"
                result = neural_result(model, benchmark, n_layers, peak, rng)
                raw = result.scores["raw"].to_numpy()
                r = raw[:, None, None] + rng.normal(0, 0.02, (n_layers + 1, 10, 30))
                coords = {"layer": np.arange(n_layers + 1), "dataset": ("neuroid", np.repeat(["a", "b"], 15))}
                values = xr.Dataset({"r": (("layer", "split", "neuroid"), r)}, coords=coords)
            options = {"pooling": "last"} if kind == "neural" else {"context": "story", "sentences": "conllx"}
            key = unit_key(subject["fingerprint"], {"dtype": "float32"}, benchmark, options, "d" * 16)
            summary = summarize(result)
            unit = new_unit(
                key, model, benchmark, result.scores, summary, values=values, benchmark_id=benchmark,
                fingerprint=subject["fingerprint"], variant={"dtype": "float32"}, options=options,
                data_digest=f"{index:016x}", subject=subject, kind=kind, version=1, wall_s=12.5 + index,
                versions={"torch": "2.13.0", "transformers": "5.23.0", "numpy": "2.3.0", "python": "3.11.9"},
            )  # fmt: skip
            store.save(unit)
    return directory


def write_graft_dir(directory: Path, n_blocks: int = 4, *, always: str = "norm:final", seed: int = 0) -> Path:
    """What `tuneshift graft -s leave-one-in -s cumulative-bottom -s alpha --always norm:final` leaves for its report:
    graft.csv (:data:`tuneshift.graft.sweep.TABLE_COLUMNS`) and graft.json, on one neural and one reading-time
    benchmark; shares rise with depth, intervals from 10 splits / stories."""
    from tuneshift.graft.sweep import TABLE_COLUMNS

    rng = np.random.default_rng(seed)
    ends = {"Tuckute2024-ridge": (0.05, 0.34), "Futrell2018-deltall": (0.002, 0.021)}
    units = ["embed", *(f"block:{i}" for i in range(n_blocks))]
    steps = [
        ("ends", 0, "base", "", "", 0.0),
        ("ends", 1, "tuned", "all", "", 1.0),
        ("ends", 2, "always", "", always, 0.6),
    ]
    steps += [("leave-one-in", i, u, u, always, 0.6 + 0.05 * i) for i, u in enumerate(units)]
    steps += [("cumulative-bottom", i, u, ",".join(units[: i + 1]), always, 0.6 + 0.4 * (i + 1) / len(units))
              for i, u in enumerate(units)]  # fmt: skip
    steps += [("alpha", i, "all", "all", always, 0.6 + 0.4 * a**2) for i, a in enumerate((0.0, 0.5, 1.0))]
    rows = []
    for sweep, step, part, parts, kept, share in steps:
        alpha = (0.0, 0.5, 1.0)[step] if sweep == "alpha" else 1.0
        for benchmark, (base, tuned) in ends.items():
            value = share + (rng.normal(0, 0.03) if 0 < share < 1 else 0.0)
            half = 0.0 if sweep == "ends" and part != "always" else 0.08
            rows.append({"sweep": sweep, "step": step, "part": part, "parts": parts, "always": kept,
                         "direction": "forward", "alpha": alpha, "benchmark": benchmark,
                         "score": base + value * (tuned - base), "honest": base + value * (tuned - base) - 0.01,
                         "base": base, "tuned": tuned, "share": value, "share_ci_low": value - half,
                         "share_ci_high": value + half, "ci_from": "10 paired split", "fingerprint": f"{step:016x}",
                         "unit_key": f"{len(rows):016x}", "seconds": 4.0 + step})  # fmt: skip
    write_csv(directory / "graft.csv", pd.DataFrame(rows)[TABLE_COLUMNS])
    write_json(directory / "graft.json", {
        "base": "smollm2-135m [random-init]", "base_fingerprint": f"{1:016x}", "tuned": "smollm2-135m",
        "tuned_fingerprint": f"{2:016x}", "tuned_source": "/models/smollm2-135m", "sweeps": ["leave-one-in"],
        "benchmarks": list(ends), "units": [], "group": 1, "alphas": [0.0, 0.5, 1.0], "always": [always], "options": {},
    })  # fmt: skip
    return directory


def write_trajectory_dir(directory: Path, *, seeds: tuple[int, ...] = (0, 1), steps: int = 30, every: int = 10) -> Path:
    """A trajectory study folder as `tuneshift study run TRAJECTORY.yaml` leaves it for its report: trajectory.json,
    each checkpoint's scored record (runs/<run>/scored/step-N.json; the base as runs/base, step 0) and each run's
    loss.csv; two arms on one neural and one reading-time benchmark, the instruction arm rising along the run."""
    rng = np.random.default_rng(0)
    arms, benchmarks = ["instructions", "drop-instruction"], {"Tuckute2024-ridge": 0.30, "Futrell2018-deltall": 0.015}
    write_json(directory / "trajectory.json", {
        "base": "gemma3-270m", "data": "seed-tasks", "format": None, "seeds": list(seeds), "steps": steps,
        "save_every": every, "arms": [{"name": a, "data": None, "format": None, "options": {}} for a in arms],
        "tune_options": {"batch_size": 1, "max_length": 128}, "benchmarks": list(benchmarks), "benchmark_options": {},
        "score_options": {}, "holdout": "finaldataset", "source": "traj.yaml", "checkpoint_steps": [0, 10, 20, 30],
        "holdout_note": "training examples whose instruction is one of Wu et al.'s FinalDataset prompts were removed",
    })  # fmt: skip

    def record(run: str, arm: str | None, seed: int | None, step: int, rise: float) -> dict:
        scores = {b: {"best_raw": base * (1 + rise * step / steps) + (rng.normal(0, 0.01 * base) if step else 0.0),
                      "honest_raw": base * 0.9, "best_normalized": None, "best_layer": 12, "unit_key": f"{step:016x}",
                      "seconds": 20.0} for b, base in benchmarks.items()}  # fmt: skip
        return {"run": run, "arm": arm, "seed": seed, "step": step, "tokens_seen": 400 * step, "loss": 2.0 - step / 60,
                "fingerprint": f"{len(run) * 1000 + step:016x}", "model": run, "benchmarks": scores}  # fmt: skip

    write_json(directory / "runs" / "base" / "scored" / "step-000000.json", record("base", None, None, 0, 0.0))
    for arm, rise in zip(arms, (0.2, 0.02), strict=True):
        for seed in seeds:
            run = directory / "runs" / f"{arm}-seed{seed}"
            for step in range(every, steps + 1, every):
                write_json(run / "scored" / f"step-{step:06d}.json", record(run.name, arm, seed, step, rise))
            step = np.arange(1, steps + 1)
            loss = 2.2 * np.exp(-step / 12) + 1.2 + rng.normal(0, 0.05, steps)
            write_csv(run / "loss.csv", pd.DataFrame({"step": step, "loss": loss, "tokens": 400}))
    return directory
