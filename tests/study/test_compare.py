"""compare: both models scored, per-benchmark change with a paired test in the benchmark's units, figures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tuneshift.benchmarks._base import neuroid_values
from tuneshift.cli.compare import compare
from tuneshift.study.compare import (
    BenchmarkScores,
    compare_benchmark,
    compare_models,
    effects_of,
    mcnemar_exact_p,
    paired_test,
)
from tuneshift.study.stats import summarize_effects


def _neural(model: str, split_neuroid: np.ndarray) -> BenchmarkScores:
    """Scores of a model whose (layers, splits, neuroids) r are given, with those r as its stored values."""
    raw = np.nanmedian(split_neuroid, -1).mean(-1)
    layers = np.arange(len(raw))
    neuroids = pd.DataFrame({"neuroid_id": [f"v{i}" for i in range(split_neuroid.shape[-1])], "subject": "s1"})
    values = neuroid_values(split_neuroid, layers, neuroids, "D")
    return BenchmarkScores(model, "B", "neural", layers, raw, raw / 0.5, float(raw.max()), values=values)


def test_paired_test_over_neuroids_at_each_best_layer():
    rng = np.random.default_rng(0)
    base = rng.normal(0.2, 0.05, (3, 10, 200))  # layers × splits × neuroids
    tuned = base + 0.02 + rng.normal(0, 0.01, base.shape)
    tuned[0] -= 0.5  # the tuned model's other layers are worse: the test uses each model's own best layer
    a, b = _neural("a", base), _neural("b", tuned)
    test = paired_test(a, b)
    assert test["paired_unit"] == "neuroid" and test["n_paired"] == 200 and test["wilcoxon_p"] < 1e-10
    change = b.raw[b.best] - a.raw[a.best]
    assert test["change_ci_low"] < change < test["change_ci_high"]
    assert test["change_ci_high"] - test["change_ci_low"] < 0.05
    row = compare_benchmark(a, b)
    assert row["pct_change_best_raw"] == pytest.approx(100 * change / a.raw[a.best])
    # the per-neuroid changes are those of each model's own best layer (tuned: layer 1 or 2, not its bad layer 0)
    expected = tuned[b.best].mean(0) - base[a.best].mean(0)
    assert test["mean_paired_change"] == pytest.approx(float(np.mean(expected)), abs=1e-6)  # r kept as float32


def test_results_without_values_get_no_paired_test():
    a = _neural("a", np.full((2, 10, 20), 0.2))
    b = BenchmarkScores("b", "B", "neural", a.layers, a.raw, a.normalized, a.honest_raw)
    test = paired_test(a, b)
    assert test["paired_unit"] == "none" and "no paired values" in test["note"]


def test_paired_test_over_splits_when_one_neuroid():
    rng = np.random.default_rng(1)
    base = rng.normal(0.3, 0.02, (2, 10, 1))
    test = paired_test(_neural("a", base), _neural("b", base + 0.01))
    assert test["paired_unit"] == "split" and test["n_paired"] == 10 and "optimistic" in test["note"]
    assert test["mean_paired_change"] == pytest.approx(0.01) and test["wilcoxon_p"] == pytest.approx(2 / 2**10)


def test_compare_cli_tiny_model_vs_its_random_init_control(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    tuned_dir = tmp_path / "tuned"
    shutil.copytree(tiny_model_dirs["llama"], tuned_dir)
    (tuned_dir / "tuneshift-tune.json").write_text(
        json.dumps({"base": str(tiny_model_dirs["llama"]), "base_fingerprint": "0" * 64})
    )
    app = typer.Typer()
    app.command()(compare)
    out = tmp_path / "cmp"
    args = ["-b", "Tuckute2024-ridge", "-b", "Futrell2018-pearsonr", "--out", str(out)]
    result = CliRunner().invoke(app, [str(tiny_model_dirs["llama"]), str(tuned_dir), "--base-random-init", *args])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "compare.csv").set_index("benchmark")
    tuckute = table.loc["Tuckute2024-ridge"]  # one network-averaged response: paired over splits, and said so
    assert tuckute["paired_unit"] == "split" and tuckute["n_paired"] == 10 and "optimistic" in tuckute["note"]
    # the stored per-split r at each best layer average to the benchmark's scores (r stored as float32)
    assert tuckute["mean_paired_change"] == pytest.approx(tuckute["change_best_raw"], abs=1e-6)
    futrell = table.loc["Futrell2018-pearsonr"]
    assert futrell["paired_unit"] == "story" and futrell["n_paired"] == 10
    assert futrell["change_best_raw"] == pytest.approx(futrell["tuned_best_raw"] - futrell["base_best_raw"])
    scores = pd.read_csv(out / "scores.csv")
    assert scores["model"].nunique() == 2 and any("random-init" in m for m in scores["model"])
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {
        "profile-Tuckute2024-ridge.svg",
        "change.png",
    } <= figures and "profile-Futrell2018-pearsonr.png" not in figures
    assert json.loads((out / "compare.json").read_text())["models"]["base"]["random_init"] is True
    # comparing again reads the finished units and their values: not one readout
    import tuneshift.models.readout as readout

    readouts = []
    with monkeypatch.context() as patched:
        patched.setattr(readout, "read_out", lambda *a, **k: readouts.append(a) or pytest.fail("read out again"))
        again = CliRunner().invoke(app, [str(tiny_model_dirs["llama"]), str(tuned_dir), "--base-random-init", *args])
        assert again.exit_code == 0, again.output
        pd.testing.assert_frame_equal(pd.read_csv(out / "compare.csv").set_index("benchmark"), table)
        # options are checked, by name, before any model loads
        bad = CliRunner().invoke(app, [str(tiny_model_dirs["llama"]), str(tuned_dir), *args, "-o", "nonsense=1"])
        assert bad.exit_code == 1 and "nonsense" in str(bad.exception)
    assert readouts == []
    # a tuned directory alone is paired with the base its tuneshift-tune.json names
    alone = CliRunner().invoke(app, [str(tuned_dir), "-b", "Futrell2018-pearsonr", "--out", str(tmp_path / "alone")])
    assert alone.exit_code == 0, alone.output
    assert "is not the model" in alone.output  # the recorded base fingerprint does not match (written as zeros)
    pair = pd.read_csv(tmp_path / "alone" / "compare.csv").iloc[0]
    assert pair["base"] == "llama" and pair["tuned"] == "tuned" and pair["change_best_raw"] == pytest.approx(0.0)


def test_compare_internals_instruction_attribution(tiny_model_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    dataset = Path(__file__).resolve().parents[1] / "fixtures" / "wu2023" / "FinalDataset.tsv"
    app = typer.Typer()
    app.command()(compare)
    out = tmp_path / "cmp"
    args = [
        str(tiny_model_dirs["llama"]),
        str(tiny_model_dirs["llama"]),
        "--base-random-init",
        "-b",
        "Futrell2018-pearsonr",
    ]
    args += ["--internals", "--dataset", str(dataset), "--limit", "3", "--max-new-tokens", "6", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    samples = pd.read_csv(out / "internals_samples.csv")
    assert len(samples) == 6 and samples["score"].notna().all()  # 3 prompts × 2 models
    welch = pd.read_csv(out / "internals.csv")
    assert set(welch["comparison"]) == {"base_vs_tuned"} and welch["n"].sum() == 6


def _items(model: str, benchmark: str, measure: str, values: np.ndarray, **extra) -> BenchmarkScores:
    """A capability result: one headline score row over per-item values (``measure(item)``), as capability.py
    keeps them; ``n_tokens`` in `extra` makes the score token-weighted, as WikiText2-nwp's is."""
    import xarray as xr

    data = xr.Dataset({measure: ("item", values), **{k: ("item", v) for k, v in extra.items()}})
    data = data.assign_coords(item=[f"i{n}" for n in range(len(values))])
    data.attrs.update(paired_unit="item", measure=measure, **({"weight": "n_tokens"} if "n_tokens" in extra else {}))
    weights = extra.get("n_tokens", np.ones(len(values)))
    raw = np.array([np.sum(values * weights) / np.sum(weights)], dtype=float)
    higher = benchmark != "WikiText2-nwp"  # the registry's fact, as unit_scores reads it: checked below
    return BenchmarkScores(model, benchmark, "capability", np.array([0]), raw, raw, float(raw[0]), values=data,
                           higher_is_better=higher)  # fmt: skip


def test_lower_loss_is_reported_as_an_improvement():
    """WikiText2-nwp declares lower is better: a tuned model with a lower loss is ``better`` in the compare row, in
    the effects summary and in its direction, while % change stays the arithmetic change (negative). The CI is that
    of the token-weighted loss the score is; the test Wilcoxon over articles."""
    from tuneshift.benchmarks import BENCHMARKS
    from tuneshift.study.stats import higher_is_better

    assert BENCHMARKS.get("WikiText2-nwp").higher_is_better is False and BENCHMARKS.get("MMLU").higher_is_better
    assert higher_is_better("nwp_loss") is False and higher_is_better("WikiText2-nwp [window=64]") is False
    assert higher_is_better("mmlu_stem") and higher_is_better("Pereira2018-linear")
    rng = np.random.default_rng(0)
    tokens = rng.integers(100, 2000, 30).astype(float)
    loss = rng.normal(4.0, 0.3, 30)
    base = _items("base", "WikiText2-nwp", "loss", loss, n_tokens=tokens)
    tuned = _items("tuned", "WikiText2-nwp", "loss", loss - 0.1 + rng.normal(0, 0.02, 30), n_tokens=tokens)
    row = compare_benchmark(base, tuned)
    assert row["higher_is_better"] is False and row["effect"] == "better"
    change = tuned.raw[0] - base.raw[0]
    assert row["change_best_raw"] == pytest.approx(change) and row["pct_change_best_raw"] < 0
    assert row["test"] == "Wilcoxon signed-rank" and row["p"] == row["wilcoxon_p"] == pytest.approx(2 / 2**30)
    assert row["paired_unit"] == "item" and row["n_paired"] == 30 and "n_tokens-weighted" in row["note"]
    assert row["change_ci_low"] < change < row["change_ci_high"] < 0
    summary = summarize_effects(effects_of(pd.DataFrame([row])))
    assert summary["direction"].tolist() == ["better"] and not summary["higher_is_better"].iat[0]
    worse = compare_benchmark(tuned, base)  # the other way round: a higher loss is worse
    assert worse["effect"] == "worse" and worse["pct_change_best_raw"] > 0


def test_right_wrong_items_paired_by_mcnemars_exact_test():
    """40 questions: both right on 12, both wrong on 18, tuned gains 8 and loses 2. McNemar's exact p is the
    two-sided binomial p of 8 of 10 discordant questions: 2 · (45 + 10 + 1) / 2^10. The CI is a paired bootstrap of
    the accuracy change over questions (same draw for both models)."""
    base = np.array([True] * 12 + [False] * 18 + [False] * 8 + [True] * 2)
    tuned = np.array([True] * 12 + [False] * 18 + [True] * 8 + [False] * 2)
    assert mcnemar_exact_p(base, tuned) == pytest.approx(112 / 1024) and mcnemar_exact_p(base, base) == 1.0
    row = compare_benchmark(_items("b", "MMLU", "correct", base), _items("t", "MMLU", "correct", tuned))
    assert row["test"] == "McNemar exact" and row["p"] == pytest.approx(112 / 1024) and np.isnan(row["wilcoxon_p"])
    assert row["change_best_raw"] == pytest.approx(6 / 40) == row["mean_paired_change"]
    assert row["change_ci_low"] < 6 / 40 < row["change_ci_high"] and row["effect"] == "better"


def _perturbed_copy(directory: Path, target: Path, scale: float) -> Path:
    """`directory`'s model with seeded noise added to every weight, tokenizer unchanged."""
    import torch
    import transformers

    shutil.copytree(directory, target)
    model = transformers.AutoModelForCausalLM.from_pretrained(directory)
    torch.manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(scale * torch.randn_like(param))
    model.save_pretrained(target)
    return target


def test_compare_capabilities_paired_per_item_from_stored_values(tmp_path, monkeypatch):
    """`compare BASE TUNED -b MMLU -b WikiText2-nwp` on two tiny models and the fixtures: MMLU paired per question
    (McNemar's exact test from the stored right/wrong values), WikiText-2 per article (Wilcoxon), effects read in
    each benchmark's direction; a second compare reads the stored units and runs nothing."""
    import tuneshift.benchmarks.capability as capability
    from tests.models.test_harness import FIXTURES, save_letter_model
    from tuneshift.benchmarks.store import ResultStore
    from tuneshift.models.load import load_model

    monkeypatch.setenv("TUNESHIFT_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data" / "mmlu" / "mmlu.jsonl"  # where `tuneshift data fetch MMLU` puts it
    data.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "mmlu.jsonl", data)
    monkeypatch.setenv("TUNESHIFT_DATA", str(tmp_path / "data"))
    tuned_dir = save_letter_model(tmp_path / "a")
    base_dir = _perturbed_copy(tuned_dir, tmp_path / "noisy", 0.5)  # noisier weights: a higher loss
    article = (FIXTURES / "wikitext2_test.txt").read_text()
    wiki = tmp_path / "wiki.txt"  # two articles: the fixture's, and the same lines under another title
    wiki.write_text(article + article.replace(" = Robert <unk> = ", " = Second article = ").lstrip("\n"))
    options = {"MMLU": {"data": str(data)}, "WikiText2-nwp": {"data": str(wiki), "window": 64}}
    models = [load_model(base_dir), load_model(tuned_dir)]
    out = tmp_path / "cmp"
    result = compare_models(*models, ["MMLU", "WikiText2-nwp"], out, options=options, progress=False)
    table = result.table.set_index("benchmark")
    mmlu, wiki_row = table.iloc[0], table.iloc[1]
    assert mmlu["paired_unit"] == "item" and mmlu["n_paired"] == 12 and mmlu["test"] == "McNemar exact"
    store = ResultStore(out)
    stored = {u.model: store.values(u) for u in store.units() if u.provenance["benchmark_id"] == "MMLU"}
    right = [stored[m.name]["correct"].to_numpy() for m in models]
    assert right[0].dtype == bool and mmlu["p"] == pytest.approx(mcnemar_exact_p(*right))
    assert mmlu["change_best_raw"] == pytest.approx(right[1].mean() - right[0].mean())
    assert wiki_row["paired_unit"] == "item" and wiki_row["n_paired"] == 2
    assert wiki_row["test"] == "Wilcoxon signed-rank"
    assert not wiki_row["higher_is_better"] and mmlu["higher_is_better"]
    # the second model's loss is lower (6.6 vs 11.4 nats/token): an improvement, although the change is negative
    assert wiki_row["change_best_raw"] < -1 and wiki_row["pct_change_best_raw"] < 0 and wiki_row["effect"] == "better"
    assert {u.provenance["higher_is_better"] for u in store.units()} == {True, False}
    # comparing again reads the stored units and values: lm-eval is never called
    monkeypatch.setattr(capability, "evaluate", lambda *a, **k: pytest.fail("capability benchmark re-run"))
    again = compare_models(*models, ["MMLU", "WikiText2-nwp"], out, options=options, progress=False)
    pd.testing.assert_frame_equal(again.table, result.table)
