"""The daily overdue digest for the operations manager: one message per working day, in their working
hours and their language, whatever runs it.

``closeloop serve`` runs it every few minutes (``flows/schedules.py``); it writes only when the
manager's calendar is open at ``now`` (a working day, inside working hours: weekends and holidays
write nothing), so it goes out at the first run after the manager's opening (K14). The outbox key
``overdue-digest:{local date}`` makes later runs that day, a redeploy or a scheduler race
(CASES.md C22) a no-op. Text from :data:`closeloop.domain.notices.MESSAGES` in the manager's language.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import func, select

from closeloop.config import Config
from closeloop.domain.notices import Role, message
from closeloop.domain.task import ACTIVE_STATES
from closeloop.services.bulk import enqueue
from closeloop.services.engine.notify import resolve_role
from closeloop.services.uow import unit_of_work
from models.tables import Task


def overdue_digest(sessions, config: Config, now: datetime) -> int | None:
    """Write today's digest of overdue tasks per department at the UTC-aware ``now``; returns the outbox id,
    or None when the manager's calendar is closed at ``now`` or today's digest exists."""
    who = resolve_role(config, Role.OPERATIONS_MANAGER, None)
    if not who.calendar.is_open(now):
        return None
    local_day = now.astimezone(who.calendar.zone).date().isoformat()
    lang = who.language
    with unit_of_work(sessions) as s:
        rows = s.execute(select(Task.department, func.count(), func.min(Task.due_at))
                         .where(Task.status.in_(ACTIVE_STATES), Task.due_at < now)
                         .group_by(Task.department).order_by(func.count().desc())).all()
        lines = [message("digest_line", lang, department=dep, count=n,
                         # MIN over due_at < now: never NULL
                         oldest=cast(datetime, oldest).astimezone(who.calendar.zone).strftime("%Y-%m-%d %H:%M"))
                 for dep, n, oldest in rows]
        body = (message("digest_heading", lang, day=local_day) + "\n"
                + ("\n".join(lines) if lines else message("digest_none", lang)) + "\n")
        return enqueue(s, key=f"overdue-digest:{local_day}", channel=who.channel, target=who.target,
                       recipient=who.name, subject=message("digest_subject", lang, day=local_day), body=body,
                       payload={"day": local_day, "departments": {d: n for d, n, _ in rows}}, now=now)
