"""End to end in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

The app is served by uvicorn in a background thread on a free 127.0.0.1 port, over a SQLite
database holding real NYC 311 requests (``examples/nyc311_sample.csv``) routed by
``examples/nyc311.toml``. A department member signs in (a form posted from another page in
the same browser changes nothing), acknowledges and completes a task with a root cause;
the operations manager signs in, sees the counts change and the task among the completed
ones, switches the language and opens the complaint page. At 1400 px the manager's header (every link,
the search box, the user's corner) stays on one row in Chinese and English; the Chinese queue's 部门 label stays on
one line, and an improvement record shows its effectiveness checks beside the confirm forms. Screenshots land in
``test-artifacts/dashboard/`` (git-ignored). Without chromium (or Playwright) the test skips
outside CI and fails in CI.
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from closeloop.api.app import create_app
from closeloop.bootstrap import App
from closeloop.clock import FixedClock
from closeloop.services.engine.sweep import sweep
from closeloop.services.intake.importing import import_file
from closeloop.services.people.tokens import create_token
from closeloop.settings import Settings
from models.db import make_engine, make_sessions
from tests.conftest import IN_CI, ROOT

ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
RECEIVED = datetime(2013, 12, 26, 15, 0, tzinfo=UTC)  # taken in the morning after the sample's day
NOW = datetime(2014, 1, 8, 14, 30, tzinfo=UTC)  # Wednesday 09:30 in New York: due today, at risk
ROWS = 40


@pytest.fixture
def chromium() -> str:
    """Chromium's path, and Playwright importable; skips (outside CI) or fails (in CI) otherwise."""
    path = os.environ.get("CLOSELOOP_CHROMIUM") or shutil.which("chromium")
    problem = None
    if not path or not Path(path).exists():
        problem = "no chromium (set CLOSELOOP_CHROMIUM or install Debian's chromium; .ci/run does)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright for Python is not installed (pip install -e '.[test]')"
    if problem:
        if IN_CI:
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path, sqlite_template, nyc_config):
    """(base URL, tokens) of the dashboard served over a database of real NYC 311 requests."""
    db = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    app = App(Settings(database_url=f"sqlite:///{db}"), engine, make_sessions(engine),
              FixedClock(RECEIVED), nyc_config)
    sample = tmp_path / "nyc311.csv"
    with open(ROOT / "examples" / "nyc311_sample.csv", newline="", encoding="utf-8") as src, \
            open(sample, "w", newline="", encoding="utf-8") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst)
        for i, row in enumerate(reader):
            if i > ROWS:
                break
            writer.writerow(row)
    import_file(app.sessions, nyc_config, app.clock, sample)
    app.clock.set(NOW)
    sweep(app.sessions, nyc_config, NOW)  # timers: the at-risk figures come from them
    tokens = {}
    for key, role, dept, lang in (("member", "member", "NYPD", "en"), ("manager", "manager", None, "zh")):
        tokens[key], _ = create_token(app.sessions, nyc_config, role=role, department=dept, language=lang,
                                      name=f"e2e-{key}", created_by="test", at=NOW)
    with serving(app) as base:
        yield base, tokens
    engine.dispose()


@contextmanager
def serving(app: App) -> Iterator[str]:
    """Serve ``app`` (API and dashboard) with uvicorn in a thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():  # started, or failed and ended
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _counts(page) -> dict[str, int]:
    """The overview's figures, read from the page (language-independent ids and data attributes)."""
    out = {key: int(page.inner_text(f"#{key}").replace(",", "")) for key in ("open-complaints", "active-tasks")}
    for row in page.query_selector_all("#complaints-by-status tr[data-status]"):
        out["status:" + row.get_attribute("data-status")] = int(row.query_selector("td.num").inner_text())
    return out


@contextmanager
def _browser(chromium: str):
    """Headless Chromium through Playwright, closed after the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def _signin(page, base: str, token: str) -> None:
    page.goto(base + "/")
    assert "/signin" in page.url
    page.fill("#token", token)
    page.click("#signin-submit")


def test_member_completes_a_task_and_the_manager_sees_it_done(chromium, served):
    base, tokens = served
    with _browser(chromium) as browser:
        manager = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _signin(manager, base, tokens["manager"])
        assert manager.url.endswith("/overview")
        before = _counts(manager)

        member = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        member.goto(base + "/overview")
        assert "/signin" in member.url  # 401 -> sign-in, with the way back
        _shot(member, "01-signin.png")
        _signin(member, base, tokens["member"])
        assert member.url.endswith("/queue/NYPD"), member.url
        row = member.query_selector("#queue tr[data-task]")
        assert row is not None, "the NYPD queue is empty"
        task_id = row.get_attribute("data-task")
        complaint_href = row.query_selector("a[href^='/complaints/']").get_attribute("href")
        _shot(member, "02-member-queue.png")

        # a page from elsewhere posting into the dashboard in the member's browser changes nothing
        evil = member.context.new_page()
        evil.set_content(f'<form method="post" action="{base}/tasks/{task_id}/acknowledge">'
                         f'<input name="version" value="1"><input name="csrf" value="guess"></form>')
        with evil.expect_navigation():
            evil.evaluate("document.forms[0].submit()")
        assert "/signin" in evil.url or "error-message" in evil.content()
        evil.close()
        member.reload()
        assert member.get_attribute(f"#task-{task_id}", "data-status") == "open"

        member.click(f"#task-{task_id} button[data-action=acknowledge]")
        assert member.inner_text("#flash") == f"Task {task_id} acknowledged."
        assert member.get_attribute(f"#task-{task_id}", "data-status") == "acknowledged"
        member.click(f"#task-{task_id} summary[data-action=complete]")
        member.fill(f"#task-{task_id} textarea[name=outcome]", "Vehicle towed; driveway clear")
        # the root cause comes with the work, so the complaint resolves (else a root-cause task follows)
        member.select_option(f"#task-{task_id} select[name=root_cause]", "third_party")
        _shot(member, "03-complete-form.png")
        member.click(f"#task-{task_id} form[action$='/complete'] button[type=submit]")
        assert member.inner_text("#flash") == f"Task {task_id} completed."
        assert member.query_selector(f"#task-{task_id}") is None
        _shot(member, "04-member-queue-after.png")
        assert member.goto(base + "/overview").status == 403  # members have no overview

        manager.reload()
        after = _counts(manager)
        assert after != before
        assert after["status:triaged"] == before["status:triaged"] - 1  # the complaint left triage
        assert after["open-complaints"] == before["open-complaints"] - 1
        assert after["status:resolved"] == before.get("status:resolved", 0) + 1
        done = manager.query_selector(f"#recent tr[data-task='{task_id}']")
        assert done is not None and "Vehicle towed; driveway clear" in done.inner_text()
        assert "运营总览" in manager.inner_text("h1")  # the manager's token says Chinese
        _shot(manager, "05-manager-overview-zh.png")
        manager.click("#lang-switch")
        assert "Operations overview" in manager.inner_text("h1")
        _shot(manager, "06-manager-overview-en.png")

        manager.click(f"#recent tr[data-task='{task_id}'] a[href^='/complaints/']")
        assert manager.url.endswith(complaint_href)
        assert manager.get_attribute(f"#tasks tr[data-task='{task_id}']", "data-status") == "done"
        assert manager.get_attribute("#complaint-status", "data-status") == "resolved"
        assert manager.query_selector_all("#clocks tr td")  # clocks with target/elapsed/remaining
        assert "complete" in manager.inner_text("#timeline")
        _shot(manager, "07-complaint.png")
    assert len(list(ARTIFACTS.glob("*.png"))) >= 7


#: every child of the header on one row, and the search box's placeholder shown whole (set as the value, it
#: would need no scrolling: a search box keeps the room of its clear button in both cases)
_HEADER_FIT = """() => {
  const tops = [...document.querySelectorAll('header.top > *')].map(e => e.getBoundingClientRect().top);
  const box = document.querySelector('#search input');
  box.value = box.placeholder;
  const whole = box.scrollWidth <= box.clientWidth;
  box.value = '';
  return {rows_apart: Math.max(...tops) - Math.min(...tops), placeholder_whole: whole, title: box.title};
}"""


def test_the_header_fits_one_row_at_1400_px_in_both_languages(chromium, served):
    base, tokens = served
    with _browser(chromium) as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        _signin(page, base, tokens["manager"])  # the manager's header is the fullest: every page's link
        page.goto(base + "/complaints")
        for lang in ("zh", "en"):
            assert page.get_attribute("html", "lang").startswith(lang)
            fit = page.evaluate(_HEADER_FIT)
            assert fit["rows_apart"] < 10, (lang, fit)
            assert fit["placeholder_whole"], (lang, fit)
            assert len(fit["title"]) > 40  # the placeholder is short; the title says what is searched
            _shot(page, f"08-header-1400-{lang}.png")
            if lang == "zh":
                page.click("#lang-switch")


def _one_line(page, selector: str) -> int:
    """How many lines the first text of ``selector`` takes on screen."""
    return page.evaluate("""(sel) => { const range = document.createRange();
        range.selectNodeContents(document.querySelector(sel).firstChild); return range.getClientRects().length; }""",
                         selector)


@pytest.mark.parametrize("width", [1280, 900])
def test_the_chinese_queue_keeps_the_department_label_on_one_line(chromium, served, width):
    """部门 wrapped to one character per line: the select took the label's whole width."""
    base, tokens = served
    with _browser(chromium) as browser:
        page = browser.new_context(viewport={"width": width, "height": 700}).new_page()
        _signin(page, base, tokens["manager"])  # a Chinese manager
        page.goto(base + "/queue/NYPD")
        assert page.inner_text("#dept-select label").startswith("部门")
        assert _one_line(page, "#dept-select label") == 1
        label, select = (page.eval_on_selector(f"#dept-select {s}", "e => e.getBoundingClientRect().toJSON()")
                         for s in ("label", "select"))
        assert select["height"] >= label["height"] - 4  # the label is no taller than its select: not stacked
        _shot(page, f"queue-zh-{width}.png")
        if width == 1280 and os.environ.get("CLOSELOOP_QUEUE_PNG"):
            page.screenshot(path=os.environ["CLOSELOOP_QUEUE_PNG"])


def test_the_improvement_page_shows_its_effectiveness_checks(chromium, served, tmp_path, nyc_config):
    """The checks' evidence beside the confirm forms (a manager decides by hand from it)."""
    from closeloop.services.capa import improvement
    from models.tables import EffectivenessCheck, Improvement

    base, tokens = served
    engine = make_engine(f"sqlite:///{tmp_path / 'e2e.db'}")  # the served database
    sessions = make_sessions(engine)
    rec = improvement.create(sessions, config=nyc_config, title="Blocked driveways reported twice",
                             owner_department="NYPD", actor="test", at=NOW, complaint_ids=[1, 2])
    rule = {"min_reduction": 0.3, "min_before": 3}
    with sessions.begin() as s:
        s.get_one(Improvement, rec.id).status = "verifying"  # as the check's timer leaves it
        s.add_all([EffectivenessCheck(improvement_id=rec.id, attempt=0, at=NOW, window_days=28, implemented_at=NOW,
                                      before_count=2, after_count=1, rate_before=2 / 28, rate_after=1 / 28,
                                      reduction=None, decision="not_enough_data", rule=rule),
                   EffectivenessCheck(improvement_id=rec.id, attempt=1, at=NOW, window_days=56, implemented_at=NOW,
                                      before_count=12, after_count=10, rate_before=12 / 56, rate_after=10 / 56,
                                      reduction=1 / 6, decision="ineffective", rule=rule)])
    engine.dispose()
    with _browser(chromium) as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _signin(page, base, tokens["manager"])
        page.goto(f"{base}/improvements/{rec.id}")
        rows = page.query_selector_all("#imp-checks tr[data-decision]")
        assert [r.get_attribute("data-decision") for r in rows] == ["not_enough_data", "ineffective"]
        assert "17%" in rows[1].inner_text() and "无效" in rows[1].inner_text()
        assert page.is_visible("#fire-confirm_effective") and page.is_visible("#fire-confirm_ineffective")
        _shot(page, "improvement-checks-zh.png")
        if os.environ.get("CLOSELOOP_IMPROVEMENT_PNG"):
            page.screenshot(path=os.environ["CLOSELOOP_IMPROVEMENT_PNG"], full_page=True)


#: the load chart's panel: does the chart fit it (no sideways scrolling), and its department labels top to bottom
_LOAD_CHART = """() => {
  const panel = document.querySelector('#load-chart').closest('.panel');
  const svg = panel.querySelector('svg');
  const codes = new Set([...document.querySelectorAll('#departments tr[data-department]')]
    .map(r => r.dataset.department));
  const labels = [...svg.querySelectorAll('text')].filter(t => codes.has(t.textContent))
    .map(t => [t.getBoundingClientRect().top, t.textContent]).sort((a, b) => a[0] - b[0]).map(p => p[1]);
  return {scroll: panel.scrollWidth, client: panel.clientWidth, svg: svg.getBoundingClientRect().width,
          labels: labels};
}"""


def _worst_first(page) -> list[str]:
    """The departments of the overview's table ranked as the load chart ranks them: most breached, most active."""
    rows = []
    for tr in page.query_selector_all("#departments tr[data-department]"):
        cells = tr.query_selector_all("td")
        breached = cells[7].inner_text().strip()
        active = int(tr.query_selector("b.active").inner_text().replace(",", ""))
        overdue = int(breached.replace(",", "")) if breached != "·" else 0
        rows.append((-overdue, -active, tr.get_attribute("data-department")))
    return [code for *_, code in sorted(rows)]


@pytest.mark.parametrize("width", [1280, 1600, 900])
def test_the_load_chart_fits_its_panel_worst_first(chromium, served, width):
    """NYC 311's 16 departments: the chart was 715 px wide in a 606 px panel (HRA, NYPD, TLC scrolled out)."""
    base, tokens = served
    with _browser(chromium) as browser:
        page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
        _signin(page, base, tokens["manager"])
        page.goto(base + "/overview")
        fit = page.evaluate(_LOAD_CHART)
        assert fit["scroll"] <= fit["client"] and fit["svg"] <= fit["client"], fit
        assert len(fit["labels"]) == 16 and fit["labels"] == _worst_first(page), fit["labels"]
        assert "超时任务最多的部门排最前" in page.inner_text("#load-order")
        page.eval_on_selector("#load-chart", "e => e.closest('.panel').scrollIntoView()")
        _shot(page, f"overview-load-{width}-zh.png")


def test_a_page_past_the_end_shows_the_last_page(chromium, served):
    base, tokens = served
    with _browser(chromium) as browser:
        member = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _signin(member, base, tokens["member"])
        member.goto(base + "/queue/NYPD?page=999")
        assert member.query_selector("#queue tr[data-task]") is not None
        assert member.query_selector("#queue-empty") is None
        assert member.inner_text("#page-clamped") == "Page 999 is past the end: showing page 1, the last."
        _shot(member, "queue-page-999.png")
        manager = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _signin(manager, base, tokens["manager"])
        manager.goto(base + "/complaints?page=99999")
        assert manager.query_selector("#complaints tr[id^='complaint-']") is not None
        assert "第 99,999 页超出范围" in manager.inner_text("#page-clamped")
        _shot(manager, "complaints-page-99999-zh.png")


#: how wide the overview is against its window, and where its departments table ends
_OVERVIEW_FIT = """() => ({page: document.documentElement.scrollWidth, window: document.documentElement.clientWidth,
  table: document.querySelector('#departments').getBoundingClientRect().right})"""


@pytest.mark.parametrize("width", [900, 1024])
def test_the_overview_departments_table_fits_a_narrow_window(chromium, served, width):
    """With NYC 311's long department names (kept on one line) the table was ~1,240 px wide: the overview
    scrolled sideways at 900-1024 px. The names wrap now."""
    base, tokens = served
    with _browser(chromium) as browser:
        page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
        _signin(page, base, tokens["manager"])
        page.goto(base + "/overview")
        for lang in ("zh", "en"):
            assert page.get_attribute("html", "lang").startswith(lang)
            page.eval_on_selector("#departments", "e => e.scrollIntoView()")
            _shot(page, f"overview-departments-{width}-{lang}.png")
            fit = page.evaluate(_OVERVIEW_FIT)
            assert fit["page"] <= fit["window"] and fit["table"] <= fit["window"], (lang, fit)
            if lang == "zh":
                page.click("#lang-switch")
