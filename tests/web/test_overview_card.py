"""The overview's "Active tasks" card says how many of them are blocked: a task waiting on another task is
active but nobody can work on it (a manager read 1338 active, 666 of them blocked, as 1338 to be worked on)."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update

from closeloop.domain.task import ACTIVE_STATES, TaskStatus
from closeloop.web import pages_overview
from models.tables import Department, Task
from tests.web.conftest import T0


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


def test_departments_the_configuration_lacks_are_marked_not_linked(web, complaints):
    """Tasks routed with another configuration (examples/nyc311.toml) but served without it: the overview linked
    /queue/NYPD, a 404. Now: no link, a mark, and one warning naming CLOSELOOP_CONFIG (both languages)."""
    with web.app.sessions.begin() as s:  # the department row is kept (inactive) when the configuration drops it
        s.add(Department(name="NYPD", display_name="New York City Police Department", active=False, updated_at=T0))
        s.flush()
        s.execute(update(Task).where(Task.complaint_id == complaints[0]).values(department="NYPD"))
    m = web.signin("manager")
    assert m.get("/queue/NYPD").status_code == 404  # no such queue in this configuration
    page = m.get("/overview").text
    row = re.search(r'<tr data-department="NYPD".*?</td>', page, re.S).group(0)
    assert "<a " not in row and "not in this configuration" in row
    assert 'href="/queue/operations"' in page  # the known ones are still linked
    assert page.count('id="unknown-departments"') == 1
    warning = re.search(r'id="unknown-departments">([^<]*)<', page).group(1)
    assert "(NYPD)" in warning and "CLOSELOOP_CONFIG" in warning and "the bundled default" in warning
    assert 'href="/queue/NYPD"' not in m.get(f"/complaints/{complaints[0]}").text
    zh = web.signin("manager_zh").get("/overview").text
    assert "不在当前配置中" in zh and "（NYPD）" in zh and "CLOSELOOP_CONFIG" in zh and 'href="/queue/NYPD"' not in zh


def test_no_warning_when_every_department_is_known(web, complaints):
    assert 'id="unknown-departments"' not in web.signin("manager").get("/overview").text
