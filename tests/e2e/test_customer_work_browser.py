"""Issue 14 in a real browser (headless Chromium via Playwright): the complaint page's work forms and the
customer page, in English and Chinese, checked for layout (no button wraps, no page wider than the window)
and for the customer's name shown as text (a ``<script>`` in it never runs). Screenshots land in
``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from closeloop.bootstrap import App
from closeloop.clock import FixedClock
from closeloop.domain.customer import CustomerProfile
from closeloop.services.customers.promises import make_promise
from closeloop.services.people.tokens import create_token
from closeloop.services.work import compensation
from closeloop.settings import Settings
from models.db import make_engine, make_sessions
from tests.e2e.test_dashboard_browser import _shot, _signin, chromium, serving  # noqa: F401
from tests.integration.helpers import facts, intake

NOW = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)  # Tuesday 15:00 in New York
NAME = "<script>document.title='pwned'</script> 王小明"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@pytest.fixture
def desk(tmp_path, sqlite_template, config):
    """(base URL, tokens, complaint ids) of the dashboard over one customer's complaints."""
    db = tmp_path / "desk.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    app = App(Settings(database_url=f"sqlite:///{db}"), engine, make_sessions(engine),
              FixedClock(NOW - timedelta(days=1)), config)
    at = NOW - timedelta(days=1, hours=2)
    ids = intake(app.sessions, config, app.clock.now(), [
        facts("CW-1", at, product="Credit reporting", category="Credit reporting", customer_ref="cw",
              customer=CustomerProfile(NAME, "zh", "Asia/Shanghai"), text="wrong entry; my lawyer will sue"),
        facts("CW-2", at, product="Mortgage", category="Mortgage", customer_ref="cw")])
    make_promise(app.sessions, config, ids[0], department="operations", kind="call_back", business_hours=3,
                 actor="agent", at=app.clock.now())
    compensation.add(app.sessions, ids[0], config=config, kind="refund", amount="25.00", actor="agent",
                     at=app.clock.now())
    app.clock.set(NOW)
    tokens = {}
    for key, role, dept, lang in (("manager", "manager", None, "en"), ("lead", "lead", "operations", "zh")):
        tokens[key], _ = create_token(app.sessions, config, role=role, department=dept, language=lang,
                                      name=f"e2e-{key}", created_by="test", at=NOW)
    with serving(app) as base:
        yield base, tokens, ids
    engine.dispose()


WRAPPED = """() => [...document.querySelectorAll('main button, main summary, main .badge, main th')]
  .filter(e => e.offsetParent !== null)
  .filter(e => {
    const st = getComputedStyle(e), r = e.getBoundingClientRect();
    const inner = r.height - ['paddingTop', 'paddingBottom', 'borderTopWidth', 'borderBottomWidth']
      .reduce((sum, k) => sum + parseFloat(st[k]), 0);
    return inner > 1.5 * parseFloat(st.lineHeight); })
  .map(e => e.tagName + ':' + e.textContent.trim())"""


@contextmanager
def _page(chromium_path: str, base: str, token: str) -> Iterator:
    """A signed-in page of a fresh headless Chromium (closed on exit)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            _signin(page, base, token)
            yield page
        finally:
            browser.close()


def _layout_ok(page) -> None:
    """No button, badge or header cell on two lines; nothing wider than the window. Measured once the page has
    loaded: a click that navigates (the language switch) returns when the new document starts loading, and one
    measured then may have no root element yet (full run of session 14)."""
    page.wait_for_load_state("load")
    assert page.evaluate(WRAPPED) == []
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_work_forms_and_customer_page_in_both_languages(chromium, desk):  # noqa: F811
    base, tokens, (credit, _) = desk
    with _page(chromium, base, tokens["manager"]) as page:
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{base}/complaints/{credit}")
        for form in ("note", "reprioritize", "wait", "resolve"):
            assert page.is_visible(f"#work-{form}")
        _layout_ok(page)
        page.fill("#work-note textarea[name=body]", "called the bureau; dispute filed")
        page.click("#work-note button")
        assert page.inner_text("#flash") == "Note added."
        assert "called the bureau; dispute filed" in page.inner_text("#timeline")
        _shot(page, "14-complaint-work-en.png")
        page.click("#customer-link")
        assert page.url.endswith("/customers/cw")
        assert page.inner_text("#customer-name") == NAME and page.title() != "pwned" and not dialogs
        _layout_ok(page)
        _shot(page, "14-customer-en.png")
        page.click("#lang-switch")
        assert "客户 cw" in page.inner_text("h1")
        _layout_ok(page)
        _shot(page, "14-customer-zh.png")
        page.goto(f"{base}/complaints/{credit}")
        _layout_ok(page)
        _shot(page, "14-complaint-work-zh.png")


def test_a_lead_in_chinese_sees_time_left_badges_and_its_forms(chromium, desk):  # noqa: F811
    base, tokens, (credit, _) = desk
    with _page(chromium, base, tokens["lead"]) as page:
        page.goto(f"{base}/queue/operations")
        badges = page.eval_on_selector_all("#queue .sla", "els => els.map(e => e.textContent)")
        # task 1 is due right now (Tuesday 15:00): "overdue", not "overdue by 0h 00m"
        assert badges == ["已超时", "剩余 32 个工作小时"], badges  # business hours, whole from 24 up
        _layout_ok(page)
        _shot(page, "14-queue-badges-zh.png")
        page.goto(f"{base}/complaints/{credit}")
        assert page.is_visible("#work-reprioritize") and not page.is_visible("#work-resolve")
        page.fill("#work-reprioritize input[name=reason]", "")
        page.select_option("#work-reprioritize select", "P1")
        page.eval_on_selector("#work-reprioritize input[name=reason]", "e => e.removeAttribute('required')")
        page.click("#work-reprioritize button")
        assert page.inner_text("#flash") == "请填写“原因”（reason）。"
        _layout_ok(page)
        _shot(page, "14-complaint-error-zh.png")
