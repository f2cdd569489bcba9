"""Small reads the web dashboard needs beside :mod:`closeloop.services.overview`:
the latest completed tasks (so a manager sees work being done) and one-line summaries of
the complaints behind a page of tasks. One statement each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from models.tables import Complaint, Task

from .uow import unit_of_work


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
                                Task.updated_at).where(Task.status == "done")
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
