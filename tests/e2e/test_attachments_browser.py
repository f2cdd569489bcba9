"""Issue 13 in a real browser (headless Chromium via Playwright): the complaint page's attachment list in
English and Chinese (layout checked, a hostile file name shown as text) and a download through the link
(a download, never a page). Screenshots: ``test-artifacts/dashboard/13-attachments-{en,zh}.png``."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from closeloop.bootstrap import App
from closeloop.clock import FixedClock
from closeloop.services.people.tokens import create_token
from closeloop.settings import Settings
from models.db import make_engine, make_sessions
from tests.e2e.test_customer_work_browser import _layout_ok, _page
from tests.e2e.test_dashboard_browser import _shot, chromium, serving  # noqa: F401
from tests.integration.attach import attach
from tests.integration.helpers import facts, intake

NOW = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x03" * 180_000
EVIL = "<img src=x onerror=\"document.title='pwned'\">.png"


@pytest.fixture
def desk(tmp_path, sqlite_template, config):
    db = tmp_path / "att.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    app = App(Settings(database_url=f"sqlite:///{db}", attachment_dir=str(tmp_path / "att")), engine,
              make_sessions(engine), FixedClock(NOW), config)
    (cid,) = intake(app.sessions, config, NOW, [facts("AT-1", NOW - timedelta(hours=2), product="Credit reporting",
                                                      category="Credit reporting", customer_ref="att")])
    attach(app.sessions, tmp_path / "att", cid, (PNG, "照片-损坏的包裹.png", "image/png"),
           (b"%PDF-1.7 invoice", "invoice 2026-03.pdf", "application/octet-stream"),
           (b"<html><script>alert(1)</script></html>", EVIL, "text/html"),
           (b"z" * 300_000, "scan-of-receipt.tiff", "image/tiff"), cap=250_000)
    tokens = {}
    for key, role, dept, lang in (("manager", "manager", None, "en"), ("lead", "lead", "operations", "zh")):
        tokens[key], _ = create_token(app.sessions, config, role=role, department=dept, language=lang,
                                      name=f"e2e-{key}", created_by="test", at=NOW)
    with serving(app) as base:
        yield base, tokens, cid
    engine.dispose()


@pytest.mark.parametrize("who,lang", [("manager", "en"), ("lead", "zh")])
def test_attachments_on_the_complaint_page_in_both_languages(chromium, desk, who, lang):  # noqa: F811
    base, tokens, cid = desk
    with _page(chromium, base, tokens[who]) as page:
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{base}/complaints/{cid}")
        rows = page.query_selector_all("#attachments tr[data-attachment]")
        assert len(rows) == 4 and EVIL in page.inner_text("#attachments")
        assert page.title() != "pwned" and not dialogs
        _layout_ok(page)
        page.locator("#attachments").scroll_into_view_if_needed()
        _shot(page, f"13-attachments-{lang}.png")
        with page.expect_download() as info:
            page.click("#attachments tr[data-attachment] >> nth=0 >> a")
        download = info.value
        assert download.suggested_filename == "照片-损坏的包裹.png"
        assert open(download.path(), "rb").read() == PNG
