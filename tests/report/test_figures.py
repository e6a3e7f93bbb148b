"""What the report's figures say: axis labels that name each benchmark's metric, reference lines (noise ceiling,
random-init control) where the run has them, intervals, controls called controls, the paired test as the terminal
states it, readable correlation labels; and the copies (SVG/PDF, Markdown/LaTeX) beside the run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.report.page import read_page
from tests.report.synthetic import write_compare_dir, write_score_dir, write_study_dir, write_unit_dir
from tuneshift.cli.report import app
from tuneshift.report import figures, write_report
from tuneshift.report._render import build_report
from tuneshift.report._run import load_run

FAST = ("svg",)


def by_name(page) -> dict[str, dict[str, str]]:
    """Each figure's attributes keyed by the first words of its caption (the alt text starts with the caption)."""
    return {f["alt"].split(":")[0]: f for f in page.figures}


def test_axis_labels_reference_lines_and_intervals_follow_each_benchmark(tmp_path):
    """One test per kind: neural predictivity (encoding r, ceiling), CKA (its own unit, no ceiling), reading times
    (ΔLL in nats/word, |r|), with a random-init control drawn as a labelled reference."""
    benchmarks = ("Pereira2018-linear", "Pereira2018-cka", "Futrell2018-deltall", "Futrell2018-pearsonr")
    write_unit_dir(tmp_path, {"trained": False, "shuffled": True}, benchmarks)
    page = read_page(write_report(tmp_path, figures=FAST))
    shown = by_name(page)
    linear, cka = shown["Pereira2018-linear"], shown["Pereira2018-cka"]
    assert linear["data-ylabels"] == "encoding r (Pearson; OLS, median over neuroids)"
    assert cka["data-ylabels"] == "linear CKA (0–1, unitless)"  # not "Pearson r"
    assert shown["Futrell2018-deltall"]["data-xlabels"] == "ΔLL (nats / word)"
    assert shown["Futrell2018-pearsonr"]["data-xlabels"] == "|Pearson r|, surprisal vs reading time"
    # Reference lines: the ceiling where the benchmark has one, the control on every profile, labelled as such.
    assert "noise ceiling 0.35" in linear["data-legend"].split(" | ")
    assert "noise ceiling" not in cka["data-legend"]
    assert all("shuffled (random-init control)" in f["data-legend"] for f in (linear, cka))
    # Per-split values are stored (r(layer, split, neuroid)): bands are drawn and the caption says what they are.
    assert "95 % t interval across cross-validation splits" in linear["alt"]
    # The field's plot of surprisal against reading time, from the per-word values the unit kept.
    binned = next(f for f in page.figures if f["alt"].startswith("Mean reading time (ms"))
    assert (binned["data-xlabels"], binned["data-ylabels"]) == ("surprisal (bits)", "mean reading time (ms)")
    assert "shuffled (random-init control) scores" in page.tables  # its card says it is a control
    assert "needs each word's surprisal" not in page.text


def test_profile_interval_is_the_t_interval_of_the_stored_splits(tmp_path):
    write_unit_dir(tmp_path, {"m": False}, ("Pereira2018-linear",))
    figure = next(f for f in build_report(tmp_path).figures if f.name == "profile-Pereira2018-linear")
    band = figure.source.axes[0].collections[0].get_paths()[0].vertices  # fill_between: low edge, then high edge
    from tuneshift.benchmarks.store import ResultStore

    store = ResultStore(tmp_path)
    r = store.values(store.units()[0])["r"].to_numpy()
    # (layers, splits): median over each dataset's neuroids, mean over the two datasets (as the score aggregates)
    per_split = (np.median(r[..., :15], axis=-1) + np.median(r[..., 15:], axis=-1)) / 2
    half = 2.262 * per_split.std(axis=1, ddof=1) / np.sqrt(10)  # t(0.975, 9) = 2.262
    low = per_split.mean(axis=1) - half
    assert band[1 : 1 + len(low), 1] == pytest.approx(low, abs=2e-4)


def test_reading_times_alone_give_figures(tmp_path):
    write_unit_dir(tmp_path, {"m": False}, ("Futrell2018-pearsonr", "Futrell2018-deltall"))
    page = read_page(write_report(tmp_path, figures=FAST))
    assert page.sections == ["models", "reading", "missing", "methods"]
    assert len(page.images) == 2 + 1  # a forest plot per benchmark, surprisal vs reading time
    # Per-story CIs come from the unit's values and reach the table as the figure shows them.
    assert page.tables["reading times per story"][1][2].count("[") == 1
    # Without per-word values (results written before them), the forest plots stay and the page says what is missing.
    bare = tmp_path / "bare"
    bare.mkdir()
    write_score_dir(bare, {"m": 4}, reading=True)
    page = read_page(write_report(bare, figures=FAST))
    assert "needs each word's surprisal" in page.text and len(page.images) == 3 + 2


def test_a_falling_loss_is_drawn_as_an_improvement():
    """A benchmark where lower is better: the compare panel says the change is better and why; the study's bars
    colour a negative mean % change of a loss as an improvement and label it."""
    from matplotlib.colors import to_rgb

    from tuneshift.study.figures import PALETTE, change_bars

    change = figures.Change(
        "WikiText2-nwp", "loss (nats / token)", 4.0, 3.6, (np.nan, np.nan), (np.nan, np.nan), -10.0, (-12.0, -8.0),
        "n = 62 items, Wilcoxon signed-rank p = 0.001", "better", False,
    )  # fmt: skip
    panel = figures.change_panels([change], "base", "tuned")
    (text,) = [t.get_text() for ax in panel.axes for t in ax.texts]
    assert text.startswith("-10.0 % [-12.0, -8.0], better (lower is better)\nn = 62 items")
    summary = pd.DataFrame(
        {"benchmark": ["WikiText2-nwp", "MMLU"], "n_pairs": [3, 3], "mean_pct": [-10.0, 5.0], "ci_low": [-12, 3],
         "ci_high": [-8, 7], "wilcoxon_p": [0.25, 0.25], "higher_is_better": [False, True]}
    )  # fmt: skip
    bars = change_bars(pd.DataFrame(columns=["benchmark", "pct_change"]), summary).axes[0]
    colors = [tuple(patch.get_facecolor()[:3]) for patch in bars.patches]
    assert colors[0] == colors[1] == pytest.approx(to_rgb(PALETTE[0]))  # both improvements, though of opposite sign
    assert "(lower is better)" in bars.get_xticklabels()[0].get_text()


def test_compare_panels_state_n_and_test_as_the_terminal(tmp_path):
    write_compare_dir(tmp_path, internals=False)
    compare = pd.read_csv(tmp_path / "compare.csv")
    panel = next(f for f in build_report(tmp_path).figures if f.name == "base-vs-tuned").source
    texts = [text.get_text() for ax in panel.axes for text in ax.texts]
    for row in compare.itertuples():
        if row.paired_unit == "story":  # the terminal prints "story: n=10, p=..."; the figure the same n and p
            assert any(f"n = {row.n_paired} stories, Wilcoxon signed-rank p = {row.wilcoxon_p:.3g}" in t for t in texts)
            assert any(f"{row.pct_change_best_raw:+.1f} % [{row.pct_ci_low:+.1f}, {row.pct_ci_high:+.1f}]" in t
                       for t in texts)  # fmt: skip
    assert panel._suptitle.get_text().startswith("Instruction tuning: base vs tuned")
    assert [label.get_text() for label in panel.axes[0].get_xticklabels()] == ["base", "tuned"]
    # Absolute scores of both models with their CIs (reading times: the stories' bootstrap CI of each model).
    summary = json.loads((tmp_path / "summary.json").read_text())
    deltall = panel.axes[4]
    assert deltall.get_title() == "Futrell2018-deltall"
    segments = deltall.collections[0].get_segments()
    assert segments[1][:, 1] == pytest.approx(
        [summary["tuned"]["Futrell2018-deltall"][k] for k in ("ci_low", "ci_high")]
    )


def test_a_compare_csv_from_before_the_rename_reads_under_the_paired_names(tmp_path):
    write_compare_dir(tmp_path, internals=False)
    current = pd.read_csv(tmp_path / "compare.csv")
    old_names = {"paired_unit": "unit", "n_paired": "n_units", "mean_paired_change": "mean_unit_change"}
    current.rename(columns=old_names).to_csv(tmp_path / "compare.csv", index=False)  # as tuneshift wrote it before
    pd.testing.assert_frame_equal(load_run(tmp_path).tables["compare"], current)
    panel = next(f for f in build_report(tmp_path).figures if f.name == "base-vs-tuned").source
    texts = [text.get_text() for ax in panel.axes for text in ax.texts]
    stories = current[current["paired_unit"] == "story"]
    assert len(stories) == 2 and all(
        any(f"n = {n} stories, Wilcoxon signed-rank p = {p:.3g}" in t for t in texts)
        for n, p in zip(stories["n_paired"], stories["wilcoxon_p"], strict=True)
    )  # the old file's n reaches the panel, not "no paired test"


def test_a_random_init_base_is_called_a_control(tmp_path):
    write_compare_dir(tmp_path, internals=False)
    record = json.loads((tmp_path / "compare.json").read_text())
    record["models"]["base"]["random_init"] = True
    (tmp_path / "compare.json").write_text(json.dumps(record))
    report = build_report(tmp_path)
    panel = next(f for f in report.figures if f.name == "base-vs-tuned")
    assert panel.source._suptitle.get_text().startswith("Trained model vs its random-init control")
    ticks = [label.get_text() for label in panel.source.axes[0].get_xticklabels()]
    assert ticks == ["random-init\ncontrol", "trained"]  # roles on the bars, names in the title: no overlap
    assert "Instruction" not in panel.source._suptitle.get_text() and "random-init control" in panel.caption
    page = read_page(write_report(tmp_path, figures=FAST))
    assert "base (random-init control)" in page.text  # its card


def test_compare_of_a_tuned_directory_shows_how_it_was_tuned(tmp_path):
    from tests.report.synthetic import write_tune_dir

    run, tuned = tmp_path / "run", tmp_path / "tuned"
    run.mkdir(), tuned.mkdir()
    write_compare_dir(run, internals=False)
    write_tune_dir(tuned)
    record = json.loads((run / "compare.json").read_text())
    record["models"]["tuned"]["source"] = str(tuned)
    (run / "compare.json").write_text(json.dumps(record))
    page = read_page(write_report(run, figures=FAST))
    assert "How the tuned model was made (tuneshift-tune.json)" in page.text
    assert f"{3:040x}" in page.text and "alpaca_seed" in page.text  # base fingerprint, data


def test_study_with_no_pairs_says_so_and_hints_no_command_already_run(tmp_path):
    write_study_dir(tmp_path, n_pairs=2, failed=0)
    effects = pd.read_csv(tmp_path / "effects.csv")
    effects.iloc[:0].to_csv(tmp_path / "effects.csv", index=False)
    page = read_page(write_report(tmp_path, figures=FAST))
    assert "0 base/tuned pairs" in page.text
    html = (tmp_path / "report.html").read_text()
    hints = html[html.index('<ul class="hints">') : html.index("</ul>", html.index('<ul class="hints">'))]
    for command in ("tuneshift score", "tuneshift study analyze", "tuneshift study run"):
        assert command not in hints


def test_best_layer_far_above_the_honest_score_is_flagged(tmp_path):
    write_score_dir(tmp_path, {"m": 6}, reading=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    summary["m"]["Blank2014-linear"]["honest_raw"] = 0.05  # best ≈ 0.2
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = read_page(write_report(tmp_path, figures=FAST))
    notes = dict(zip(page.tables["m scores"][0], zip(*page.tables["m scores"][1:], strict=True), strict=True))
    flagged = dict(zip(notes["benchmark"], notes["note"], strict=True))
    assert flagged == {"Pereira2018-linear": "", "Blank2014-linear": "best ≫ honest: optimistic",
                       "Tuckute2024-ridge": ""}  # fmt: skip
    profile = next(f for f in build_report(tmp_path).figures if f.name == "profile-Blank2014-linear")
    assert any("best layer ≫ honest score" in t.get_text() for t in profile.source.axes[0].texts)


def test_correlation_labels_never_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rng = np.random.default_rng(0)
    for n in (30, 150):  # 150 names cannot all fit: the ones left out are counted on the figure
        table = pd.DataFrame(
            {
                "model": [f"model-{i:03d}-instruct" for i in range(n)],
                "x": rng.uniform(0, 1, n),
                "brain_alignment": rng.uniform(0, 1, n),
                "instruction_tuned": np.arange(n) % 2 == 0,
            }
        )
        fig = figures.correlation_scatter(table, "x", "brain_alignment", title="r = 0.1")
        renderer = FigureCanvasAgg(fig).get_renderer()
        ax = fig.axes[0]
        labels = [t for t in ax.texts if t.get_text().startswith("model-")]
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
        hidden = n - len(labels)
        assert hidden > 0 if n == 150 else hidden < n // 5
        assert any(t.get_text() == f"{hidden} labels left out (no free place)" for t in ax.texts) == (hidden > 0)
        assert ax.get_ylabel() == "brain alignment (mean encoding r over neural benchmarks)"


def test_copies_of_figures_and_tables(tmp_path):
    write_score_dir(tmp_path, {"a": 3}, reading=True)
    result = CliRunner().invoke(app, [str(tmp_path), "--tables", "md,tex"])
    assert result.exit_code == 0, result.output
    page = read_page(tmp_path / "report.html")
    copies = sorted(p.name for p in (tmp_path / "report-figures").iterdir())
    assert len(copies) == 2 * len(page.images)
    assert all((tmp_path / "report-figures" / n).read_bytes()[:4] == b"%PDF" for n in copies if n.endswith(".pdf"))
    markdown = (tmp_path / "report-tables" / "all-scores.md").read_text().splitlines()
    assert markdown[0] == "| " + " | ".join(page.tables["all scores"][0]) + " |"
    assert [row[2:-2].split(" | ") for row in markdown[2:]] == page.tables["all scores"][1:]
    latex = (tmp_path / "report-tables" / "all-scores.tex").read_text()
    assert r"\toprule" in latex and r"best\_raw" in latex and latex.count(r"\\") == len(page.tables["all scores"])
    result = CliRunner().invoke(app, [str(tmp_path), "--tables", "xlsx"])
    assert result.exit_code != 0 and "--tables" in str(result.exception)
