"""The reports in real headless Chromium (Debian's package, driven by Playwright): no console error, no request
beyond the file itself, every figure drawn at a non-zero size and not blank, axis labels that name each
benchmark's metric, reference lines where the run has their data, quiet hints, and tables that sort on a header
click and filter as one types. Score, compare, study (with correlations), localize, tune, graft and trajectory reports.

They skip on a machine without Chromium: `apt-get install -y chromium` (Debian) and `pip install -e .[test]`
(Playwright) run them; .ci/run installs both."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.report.synthetic import (
    write_compare_dir,
    write_graft_dir,
    write_internals_dir,
    write_localize_dir,
    write_score_dir,
    write_study_dir,
    write_trajectory_dir,
    write_tune_dir,
    write_unit_dir,
)
from tuneshift.report import write_report

FAST = ("svg",)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"Debian's chromium is not installed at {CHROMIUM} (`apt-get install -y chromium`; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test extra: pip install -e .[test]")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@dataclass
class Opened:
    page: object
    errors: list[str] = field(default_factory=list)  # console errors, uncaught exceptions, CSP violations
    requests: list[str] = field(default_factory=list)  # every request the page attempted


def open_report(browser, path: Path) -> Opened:
    """Load `path` with every request recorded and anything but the file itself (and data: URIs) aborted."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    opened = Opened(page)
    page.on("console", lambda message: message.type == "error" and opened.errors.append(message.text))
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.on("request", lambda request: opened.requests.append(request.url))

    def gate(route):
        if route.request.url in (path.as_uri(), "about:blank") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", gate)
    page.goto(path.as_uri(), wait_until="load")
    return opened


def check_loaded_cleanly(opened: Opened, path: Path) -> None:
    """No console error, no request but the file, no resource fetched, every figure drawn, screenshot not blank."""
    page = opened.page
    assert opened.errors == []
    assert [url for url in opened.requests if not url.startswith("data:")] == [path.as_uri()]
    fetched = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert [url for url in fetched if not url.startswith("data:")] == []
    figures = page.locator("figure img")
    assert figures.count() > 0
    for index in range(figures.count()):
        image = figures.nth(index)
        image.scroll_into_view_if_needed()
        box = image.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, (index, box)
        assert image.evaluate("img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0"), index
        assert not blank(image.screenshot()), f"figure {index} ({image.get_attribute('alt')[:60]}) is blank"
    assert not blank(page.screenshot(full_page=True))
    # hints are quiet: muted text, not the error colour
    for hint in page.locator(".hint, ul.hints li").all():
        assert hint.evaluate("e => getComputedStyle(e).color") == "rgb(91, 101, 112)"


def blank(png: bytes) -> bool:
    """A blank image is (nearly) one colour; a drawn figure has axes, text and lines."""
    from PIL import Image

    shot = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return shot.std() < 15 or (np.abs(shot - np.median(shot)) > 40).mean() < 0.01


def figure_labels(page) -> list[dict[str, str]]:
    """alt, axis labels and legend entries of every figure, as the page carries them."""
    return page.evaluate(
        """Array.from(document.querySelectorAll('figure img')).map(img => ({alt: img.alt, y: img.dataset.ylabels,
             x: img.dataset.xlabels, legend: img.dataset.legend}))"""
    )


def column_keys(page, table: str, index: int) -> list[str]:
    return page.evaluate(
        """([label, index]) => Array.from(document.querySelector(`table[aria-label="${label}"]`).tBodies[0].rows)
             .filter(row => !row.hidden).map(row => row.cells[index].dataset.sort)""",
        [table, index],
    )


def test_score_report_in_chromium(browser, tmp_path):
    write_score_dir(tmp_path, {"tiny-a": 4, "tiny-b": 8})
    path = write_report(tmp_path, figures=FAST)
    opened = open_report(browser, path)
    check_loaded_cleanly(opened, path)
    page, label = opened.page, "all scores"
    header = page.locator(f'table[aria-label="{label}"] th')
    names = header.all_inner_texts()
    raw, normalized = names.index("best_raw"), names.index("best_normalized")
    before = column_keys(page, label, raw)
    header.nth(raw).click()
    ascending = column_keys(page, label, raw)
    assert ascending == sorted(before, key=float) and ascending != before
    assert header.nth(raw).get_attribute("aria-sort") == "ascending"
    header.nth(raw).click()
    assert column_keys(page, label, raw) == sorted(before, key=float, reverse=True)
    # Missing values (no ceiling → no normalized score) stay last in both directions.
    for _ in range(2):
        header.nth(normalized).click()
        keys = column_keys(page, label, normalized)
        filled = [k for k in keys if k]
        assert keys == filled + [""] * (len(keys) - len(filled)) and len(filled) == 2 * 3
    page.locator(f'table[aria-label="{label}"]').locator("xpath=..").locator("input.filter").fill("tiny-b deltall")
    visible = page.evaluate(
        f"""Array.from(document.querySelector('table[aria-label="{label}"]').tBodies[0].rows)
             .filter(row => !row.hidden).map(row => row.cells[0].textContent + ' ' + row.cells[1].textContent)"""
    )
    assert visible == ["tiny-b Futrell2018-deltall"]


def test_study_report_in_chromium(browser, tmp_path):
    write_study_dir(tmp_path, n_pairs=3)
    (tmp_path / "internals").mkdir()
    write_internals_dir(tmp_path / "internals")
    path = write_report(tmp_path, figures=FAST)
    opened = open_report(browser, path)
    check_loaded_cleanly(opened, path)
    assert opened.page.locator("figure img").count() == 17
    assert opened.page.locator("section#failures td").first.inner_text() == "lonely-base"
    # correlations: human axis names with units, the test legible in the title (r, p, FDR q, n)
    scatters = [f for f in figure_labels(opened.page) if f["alt"].startswith("brain_alignment vs log10_params")]
    assert scatters[0]["y"] == "brain alignment (mean encoding r over neural benchmarks)"
    assert scatters[0]["x"] == "parameters (log10 of the count)"


def test_axis_labels_and_reference_lines_per_benchmark_kind_in_chromium(browser, tmp_path):
    benchmarks = ("Pereira2018-linear", "Pereira2018-cka", "Futrell2018-deltall", "Futrell2018-pearsonr")
    write_unit_dir(tmp_path, {"trained": False, "shuffled": True}, benchmarks)
    path = write_report(tmp_path, figures=FAST)
    opened = open_report(browser, path)
    check_loaded_cleanly(opened, path)
    shown = {f["alt"].split(":")[0]: f for f in figure_labels(opened.page)}
    assert shown["Pereira2018-linear"]["y"] == "encoding r (Pearson; OLS, median over neuroids)"
    assert "noise ceiling 0.35" in shown["Pereira2018-linear"]["legend"]
    assert shown["Pereira2018-cka"]["y"] == "linear CKA (0–1, unitless)"
    assert all("shuffled (random-init control)" in shown[b]["legend"] for b in benchmarks[:2])
    assert shown["Futrell2018-deltall"]["x"] == "ΔLL (nats / word)"
    assert shown["Futrell2018-pearsonr"]["x"] == "|Pearson r|, surprisal vs reading time"
    assert sum(f["y"] == "mean reading time (ms)" for f in shown.values()) == 1


def test_compare_report_in_chromium(browser, tmp_path):
    write_compare_dir(tmp_path, internals=False)
    path = write_report(tmp_path, figures=FAST)
    opened = open_report(browser, path)
    check_loaded_cleanly(opened, path)
    panels = next(f for f in figure_labels(opened.page) if f["alt"].startswith("tuned vs base"))
    assert "ΔLL (nats / word)" in panels["y"].split(" | ") and "|Pearson r|, surprisal vs reading time" in panels["y"]


@pytest.mark.parametrize("kind", ["localize", "tune"])
def test_localize_and_tune_reports_in_chromium(browser, tmp_path, kind):
    (write_localize_dir if kind == "localize" else write_tune_dir)(tmp_path)
    path = write_report(tmp_path, figures=FAST)
    opened = open_report(browser, path)
    check_loaded_cleanly(opened, path)
    labels = figure_labels(opened.page)
    if kind == "tune":
        assert [f["x"] for f in labels] == ["optimizer step"]
    else:
        assert len(labels) == 3 and "noise ceiling" in labels[1]["legend"]


def test_graft_report_in_chromium(browser, tmp_path):
    write_graft_dir(tmp_path)
    path = write_report(tmp_path, figures=FAST)
    opened = open_report(browser, path)
    check_loaded_cleanly(opened, path)
    labels = figure_labels(opened.page)
    assert len(labels) == 3  # two share heatmaps and the α curves
    assert labels[0]["y"] == "tuned part grafted into the base | (hybrid − base) / (tuned − base)"
    assert labels[2]["y"] == "share of base→tuned change" and labels[2]["x"].startswith("α")
    label = "Hybrids of leave-one-in"
    header = opened.page.locator(f'table[aria-label="{label}"] th')
    share = header.all_inner_texts().index("share")
    header.nth(share).click()
    keys = column_keys(opened.page, label, share)
    assert keys == sorted(keys, key=float) and len(keys) == 10


def test_trajectory_report_in_chromium(browser, tmp_path):
    write_trajectory_dir(tmp_path)
    path = write_report(tmp_path, figures=FAST)
    opened = open_report(browser, path)
    check_loaded_cleanly(opened, path)
    curves, loss = figure_labels(opened.page)
    assert curves["x"] == "optimizer step" and "ΔLL (nats / word)" in curves["y"].split(" | ")
    assert "base (step 0)" in curves["legend"] and "drop-instruction: mean of n = 2 seeds" in curves["legend"]
    assert loss["legend"].split(" | ")[0] == "drop-instruction, seed 0"


def test_report_of_a_real_tiny_model_score_run(browser, tiny_models, tmp_path):
    """`tuneshift.benchmarks.score` on a real (tiny, random) model, then its report in the browser."""
    from tests.report.page import column, read_page
    from tuneshift.benchmarks import score

    table = score(tiny_models["llama"], ["Tuckute2024-linear"], tmp_path, cache=False, progress=False)
    path = write_report(tmp_path, figures=FAST)
    page = read_page(path)
    assert page.sections == ["models", "profiles", "missing", "methods"]
    assert column(page, "all scores", "best_raw") == [f"{table['raw'].max():.4g}"]
    check_loaded_cleanly(open_report(browser, path), path)


def test_correlate_report_in_chromium(browser, tmp_path):
    """`zoo export --csv` → `study correlate --out`: the page the paper's own table gives, read in the browser."""
    from typer.testing import CliRunner

    from tuneshift.cli.study import app as study_app
    from tuneshift.cli.zoo import app as zoo_app

    table = tmp_path / "aw2023.csv"
    assert CliRunner().invoke(zoo_app, ["export", "--csv", str(table), "--where", "source=aw2023"]).exit_code == 0
    out = tmp_path / "analysis"
    result = CliRunner().invoke(study_app, ["correlate", str(table), "--where", "family!=gpt2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    path = out / "report.html"
    opened = open_report(browser, path)
    check_loaded_cleanly(opened, path)
    labels = figure_labels(opened.page)
    scatter = next(f for f in labels if f["alt"].startswith("brain_alignment vs mmlu"))
    assert scatter["y"] == "brain alignment (mean encoding r over neural benchmarks)"
    assert "MMLU" in scatter["x"]
    assert "0.805" in opened.page.locator("body").inner_text()  # Table 2's MMLU row over the 17 tuned models
