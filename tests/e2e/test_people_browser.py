"""Issue 14 §3, §4 in a real browser (headless Chromium via Playwright): a manager writes a note that
@mentions a colleague on the complaint page; the colleague (a user whose token is theirs) sees it, and the
task assigned to them, on "my tasks" (``/my``), in English and Chinese, with the layout checked (no button,
badge or header cell wraps; nothing wider than the window). Screenshots land in ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from sqlalchemy import select

from closeloop.bootstrap import App
from closeloop.clock import FixedClock
from closeloop.services.people.tokens import create_token
from closeloop.services.people.users import create_user
from closeloop.services.work import tasks as task_svc
from closeloop.settings import Settings
from models.db import make_engine, make_sessions
from models.tables import Task
from tests.e2e.test_customer_work_browser import NOW, _layout_ok, _page
from tests.e2e.test_dashboard_browser import _shot, chromium, serving  # noqa: F401
from tests.integration.helpers import facts, intake


@pytest.fixture
def people(tmp_path, sqlite_template, config):
    """(base URL, tokens, complaint id, task id): a manager and the operations member zhang.wei (Chinese)."""
    db = tmp_path / "people.db"
    shutil.copy(sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    app = App(Settings(database_url=f"sqlite:///{db}"), engine, make_sessions(engine),
              FixedClock(NOW), config)
    at = NOW - timedelta(hours=3)
    cid = intake(app.sessions, config, NOW, [facts("PB-1", at, product="Credit reporting", category="Credit reporting",
                                                   customer_ref="pb", text="the bureau still shows the old debt")])[0]
    create_user(app.sessions, config, handle="zhang.wei", name="张伟", departments=["operations"], role="member",
                language="zh", notify="capture://zhang.jsonl", actor="test", at=NOW)
    create_user(app.sessions, config, handle="mara", name="Mara Lind", departments=[], role="manager",
                actor="test", at=NOW)
    with app.sessions() as s:
        task = s.scalar(select(Task.id).where(Task.complaint_id == cid, Task.department == "operations"))
    task_svc.assign(app.sessions, task, config=config, assignee="@zhang.wei", actor="test", at=NOW)
    tokens = {}
    for key, role, dept, lang, user in (("manager", "manager", None, "en", "mara"),
                                        ("zhang", "member", "operations", "zh", "zhang.wei")):
        tokens[key], _ = create_token(app.sessions, config, role=role, department=dept, language=lang,
                                      name=f"e2e-{key}", created_by="test", at=NOW, user=user)
    with serving(app) as base:
        yield base, tokens, cid, task
    engine.dispose()


def test_a_mention_reaches_my_tasks_in_both_languages(chromium, people):  # noqa: F811
    base, tokens, cid, task = people
    with _page(chromium, base, tokens["manager"]) as page:
        page.goto(f"{base}/complaints/{cid}")
        page.fill("#work-note textarea[name=body]", "@nobody.here can you look?")
        page.click("#work-note button")
        assert page.inner_text("#flash") == "Nobody has the handle @nobody.here: the note was not saved."
        page.fill("#work-note textarea[name=body]", "@zhang.wei please call the bureau about the old debt")
        page.click("#work-note button")
        assert page.inner_text("#flash") == "Note added."
        assert page.inner_text("#timeline .at-mention") == "@zhang.wei"
        _layout_ok(page)
        _shot(page, "14-complaint-mention-en.png")
        page.click("#lang-switch")
        assert page.inner_text("#timeline .at-mention") == "@zhang.wei"
        _layout_ok(page)
        _shot(page, "14-complaint-mention-zh.png")
        page.goto(f"{base}/my")
        assert page.is_visible("#no-tasks") and page.is_visible("#no-mentions")
    with _page(chromium, base, tokens["zhang"]) as page:
        page.click("#nav-my")
        assert page.url.endswith("/my")
        assert "我的任务与提及" in page.inner_text("h1") and "@zhang.wei" in page.inner_text("#my-user")
        assert page.get_attribute(f"#my-tasks #task-{task}", "data-status") == "open"
        mention = page.query_selector("#my-mentions tr[data-message]")
        assert mention is not None and "please call the bureau" in mention.inner_text()
        assert mention.query_selector(".at-mention").inner_text() == "@zhang.wei"
        _layout_ok(page)
        _shot(page, "14-my-tasks-zh.png")
        page.click("#lang-switch")
        assert "My tasks and mentions" in page.inner_text("h1")
        _layout_ok(page)
        _shot(page, "14-my-tasks-en.png")
        page.click(f"#my-mentions a[href='/complaints/{cid}#timeline']")
        assert f"/complaints/{cid}" in page.url
