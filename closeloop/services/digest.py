"""The daily overdue digest for the operations manager: one message per local day, whatever runs it.

Scheduled by cron in the manager's time zone (``flows/schedules.py``); the outbox key
``overdue-digest:{local date}`` makes a duplicate run (redeploy, scheduler race,
CASES.md C22) a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from closeloop.config import Config
from closeloop.domain.task import ACTIVE_STATES
from models.tables import Task

from .bulk import enqueue
from .markdown import md_text
from .notify import resolve_role
from .uow import unit_of_work


def overdue_digest(sessions, config: Config, now: datetime) -> int | None:
    """Write today's digest of overdue tasks per department; returns the outbox id, or None if it exists."""
    who = resolve_role(config, "operations_manager", None)
    local_day = now.astimezone(who.calendar.zone).date().isoformat()
    key = f"overdue-digest:{local_day}"
    with unit_of_work(sessions) as s:
        rows = s.execute(select(Task.department, func.count(), func.min(Task.due_at))
                         .where(Task.status.in_(ACTIVE_STATES), Task.due_at < now)
                         .group_by(Task.department).order_by(func.count().desc())).all()
        lines = [f"- {md_text(dep)}: {n} overdue task(s), oldest due {oldest.isoformat()}" for dep, n, oldest in rows]
        body = (f"Overdue tasks on {local_day}:\n" + ("\n".join(lines) if lines else "- none") + "\n")
        return enqueue(s, key=key, channel=who.channel, target=who.target, recipient=who.name,
                       subject=f"closeloop: overdue tasks on {local_day}", body=body,
                       payload={"day": local_day, "departments": {d: n for d, n, _ in rows}}, now=now)
