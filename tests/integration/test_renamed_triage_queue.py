"""A configuration whose triage queue is not called "triage": every path that falls back to the triage queue
finds the configured one (the first ``[[fallback.tasks]]`` department), never the literal name. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from closeloop.config import load_config, parse_config
from closeloop.services.work import lifecycle
from models.tables import Task

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _frontdesk_config():
    text = load_config(None).text
    for old, new in (("[departments.triage]", "[departments.frontdesk]"), ('department = "triage"',
                                                                         'department = "frontdesk"'),
                     ('triage = "投诉受理组"', 'frontdesk = "投诉受理组"')):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return parse_config(text, "default with the triage queue called frontdesk")


def test_the_triage_queue_is_the_configured_fallback_department():
    config = _frontdesk_config()
    assert config.triage_department == "frontdesk" and "triage" not in config.departments


def test_a_complaint_resolved_without_department_work_reopens_to_the_configured_triage_queue(sessions):
    config = _frontdesk_config()
    (cid,) = intake(sessions, config, T0, [facts("R-1", T0, category="nothing routes this")])
    lifecycle.resolve(sessions, cid, config=config, reason="answered on the first call", actor="svc", at=T0,
                      root_cause="process_gap")
    lifecycle.reopen(sessions, cid, config=config, reason="the customer wrote again", actor="svc",
                     at=T0 + timedelta(days=2))
    with sessions() as s:
        reopened = s.scalars(select(Task).where(Task.complaint_id == cid, Task.kind == "reopened")).one()
    assert (reopened.department, reopened.status) == ("frontdesk", "open")
