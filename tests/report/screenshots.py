"""Redraw the report screenshots in docs/ (``python -m tests.report.screenshots docs``) in headless Chromium.

Each page is a report of a results folder built in the exact formats the commands write (tests/report/synthetic:
score with a random-init control, compare, study with correlations, localize, tune); pass ``--run DIR`` pairs
(``name=DIR``) to shoot reports of real runs instead, e.g. ``report-score=/tmp/run``: then only those are shot
(a real screenshot in docs/ is never replaced by a synthetic one); a name outside the builders (e.g.
``report-correlate``) is shot from its folder as it is.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.report import synthetic
from tuneshift.report import write_report

CHROMIUM = "/usr/bin/chromium"
BUILDERS = {
    "report-score": lambda d: synthetic.write_unit_dir(
        d, {"smollm2": False, "smollm2 (random init)": True},
        ("Pereira2018-linear", "Pereira2018-cka", "Futrell2018-deltall", "Futrell2018-pearsonr"),
    ),
    "report-compare": lambda d: synthetic.write_compare_dir(d, internals=False),
    "report-study": lambda d: synthetic.write_study_dir(d, n_pairs=4),
    "report-localize": synthetic.write_localize_dir,
    "report-tune": synthetic.write_tune_dir,
}  # fmt: skip
SECTION = {
    "report-study": "correlations",
    "report-correlate": "correlations",
    "report-compare": "changes",
    "report-compare-control": "changes",
    "report-score": "profiles",
}


def shoot(pages: dict[str, Path], out: Path, height: int = 1600) -> list[Path]:
    """Screenshot each report (from its section of interest when it has one, `height` pixels) into `out`."""
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": height})
        for name, path in pages.items():
            page.goto(path.as_uri(), wait_until="load")
            if name in SECTION:
                page.locator(f"section#{SECTION[name]}").scroll_into_view_if_needed()
                page.evaluate(f"document.getElementById('{SECTION[name]}').scrollIntoView()")
            target = out / f"{name}.png"
            page.screenshot(path=str(target))
            written.append(target)
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--run", action="append", default=[], help="name=DIR: a real results folder to shoot")
    args = parser.parse_args()
    real = dict(item.split("=", 1) for item in args.run)
    with tempfile.TemporaryDirectory() as tmp:
        pages = {}
        for name in real or BUILDERS:
            folder = Path(real[name]) if name in real else Path(tmp) / name
            if name not in real:
                folder.mkdir()
                BUILDERS[name](folder)
            pages[name] = write_report(folder, figures=())
        for path in shoot(pages, args.out):
            print(path)


if __name__ == "__main__":
    main()
