"""The report of score, study and explain directories: sections present exactly when their data is, numbers as
the run wrote them, partial and broken directories, and a page that references nothing outside itself."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.report.page import column, read_page
from tests.report.synthetic import write_compare_dir, write_internals_dir, write_score_dir, write_study_dir
from tuneshift.cli.report import app
from tuneshift.errors import DataNotFoundError, InvalidInputError
from tuneshift.report import write_report

FAST = ("svg",)  # the SVG copy is the embedded bytes; PDFs are rendered once, in test_copies_of_figures_and_tables


def test_score_dir_report_shows_scores_profiles_and_reading_times(tmp_path):
    write_score_dir(tmp_path, {"tiny-a": 4, "tiny-b": 8})
    page = read_page(write_report(tmp_path, figures=FAST))
    assert page.sections == ["models", "profiles", "reading", "missing", "methods"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    # The card of each model shows its summary.json numbers (4 significant digits).
    entry = summary["tiny-b"]["Pereira2018-linear"]
    card = page.tables["tiny-b scores"]
    row = next(r for r in card[1:] if r[0] == "Pereira2018-linear")
    assert row[1:] == [  # the note is empty: the honest score is close to the best layer's
        str(entry["best_layer"]),
        f"{entry['best_raw']:.4g}",
        f"{entry['best_normalized']:.4g}",
        f"{entry['honest_raw']:.4g}",
        f"{entry['honest_normalized']:.4g}",
        "0.35",
        "",
    ]
    assert column(page, "all scores", "model").count("tiny-a") == 5  # 3 neural + 2 reading-time benchmarks
    # One layer profile per neural benchmark, one forest plot per reading-time benchmark.
    assert len(page.images) == 3 + 2
    assert all(src.startswith("data:image/svg+xml;base64,") for src in page.images)
    # Reading times: pooled scores with their CIs, and one row per model × benchmark with the ten stories.
    pooled = page.tables["reading times"]
    assert pooled[0][:5] == ["model", "benchmark", "score", "ci_low", "ci_high"]
    deltall = summary["tiny-a"]["Futrell2018-deltall"]
    assert ["tiny-a", "Futrell2018-deltall", f"{deltall['best_raw']:.4g}", f"{deltall['ci_low']:.4g}"] in [
        r[:4] for r in pooled
    ]
    stories = page.tables["reading times per story"]
    assert stories[0] == ["model", "benchmark", *(f"story {i}" for i in range(1, 11))]
    assert len(stories) == 1 + 2 * 2
    # Sections without data are listed with the command that would produce them.
    assert "tuneshift study analyze" in page.text and "tuneshift explain" in page.text


def test_study_dir_report_has_changes_correlations_failures_and_internals(tmp_path):
    write_study_dir(tmp_path, n_pairs=3)
    (tmp_path / "internals").mkdir()
    write_internals_dir(tmp_path / "internals")
    page = read_page(write_report(tmp_path, figures=FAST))
    expected = ["models", "profiles", "changes", "correlations", "reading", "internals", "failures", "missing"]
    assert page.sections == [*expected, "methods"]
    effects = pd.read_csv(tmp_path / "effects.csv")
    assert len(page.tables["Effect per pair and benchmark"]) == 1 + len(effects)
    correlations = pd.read_csv(tmp_path / "correlations.csv")
    assert column(page, "correlations", "q") == [f"{q:.3g}" for q in correlations["q"]]
    size = correlations.query("alignment == 'brain_alignment' and property == 'log10_params' and method == 'pearson'")
    for row in size.itertuples():  # both subsets' tests are in the one scatter's caption
        assert f"{row.subset} models: r = {row.r:.3f}, p = {row.p:.3g}, FDR q = {row.q:.3g}, n = {row.n}" in page.text
    # Aw et al.'s Table 2 form: its tested rows, beside the paper's r, and where each property came from
    form = pd.read_csv(tmp_path / "table2.csv").query("n > 0")
    assert len(form) and column(page, "table2", "r") == [f"{r:.4g}" for r in form["r"]]
    assert column(page, "table2", "measured_by") == form["measured_by"].tolist()
    assert "Aw et al. Table 2 form" in page.text
    # The failed unit is in the failures table and listed as missing (failed), nothing else is missing.
    assert page.tables["failures"][1] == ["lonely-base", "Futrell2018-deltall", "OutOfMemoryError: CUDA out of memory"]
    assert page.tables["missing results"][1:] == [
        ["lonely-base", "Futrell2018-deltall", "failed", "OutOfMemoryError: CUDA out of memory"]
    ]
    # Internals: instruction scores by source (3 sources × 2 models), top head pairs (at most 20 rows).
    by_source = page.tables["Instruction-attribution score by source (mean over samples)"]
    assert len(by_source) == 1 + 6
    scores = pd.read_csv(tmp_path / "internals" / "instruction_scores.csv")
    alpaca = scores[(scores.model == "tuned") & (scores.source == "alpaca")]["score"].mean()
    assert ["tuned", "alpaca", f"{alpaca:.4g}"] == next(r[:3] for r in by_source if r[:2] == ["tuned", "alpaca"])
    heads = page.tables["Top head word pairs (tuned)"]
    assert len(heads) == 1 + 16 and heads[1][column_index(heads, "TopK")].startswith("write=essay, summarize=text")
    assert column(page, "Top head word pairs (tuned)", "Score") == sorted(
        column(page, "Top head word pairs (tuned)", "Score"), key=float, reverse=True
    )
    # Figures: 3 profiles, the effects strip, a scatter per alignment × property (2 × 4), 2 forest plots, heatmap,
    # 2 FFN share plots.
    assert len(page.images) == 3 + 1 + 8 + 2 + 1 + 2
    assert all(src.startswith(("data:image/svg+xml;base64,", "data:image/png;base64,")) for src in page.images)


def column_index(table: list[list[str]], name: str) -> int:
    return table[0].index(name)


def test_compare_dir_report_shows_the_pair_its_tests_and_internals(tmp_path):
    write_compare_dir(tmp_path)
    page = read_page(write_report(tmp_path, figures=FAST))
    assert page.sections == ["models", "profiles", "changes", "reading", "internals", "missing", "methods"]
    compare = pd.read_csv(tmp_path / "compare.csv")
    label = "Per benchmark: both models, the change and its paired test"
    assert column(page, label, "pct_change_best_raw") == [f"{v:.4g}" for v in compare["pct_change_best_raw"]]
    assert column(page, label, "wilcoxon_p")[-2:] == [f"{p:.3g}" for p in compare["wilcoxon_p"].iloc[-2:]]
    assert column(page, label, "paired_unit") == ["none"] * 3 + ["story"] * 2
    # Profiles of both models (3 neural benchmarks), the base-vs-tuned panels, 2 forest plots.
    assert len(page.images) == 3 + 1 + 2
    # compare.json's description of each model reaches the methods (fingerprint, source, device).
    provenance = page.tables["model provenance"]
    assert column(page, "model provenance", "fingerprint") == [f"{0:040x}", f"{1:040x}"]
    assert "/models/tuned" in provenance[2]
    # --internals: per-source instruction scores and the one-sided Welch test, under compare's file names.
    welch = page.tables["Comparisons (one-sided Welch)"]
    assert [row[:3] for row in welch[1:]] == [["alpaca", "base_vs_tuned", "base"], ["alpaca", "base_vs_tuned", "tuned"]]


def test_a_figure_that_fails_is_named_and_the_rest_is_shown(tmp_path, monkeypatch):
    import tuneshift.report.figures as figures

    def broken(effects, summary):
        raise ValueError("'yerr' must not contain negative values")

    monkeypatch.setattr(figures, "effects_strip", broken)
    write_study_dir(tmp_path)
    page = read_page(write_report(tmp_path, figures=FAST))
    assert "changes" in page.sections and "Effect per pair and benchmark" in page.tables
    assert "effects per pair" in page.text and "ValueError: 'yerr' must not contain negative" in page.text
    assert len(page.images) == 3 + 8 + 2  # profiles, scatters and forest plots are still drawn


def test_page_references_nothing_outside_itself(tmp_path):
    write_study_dir(tmp_path)
    html = write_report(tmp_path, figures=FAST).read_text()
    page = read_page(tmp_path / "report.html")
    assert all(url.startswith(("data:", "#")) for url in page.urls), [u[:40] for u in page.urls]
    assert "default-src 'none'" in html  # the page's own policy forbids any fetch
    for needle in ("http://", "https://", "@import", "url(", "<link", "fonts."):
        assert needle not in html.replace('xmlns="http://www.w3.org/', ""), needle


def test_partial_directory_lists_what_is_missing(tmp_path):
    """An interrupted run: model b finished one benchmark of two, model c none (but it failed once)."""
    write_score_dir(tmp_path, {"a": 3, "b": 3}, reading=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    del summary["b"]["Blank2014-linear"], summary["b"]["Tuckute2024-ridge"]
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    pd.DataFrame({"model": ["c"], "benchmark": ["Pereira2018-linear"], "error": ["weights missing"]}).to_csv(
        tmp_path / "failures.csv", index=False
    )
    page = read_page(write_report(tmp_path, figures=FAST))
    missing = {tuple(row[:3]) for row in page.tables["missing results"][1:]}
    assert missing == {
        ("b", "Blank2014-linear", "not finished"),
        ("b", "Tuckute2024-ridge", "not finished"),
        ("c", "Pereira2018-linear", "failed"),
        ("c", "Blank2014-linear", "not finished"),
        ("c", "Tuckute2024-ridge", "not finished"),
    }
    assert "reading" not in page.sections and "a scores" in page.tables and "b scores" in page.tables


def test_study_plan_lists_models_that_never_started(tmp_path):
    write_study_dir(tmp_path, n_pairs=2, failed=0)
    record = json.loads((tmp_path / "study.json").read_text())
    record["models"].append({"name": "queued", "slug": "queued", "spec": "org/queued", "random_init": False, "seed": 0})
    (tmp_path / "study.json").write_text(json.dumps(record))
    page = read_page(write_report(tmp_path, figures=FAST))
    missing = page.tables["missing results"][1:]
    assert [row[:3] for row in missing] == [["queued", b, "not finished"] for b in record["benchmarks"]]
    assert "org/queued" in column(page, "model provenance", "spec")
    assert "float32-cpu" in page.text  # the study's options are in the methods section


def test_study_task_states_give_running_units_and_wall_times(tmp_path):
    from tests.report.synthetic import task_status
    from tuneshift._io import write_json

    write_study_dir(tmp_path, n_pairs=2, failed=0)
    summary = json.loads((tmp_path / "summary.json").read_text())
    del summary["tuned-01"]["Blank2014-linear"]  # its task is still running
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    write_json(
        tmp_path / "tasks" / "tuned-01" / "Blank2014-linear.json",
        task_status("tuned-01", "Blank2014-linear", "running"),
    )
    page = read_page(write_report(tmp_path, figures=FAST))
    assert [row[:3] for row in page.tables["missing results"][1:]] == [["tuned-01", "Blank2014-linear", "running"]]
    benchmarks = page.tables["benchmark protocols"]
    pereira = dict(zip(benchmarks[0], next(r for r in benchmarks if r[0] == "Pereira2018-linear"), strict=True))
    # 5 models finished Pereira in 100 + index seconds (index 0..4): median 102, total 510, on node0 and node1.
    assert (pereira["wall_s_median"], pereira["wall_s_total"], pereira["hosts"]) == ("102", "510", "node0, node1")
    blank = dict(zip(benchmarks[0], next(r for r in benchmarks if r[0] == "Blank2014-linear"), strict=True))
    assert blank["wall_s_total"] == str(100 + 101 + 102 + 104)  # the running task (index 3) is not counted


def test_unreadable_table_is_listed_and_the_rest_is_shown(tmp_path):
    write_study_dir(tmp_path)
    (tmp_path / "correlations.csv").write_bytes(b"\xff\xfe\x00broken")
    page = read_page(write_report(tmp_path, figures=FAST))
    assert "correlations" not in page.sections and "changes" in page.sections
    assert "correlations.csv" in page.text and "UnicodeDecodeError" in page.text


def test_explain_folder_alone_renders_internals(tmp_path):
    write_internals_dir(tmp_path)
    page = read_page(write_report(tmp_path, tmp_path / "out" / "page.html"))
    assert page.sections == ["internals", "missing", "methods"]
    assert (tmp_path / "out" / "page.html").exists() and not (tmp_path / "report.html").exists()


def test_not_a_run_directory_is_refused_by_name(tmp_path):
    with pytest.raises(DataNotFoundError, match="no such run directory"):
        write_report(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInputError, match=f"{tmp_path}: none of scores.csv"):
        write_report(tmp_path, figures=FAST)


def test_cli_writes_the_report(tmp_path):
    write_score_dir(tmp_path, {"m": 2}, reading=False)
    result = CliRunner().invoke(app, [str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "r.html" in result.output and (tmp_path / "r.html").stat().st_size > 10_000


def test_honest_layers_reach_the_profile(tmp_path, monkeypatch):
    """The layers each split chose (summary details) are what the profile figure is given."""
    write_score_dir(tmp_path, {"m": 6}, reading=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    calls = {}

    def spy(profiles, benchmark, ylabel, ceiling=None):
        calls[benchmark] = {p.model: list(p.honest_layers) for p in profiles}
        return original(profiles, benchmark, ylabel, ceiling)

    import tuneshift.report.figures as figures

    original = figures.layer_profile
    monkeypatch.setattr(figures, "layer_profile", spy)
    write_report(tmp_path, figures=FAST)
    chosen = summary["m"]["Blank2014-linear"]["data"]["honest_layers_per_split"]
    assert calls["Blank2014-linear"] == {"m": chosen}


def test_damaged_tables_are_reassembled_from_units_or_named(tiny_models, tmp_path):
    from tuneshift.benchmarks import score

    out = tmp_path / "run"
    score(tiny_models["gpt2"], ["Futrell2018-pearsonr"], out, cache=False, progress=False)
    whole = json.loads((out / "summary.json").read_text())
    (out / "summary.json").write_text((out / "summary.json").read_text()[:120])  # cut mid-write
    write_report(out)
    assert json.loads((out / "summary.json").read_text()) == whole
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "scores.csv").write_text((out / "scores.csv").read_text())
    (bare / "summary.json").write_text("{")
    with pytest.raises(InvalidInputError, match="cannot be read"):
        write_report(bare)
