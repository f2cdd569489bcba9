"""Issue 14's "Done means" in a real browser (headless Chromium via Playwright): a member searches, opens a
customer (whose ref contains "/"), adds a note with a mention and attaches a file on a complaint, and saves the
search as a view; the mentioned person sees the note in "my tasks"; a manager runs a bulk transfer from the
list and exports the list. English and Chinese, the layout checked on every page (no button, badge or header
cell wraps; nothing wider than the window). Screenshots land in ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import csv
import io
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import select

from closeloop.bootstrap import App
from closeloop.clock import FixedClock
from closeloop.services.people.tokens import create_token
from closeloop.services.people.users import create_user
from closeloop.settings import Settings
from models.db import make_engine, make_sessions
from models.tables import Task
from tests.e2e.test_customer_work_browser import NOW, _layout_ok, _page
from tests.e2e.test_dashboard_browser import _shot, chromium, serving  # noqa: F401
from tests.integration.helpers import facts, intake

REF = "ACME/7"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def desk(tmp_path, sqlite_template, config):
    """(base URL, tokens, complaint ids): three bureau complaints of customer ACME/7 (operations investigates),
    users ann (member, en), zhang.wei (member, zh) and mara (manager, en)."""
    db = tmp_path / "desk.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    app = App(Settings(database_url=f"sqlite:///{db}", attachment_dir=str(tmp_path / "att")), engine,
              make_sessions(engine), FixedClock(NOW), config)
    at = NOW - timedelta(hours=3)
    ids = intake(app.sessions, config, NOW, [
        facts(f"OD-{i}", at - timedelta(minutes=i), product="Credit reporting", category="Credit reporting",
              customer_ref=REF, text=f"the bureau still lists the closed card ({i})") for i in range(3)])
    tokens = {}
    for handle, name, role, dept, lang in (("ann", "Ann Berg", "member", "operations", "en"),
                                           ("zhang.wei", "张伟", "member", "operations", "zh"),
                                           ("mara", "Mara Lind", "manager", None, "en")):
        create_user(app.sessions, config, handle=handle, name=name, departments=[dept] if dept else [], role=role,
                    language=lang, actor="test", at=NOW)
        tokens[handle], _ = create_token(app.sessions, config, role=role, department=dept, language=lang,
                                         name=f"e2e-{handle}", created_by="test", at=NOW, user=handle)
    with serving(app) as base:
        yield base, tokens, ids, app
    engine.dispose()


def _member_works_a_complaint(chromium_path: str, base: str, token: str) -> int:
    """Ann searches, opens the customer, notes with a mention and a file, saves her search; the complaint id."""
    with _page(chromium_path, base, token) as page:
        page.fill("#search input[name=q]", "bureau")
        page.click("#search button")
        page.wait_for_selector("#complaints")
        assert len(page.query_selector_all("#complaints tr[id^=complaint-]")) == 3
        page.fill("#save-view input[name=name]", "Bureau cases")
        page.click("#save-view button")
        assert page.inner_text("#flash").startswith("View saved")
        page.click("#nav-views summary")
        assert page.inner_text("#nav-views a[data-view]") == "Bureau cases"
        _layout_ok(page)
        _shot(page, "14-desk-search-view-en.png")
        page.click("#complaints .customer-link >> nth=0")
        assert page.url.endswith("/customers/ACME%2F7") and REF in page.inner_text("h1")
        _layout_ok(page)
        _shot(page, "14-desk-customer-en.png")
        link = page.query_selector("main a[href^='/complaints/']")
        cid = int(link.get_attribute("href").rsplit("/", 1)[1])
        link.click()
        page.fill("#work-note textarea[name=body]", "@zhang.wei the bureau's letter is attached")
        page.set_input_files("#work-note input[type=file]",
                             files=[{"name": "bureau-letter.png", "mimeType": "image/png", "buffer": PNG}])
        page.click("#work-note button")
        assert page.inner_text("#flash") == "Note added."
        row = page.query_selector("#attachments tr[data-status=stored]")
        assert "bureau-letter.png" in row.inner_text() and "web:e2e-ann" in row.inner_text()
        assert "image/png" in row.inner_text()
        with page.expect_download() as got:
            row.query_selector("a[download]").click()
        assert open(got.value.path(), "rb").read() == PNG
        _layout_ok(page)
        _shot(page, "14-desk-note-file-en.png")
        page.click("#lang-switch")
        _layout_ok(page)
        _shot(page, "14-desk-note-file-zh.png")
        return cid


def test_the_operations_desk_in_a_browser(chromium, desk):  # noqa: F811
    base, tokens, ids, app = desk
    cid = _member_works_a_complaint(chromium, base, tokens["ann"])
    with _page(chromium, base, tokens["zhang.wei"]) as page:  # Chinese
        page.click("#nav-my")
        mention = page.query_selector("#my-mentions tr[data-message]")
        assert mention is not None and "bureau's letter is attached" in mention.inner_text()
        assert mention.query_selector(".at-mention").inner_text() == "@zhang.wei"
        _layout_ok(page)
        _shot(page, "14-desk-my-tasks-zh.png")
        page.click(f"#my-mentions a[href='/complaints/{cid}#timeline']")
        assert page.query_selector("#attachments tr[data-status=stored]") is not None
    _manager_transfers_and_exports(chromium, base, tokens["mara"], ids, app)


def _manager_transfers_and_exports(chromium_path: str, base: str, token: str, ids: list[int], app) -> None:
    with _page(chromium_path, base, token) as page:
        page.goto(base + "/complaints?q=bureau")
        for box in page.query_selector_all("#complaints input[name=item]"):
            box.check()
        page.select_option("#bulk select[name=action]", "transfer")
        page.select_option("#bulk select[name=to]", "product")
        page.select_option("#bulk select[name=from_department]", "operations")
        page.fill("#bulk input[name=reason]", "incident 14: the product team owns the bureau feed")
        _layout_ok(page)
        _shot(page, "14-desk-bulk-form-en.png")
        page.click("#bulk button[type=submit]")
        assert page.inner_text("#flash") == "3 done, 0 failed."
        assert [r.get_attribute("data-ok") for r in page.query_selector_all("#bulk-results tr[data-ok]")] == \
            ["true"] * 3
        _layout_ok(page)
        _shot(page, "14-desk-bulk-results-en.png")
        page.click("#bulk-back")
        assert page.url.endswith("/complaints?q=bureau&sort=-received_at")
        with page.expect_download() as got:
            page.click("#export-csv")
        rows = list(csv.DictReader(io.StringIO(open(got.value.path(), encoding="utf-8-sig").read())))
        assert sorted(int(r["id"]) for r in rows) == sorted(ids)
        page.click("#lang-switch")
        _layout_ok(page)
        _shot(page, "14-desk-bulk-form-zh.png")
    with app.sessions() as s:
        departments = set(s.scalars(select(Task.department).where(Task.complaint_id.in_(ids),
                                                                   Task.status.in_(("open", "acknowledged")))))
    assert "operations" not in departments and "product" in departments


def test_improvement_and_compensation_pages_in_both_languages(chromium, desk):  # noqa: F811
    from closeloop.services.capa import improvement
    from closeloop.services.work import compensation

    base, tokens, ids, app = desk
    rec = improvement.create(app.sessions, config=app.config, title="bureau feed keeps closed cards open",
                             owner_department="operations", actor="test", at=NOW, complaint_ids=ids[:2])
    entry = compensation.add(app.sessions, ids[0], config=app.config, kind="goodwill", amount="250000",
                             actor="api:agent (member@operations)", requester="token:0", at=NOW)
    with _page(chromium, base, tokens["mara"]) as page:
        page.click("#nav-improvements")
        assert page.get_attribute(f"#improvement-{rec.id}", "data-status") == "proposed"
        _layout_ok(page)
        _shot(page, "14-improvements-en.png")
        page.click(f"#improvement-{rec.id} a")
        page.select_option("#fire-approve select[name=root_cause]", index=1)
        page.click("#fire-approve button")
        assert page.inner_text("#flash") == "Done: Approve." and page.get_attribute("#imp-status", "class").endswith(
            "st-approved")
        _layout_ok(page)
        _shot(page, "14-improvement-en.png")
        page.click("#lang-switch")
        _layout_ok(page)
        _shot(page, "14-improvement-zh.png")
        page.click("#nav-compensation")
        assert page.get_attribute(f"#entry-{entry.id}", "data-status") == "pending_approval"
        _layout_ok(page)
        _shot(page, "14-compensation-zh.png")
        page.click(f"#entry-{entry.id} button.go")
        assert page.inner_text("#flash") == "已完成：批准。"
        page.goto(base + "/compensation?status=approved")
        assert page.is_visible(f"#entry-{entry.id}")
        page.click("#lang-switch")
        _layout_ok(page)
        _shot(page, "14-compensation-en.png")
