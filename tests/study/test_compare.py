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
from tuneshift.study.compare import BenchmarkScores, compare_benchmark, paired_test


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
    assert test["unit"] == "neuroid" and test["n_units"] == 200 and test["wilcoxon_p"] < 1e-10
    change = b.raw[b.best] - a.raw[a.best]
    assert test["change_ci_low"] < change < test["change_ci_high"]
    assert test["change_ci_high"] - test["change_ci_low"] < 0.05
    row = compare_benchmark(a, b)
    assert row["pct_change_best_raw"] == pytest.approx(100 * change / a.raw[a.best])
    # the per-neuroid changes are those of each model's own best layer (tuned: layer 1 or 2, not its bad layer 0)
    expected = tuned[b.best].mean(0) - base[a.best].mean(0)
    assert test["mean_unit_change"] == pytest.approx(float(np.mean(expected)), abs=1e-6)  # r kept as float32


def test_results_without_values_get_no_paired_test():
    a = _neural("a", np.full((2, 10, 20), 0.2))
    b = BenchmarkScores("b", "B", "neural", a.layers, a.raw, a.normalized, a.honest_raw)
    test = paired_test(a, b)
    assert test["unit"] == "none" and "no per-unit values" in test["note"]


def test_paired_test_over_splits_when_one_neuroid():
    rng = np.random.default_rng(1)
    base = rng.normal(0.3, 0.02, (2, 10, 1))
    test = paired_test(_neural("a", base), _neural("b", base + 0.01))
    assert test["unit"] == "split" and test["n_units"] == 10 and "optimistic" in test["note"]
    assert test["mean_unit_change"] == pytest.approx(0.01) and test["wilcoxon_p"] == pytest.approx(2 / 2**10)


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
    assert tuckute["unit"] == "split" and tuckute["n_units"] == 10 and "optimistic" in tuckute["note"]
    # the stored per-split r at each best layer average to the benchmark's scores (r stored as float32)
    assert tuckute["mean_unit_change"] == pytest.approx(tuckute["change_best_raw"], abs=1e-6)
    futrell = table.loc["Futrell2018-pearsonr"]
    assert futrell["unit"] == "story" and futrell["n_units"] == 10
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
