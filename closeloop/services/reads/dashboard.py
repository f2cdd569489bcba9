"""Small reads the web dashboard needs beside :mod:`closeloop.services.reads.overview`:
the latest completed tasks (so a manager sees work being done), one-line summaries of
the complaints behind a page of tasks (one statement each), and a task's business time left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from closeloop.domain.task import TaskStatus
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, Task


@dataclass(frozen=True)
class Completion:
    task_id: int
    complaint_id: int | None
    department: str
    title: str
    outcome: str | None
    assignee: str | None
    done_at: datetime


@dataclass(frozen=True)
class ComplaintSummary:
    id: int
    severity: str
    status: str
    subject: str  # category / issue, as short as the data allows
    risk_flags: tuple[str, ...]


def recent_completions(sessions, *, limit: int = 10) -> list[Completion]:
    """The ``limit`` most recently completed tasks, newest first."""
    with unit_of_work(sessions) as s:
        rows = s.execute(select(Task.id, Task.complaint_id, Task.department, Task.title, Task.outcome, Task.assignee,
                                Task.updated_at).where(Task.status == TaskStatus.DONE)
                         .order_by(Task.updated_at.desc(), Task.id.desc()).limit(limit)).all()
    return [Completion(*r) for r in rows]


def complaint_summaries(sessions, ids: list[int]) -> dict[int, ComplaintSummary]:
    """``{complaint id: summary}`` for the given ids (unknown ids are left out)."""
    if not ids:
        return {}
    with unit_of_work(sessions) as s:
        rows = s.execute(select(Complaint.id, Complaint.severity, Complaint.status, Complaint.category,
                                Complaint.issue, Complaint.product, Complaint.risk_flags)
                         .where(Complaint.id.in_(sorted(set(ids))))).all()
    out = {}
    for cid, sev, status, category, issue, product, flags in rows:
        parts = [p for p in (category or product, issue) if p]
        out[cid] = ComplaintSummary(cid, sev, status, " / ".join(dict.fromkeys(parts)), tuple(flags or ()))
    return out


@dataclass(frozen=True)
class TimeLeft:
    """Business time to a due instant (``overdue`` False) or since it (``overdue`` True)."""

    business: timedelta
    overdue: bool

    @property
    def hours_minutes(self) -> tuple[int, int]:
        minutes = int(self.business.total_seconds()) // 60
        return minutes // 60, minutes % 60


def time_left(calendar, due_at: datetime | None, now: datetime) -> TimeLeft | None:
    """Business time left to ``due_at`` on ``calendar`` (the task's: its department's), or how much
    business time it is overdue by; None without a running due instant (a paused or finished task)."""
    if due_at is None:
        return None
    if due_at > now:
        return TimeLeft(calendar.business_time_between(now, due_at), False)
    return TimeLeft(calendar.business_time_between(due_at, now), True)
