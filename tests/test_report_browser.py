"""The HTML report opened in a real browser: Debian's chromium, headless, driven by Playwright
(`executable_path`: nothing downloads a browser). Skipped where /usr/bin/chromium is missing
(`.ci/run` installs it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from playwright.sync_api import sync_playwright

import skewcheck

CHROMIUM = Path("/usr/bin/chromium")
WIDTHS = (1400, 800)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> tuple[Path, skewcheck.SkewReport]:
    rng = np.random.default_rng(3)
    n = 3_000
    x = rng.normal(50, 10, n)
    offline = pl.DataFrame(
        {"k": np.arange(n), "rounded": x, "scaled": x, "shifted": x, "clean": x, "tier": rng.choice(["a", "b", "c"], n)}
    )
    online = offline.with_columns(pl.col("rounded").round(0), pl.col("scaled") * 100, pl.col("shifted") + 7.5)
    report = skewcheck.compare(offline, online, keys="k")
    path = tmp_path_factory.mktemp("report") / "report.html"
    report.to_html(path)
    return path, report


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_loads_cleanly_links_its_sections_and_fits_the_width(report_page, width):
    path, report = report_page
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(path.as_uri())
            page.wait_for_load_state("load")

            assert errors == []
            skewed = [f.name for f in report.skewed]
            assert sorted(skewed) == ["rounded", "scaled", "shifted"]
            for name in skewed:
                link = page.locator("table a", has_text=name)
                target = link.get_attribute("href")
                section = page.locator(target)
                assert section.locator("h3").inner_text().startswith(name)
                image = section.locator("img")
                assert image.count() == 1
                assert image.evaluate("img => img.complete && img.naturalWidth > 0")
                assert image.evaluate("img => img.getBoundingClientRect().right") <= width
            assert page.locator("table a", has_text="clean").count() == 0  # clean: in the table, no section
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        finally:
            browser.close()
