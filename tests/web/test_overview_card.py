"""The overview's "Active tasks" card says how many of them are blocked: a task waiting on another task is
active but nobody can work on it (a manager read 1338 active, 666 of them blocked, as 1338 to be worked on)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from closeloop.domain.task import ACTIVE_STATES, TaskStatus
from closeloop.web import pages_overview
from models.tables import Task


def _card(page: str) -> tuple[str, str]:
    """The card's number and its blocked line, as shown."""
    number = re.search(r'<div class="n" id="active-tasks">([^<]*)</div>', page).group(1)
    blocked = re.search(r'<div class="l" id="active-blocked">([^<]*)</div>', page).group(1)
    return number, blocked


def test_the_active_tasks_card_says_how_many_are_blocked_by_another_task(web, complaints):
    with web.app.sessions() as s:
        by_status = dict(s.execute(select(Task.status, func.count()).where(Task.status.in_(ACTIVE_STATES))
                                   .group_by(Task.status)).all())
    active, blocked = sum(by_status.values()), by_status[TaskStatus.BLOCKED]
    assert (active, blocked) == (7, 3)  # each complaint has a task that waits on another one
    assert _card(web.signin("manager").get("/overview").text) == ("7", "of which 3 blocked by another task")
    assert _card(web.signin("manager_zh").get("/overview").text) == ("7", "其中 3 个受阻（等待其他任务完成）")


def test_none_blocked_is_said_plainly(web):
    assert _card(web.signin("manager").get("/overview").text) == ("0", "none blocked by another task")
    assert _card(web.signin("manager_zh").get("/overview").text) == ("0", "无受阻任务（等待其他任务完成）")


def test_large_counts_carry_thousands_separators(web, monkeypatch):
    real = pages_overview.overview_svc

    def busy(*args, **kwargs) -> dict:
        data = real(*args, **kwargs)
        data["departments"] = {
            "operations": {"active": 1000, "by_status": {"open": 500, "blocked": 500}, "breached": 1200},
            "service": {"active": 338, "by_status": {"open": 172, "blocked": 166}},
        }
        return data

    monkeypatch.setattr(pages_overview, "overview_svc", busy)
    page = web.signin("manager").get("/overview").text
    assert _card(page) == ("1,338", "of which 666 blocked by another task")
    assert '<div class="n" id="breached">1,200</div>' in page
    assert _card(web.signin("manager_zh").get("/overview").text) == ("1,338", "其中 666 个受阻（等待其他任务完成）")
