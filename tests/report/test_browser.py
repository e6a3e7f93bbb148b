"""The report in real headless Chromium (Debian's package, driven by Playwright): no console error, no request
beyond the file itself, every figure drawn at a non-zero size, a screenshot that is not blank, and tables that
sort on a header click and filter as one types."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.report.synthetic import write_internals_dir, write_score_dir, write_study_dir
from tuneshift.report import write_report

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
    from PIL import Image

    shot = np.asarray(Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("L"), dtype=float)
    assert shot.std() > 20  # a blank page is one colour; a drawn report has text, lines and figures
    assert (np.abs(shot - np.median(shot)) > 40).mean() > 0.02


def column_keys(page, table: str, index: int) -> list[str]:
    return page.evaluate(
        """([label, index]) => Array.from(document.querySelector(`table[aria-label="${label}"]`).tBodies[0].rows)
             .filter(row => !row.hidden).map(row => row.cells[index].dataset.sort)""",
        [table, index],
    )


def test_score_report_in_chromium(browser, tmp_path):
    write_score_dir(tmp_path, {"tiny-a": 4, "tiny-b": 8})
    path = write_report(tmp_path)
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
    path = write_report(tmp_path)
    opened = open_report(browser, path)
    check_loaded_cleanly(opened, path)
    assert opened.page.locator("figure img").count() == 15
    assert opened.page.locator("section#failures td").first.inner_text() == "lonely-base"


def test_report_of_a_real_tiny_model_score_run(browser, tiny_models, tmp_path):
    """`tuneshift.benchmarks.score` on a real (tiny, random) model, then its report in the browser."""
    from tests.report.page import column, read_page
    from tuneshift.benchmarks import score

    table = score(tiny_models["llama"], ["Tuckute2024-linear"], tmp_path, cache=False, progress=False)
    path = write_report(tmp_path)
    page = read_page(path)
    assert page.sections == ["models", "profiles", "missing", "methods"]
    assert column(page, "all scores", "best_raw") == [f"{table['raw'].max():.4g}"]
    check_loaded_cleanly(open_report(browser, path), path)
