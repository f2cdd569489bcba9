"""The replay report and a monthly review rendered in headless Chromium; screenshots for a person to look at.

A small replay (the first 60 requests of the bundled NYC 311 sample, NYC configuration) writes
report.html and the review through the CLI; Chromium (Debian's, driven by Playwright) opens both
and saves full-page screenshots to ``test-artifacts/report/`` (git-ignored). Without chromium the
test skips outside CI and fails in CI (the ``chromium`` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from closeloop.cli import app
from tests.conftest import ROOT
from tests.e2e.test_dashboard_browser import chromium  # noqa: F401 - the fixture

ARTIFACTS = ROOT / "test-artifacts" / "report"


def test_report_and_review_render_with_charts_and_the_pareto(tmp_path: Path, chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright

    small = tmp_path / "nyc.csv"
    lines = (ROOT / "examples" / "nyc311_sample.csv").read_text("utf-8").splitlines()
    small.write_text("\n".join(lines[:61]) + "\n", "utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["replay", str(small), "--config", str(ROOT / "examples" / "nyc311.toml"),
                                   "--out", str(out), "--weeks", "2"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    review = out / summary["review"]["files"][1]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto((out / "report.html").as_uri())
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            charts = page.query_selector_all("svg[role=img]")
            assert len(charts) >= 5 and all(c.bounding_box()["width"] > 300 for c in charts)
            pareto = page.query_selector("svg[aria-label='Pareto chart']")
            assert pareto is not None and "cumulative share (%)" in pareto.text_content()
            causes = {r.query_selector_all("td")[0].inner_text() for r in page.query_selector_all(
                "table.root-causes tr") if r.query_selector("td")}
            assert causes and causes == {k.replace("_", " ") for k in summary["improvement_records"]["root_causes"]}
            open_chart = page.query_selector("svg[aria-label='open complaints (end of day)']")
            assert "2013-12-" in open_chart.text_content()  # dates on the time axis
            rows = [r.get_attribute("data-department")
                    for r in page.query_selector_all("table.departments tr[data-department]")]
            assert rows == list(summary["tasks"]["by_department"])  # worst first, as the summary orders them

            page.goto(review.as_uri())
            page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
            assert page.query_selector("svg[aria-label='Pareto chart']") is not None
            assert "resolved within target" in page.inner_text("body")
        finally:
            browser.close()
    assert (ARTIFACTS / "report.png").stat().st_size > 20_000 and (ARTIFACTS / "review.png").stat().st_size > 10_000
