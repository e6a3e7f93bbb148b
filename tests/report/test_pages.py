"""Reports of localize and tune folders, and a methods section that says what the run actually did."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.report.page import column, read_page
from tests.report.synthetic import write_graft_dir, write_localize_dir, write_trajectory_dir, write_tune_dir
from tuneshift.report import write_localize_report, write_report, write_tune_report

FAST = ("svg",)


def test_localize_report_shows_depth_network_vs_random_with_its_test_and_ablation(tmp_path):
    write_localize_dir(tmp_path)
    page = read_page(write_report(tmp_path, figures=FAST))  # write_report recognises the localize folder
    assert page.sections == ["network", "scores", "ablation", "methods", "more"]
    assert len(page.images) == 3
    _, versus, ablation = page.figures  # the depth figure is localize's own (tests/localize)
    assert versus["data-ylabels"] == "encoding r (Pearson; ridge, median over neuroids)"
    assert {"noise ceiling", "all (best layer)", "all (honest layer)"} <= set(versus["data-legend"].split(" | "))
    # The network (0.21) beats all 5 random sets (≈ 0.10): the permutation p is its floor, 1 / (5 + 1).
    assert column(page, "Permutation test", "p") == ["0.167"] and column(page, "Permutation test", "n_random") == ["5"]
    assert "with 5 random sets it cannot go below 0.167" in page.text  # from the run's own count (a real run had 3)
    assert ablation["data-ylabels"].split(" | ")[0] == "Δ surprisal vs intact (bits / word)"
    assert "--compare BASE_DIR" in page.text  # what this command could add, as a quiet hint
    assert column(page, "Units per layer", "n_selected")[3] != "0"


def test_localize_report_without_options_hints_them_quietly(tmp_path):
    write_localize_dir(tmp_path, score=False, ablate=False)
    path = write_localize_report(tmp_path, figures=FAST)
    page = read_page(path)
    assert page.sections == ["network", "methods", "more"]
    html = path.read_text()
    assert '<section id="more" class="missing">' in html and "--score BENCHMARK" in page.text


def test_tune_report_loss_curve_with_integer_steps_data_options_and_base(tmp_path):
    write_tune_dir(tmp_path, steps=30)
    path = write_tune_report(tmp_path, figures=("svg", "pdf"))
    page = read_page(path)
    assert page.sections == ["loss", "base", "data", "options", "run", "more"]
    (curve,) = page.figures
    assert (curve["data-xlabels"], curve["data-ylabels"]) == (
        "optimizer step",
        "loss (nats / response token) | learning rate",
    )
    assert "alpaca_seed" in page.text and f"{3:040x}" in page.text and "lora_rank" in page.text
    assert sorted(p.name for p in (tmp_path / "report-figures").iterdir()) == ["loss-curve.pdf", "loss-curve.svg"]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from tuneshift.report import figures

    fig = figures.loss_curve(pd.read_csv(tmp_path / "loss.csv"), "t")
    FigureCanvasAgg(fig).draw()
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) > 2 and all(float(t).is_integer() for t in ticks)  # optimizer steps are whole numbers


def test_not_a_tune_folder_is_refused_by_name(tmp_path):
    from tuneshift.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"no tuneshift-tune\.json"):
        write_tune_report(tmp_path)


def test_methods_section_states_what_the_run_used(tiny_models, tmp_path):
    """Score a real (tiny) model with non-default options, then compare the methods section with the run: the
    options, dtype, device, fingerprint, data digest, the honest method each regression actually uses, splits."""
    from tuneshift.benchmarks import score
    from tuneshift.benchmarks.store import ResultStore

    model = tiny_models["llama"]
    score(model, ["Tuckute2024-linear", "Tuckute2024-ridge"], tmp_path, options={"pooling": "mean"}, cache=False,
          progress=False)  # fmt: skip
    page = read_page(write_report(tmp_path, figures=FAST))
    units = {unit.provenance["benchmark_id"]: unit for unit in ResultStore(tmp_path).units()}
    table = page.tables["benchmark protocols"]
    rows = {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    linear, ridge = rows["Tuckute2024-linear [pooling=mean]"], rows["Tuckute2024-ridge [pooling=mean]"]
    for row, unit in ((linear, units["Tuckute2024-linear"]), (ridge, units["Tuckute2024-ridge"])):
        assert json.loads(row["options"]) == unit.provenance["options"] and '"pooling": "mean"' in row["options"]
        assert row["data digest"] == unit.provenance["data_digest"]
        assert row["splits"] == "shuffle, 10 splits, seed 1"
    assert linear["honest layer"].startswith("inner 5-fold CV on each split's training stimuli")
    assert ridge["honest layer"].startswith("leave-one-out predictions of each split's training stimuli")
    described = model.describe()
    provenance = dict(zip(page.tables["model provenance"][0], page.tables["model provenance"][1], strict=True))
    assert (provenance["fingerprint"], provenance["dtype"], provenance["device"]) == (
        model.fingerprint,
        described["dtype"],
        described["device"],
    )
    import tuneshift

    assert f"tuneshift {tuneshift.__version__}" in " ".join(page.text.split())


def test_graft_report_heatmaps_alpha_curve_hybrids_ends_and_wall_times(tmp_path):
    write_graft_dir(tmp_path)
    page = read_page(write_report(tmp_path, figures=FAST))  # write_report recognises the graft folder
    assert page.sections == ["pair", "sweep-leave-one-in", "sweep-cumulative-bottom", "sweep-alpha", "wall"]
    heatmap, _, alpha = page.figures
    assert heatmap["data-ylabels"] == "tuned part grafted into the base | (hybrid − base) / (tuned − base)"
    assert alpha["data-ylabels"] == "share of base→tuned change" and "linear in α" in alpha["data-legend"]
    assert "α" in alpha["data-xlabels"] and "Tuckute2024-ridge" in alpha["data-legend"]
    ends = page.tables["Absolute scores (best-layer raw)"]
    assert ends[0] == ["benchmark", "base", "tuned", "always baseline", "change", "always baseline share"]
    assert column(page, "Absolute scores (best-layer raw)", "base") == ["0.002", "0.05"]
    hybrids = page.tables["Hybrids of leave-one-in"]
    assert {"part", "alpha", "score", "share", "share_ci_low", "share_ci_high", "always"} <= set(hybrids[0])
    assert set(column(page, "Hybrids of leave-one-in", "always")) == {"norm:final"} and len(hybrids) == 1 + 5 * 2
    assert column(page, "Wall time per sweep", "sweep") == ["ends", "leave-one-in", "cumulative-bottom", "alpha"]
    assert "Kept tuned in every hybrid: norm:final" in page.text and "smollm2-135m [random-init]" in page.text


def test_trajectory_report_curves_with_seed_bands_losses_differences_and_checkpoints(tmp_path):
    write_trajectory_dir(tmp_path)
    page = read_page(write_report(tmp_path, figures=FAST))  # write_report recognises the trajectory folder
    assert page.sections == ["design", "curves", "loss", "checkpoints"]
    curves, loss = page.figures
    assert curves["data-ylabels"] == "ΔLL (nats / word) | encoding r (Pearson; ridge, median over neuroids)"
    legend = curves["data-legend"].split(" | ")
    assert legend[:2] == ["base (step 0)", "one seed (thin)"] and "instructions: mean of n = 2 seeds" in legend
    assert curves["data-xlabels"] == "optimizer step" and loss["data-ylabels"] == "training loss (nats / loss token)"
    assert "n = 2 seed(s) per arm" in page.text and "on 1 degree(s) of freedom" in page.text
    assert set(column(page, "Difference between arms (seeds as the unit)", "test")) == {"paired t"}
    assert column(page, "Per checkpoint, over seeds", "n_seeds")[1:4] == ["2", "2", "2"]
    assert len(page.tables["Every checkpoint"]) == 1 + 2 * 2 * 4 * 2  # arms × seeds × (3 + base) × benchmarks


def test_trajectory_report_with_one_seed_says_there_is_no_interval(tmp_path):
    write_trajectory_dir(tmp_path, seeds=(0,))
    page = read_page(write_report(tmp_path, figures=FAST))
    assert "with one seed there is no interval" in page.text
    assert set(column(page, "Difference between arms (seeds as the unit)", "test")) == {"none (< 2 seeds)"}
