"""Department tasks as lists and histories (CLI ``closeloop tasks list|show``; the API's queue and detail read
:mod:`closeloop.services.reads.overview` and :mod:`closeloop.services.reads.complaint_queries`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from closeloop.domain.task import TaskStatus
from closeloop.services.uow import unit_of_work
from models.tables import Task, Transition


def list_tasks(sessions: sessionmaker, *, department: str | None = None, status: TaskStatus | None = None,
               due_before: datetime | None = None, limit: int = 100) -> tuple[list[Task], int]:
    """Tasks oldest first (``created_at``, then id), at most ``limit``: of one ``department``, in one
    ``status``, and/or due before ``due_before`` (an aware UTC instant: "overdue as of now").
    Returns ``(tasks, total)``: ``total`` counts every task the filters match, so a caller can say
    that the list was cut at ``limit``."""
    q = select(Task)
    if department:
        q = q.where(Task.department == department)
    if status is not None:
        q = q.where(Task.status == status.value)
    if due_before is not None:
        q = q.where(Task.due_at < due_before)
    with unit_of_work(sessions) as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        return list(s.scalars(q.order_by(Task.created_at, Task.id).limit(limit))), total


def task_history(sessions: sessionmaker, task_id: int) -> list[Transition]:
    """A task's audit rows (status changes and same-status events), oldest first."""
    with unit_of_work(sessions) as s:
        return list(s.scalars(select(Transition)
                              .where(Transition.entity == "task", Transition.entity_id == task_id)
                              .order_by(Transition.at, Transition.id)))
