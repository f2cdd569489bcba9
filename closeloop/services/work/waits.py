"""K11 a pause pauses what it blocks: waiting on the customer pauses the department tasks that wait on
that answer, and the customer's answer resumes them.

By default every open, acknowledged or in-progress task of the complaint pauses (task trigger
``pause``, reason "waiting on the customer: <the wait's reason>", audit data ``{"paused_by":
"complaint_wait"}``); the wait may name tasks that go on (``continuing``). Blocked tasks stay blocked
(they wait on another task, whose pause already holds them). When the complaint leaves
``awaiting_customer`` for work again (the customer replied), exactly the tasks this rule paused are
resumed (their due times move by the business time spent waiting, as for any task pause); a task a
person paused for another reason stays paused. A task paused while still ``open`` (nobody had acknowledged
it) is released back to ``open`` (trigger ``release``), its acknowledge clock paused meanwhile and running
again; the others resume to ``in_progress``. A task of a complaint that is resolved or closed is
cancelled by that path, not here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from closeloop.domain.errors import InvalidInput
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.domain.task import TaskStatus, TaskTrigger
from closeloop.services.transitions import apply
from models.tables import Complaint, Task, Transition

PAUSED_BY = "complaint_wait"
_PAUSABLE = (TaskStatus.OPEN, TaskStatus.ACKNOWLEDGED, TaskStatus.IN_PROGRESS)


def pause_for_wait(s: Session, complaint: Complaint, *, continuing: Collection[int], reason: str, actor: str,
                   at: datetime) -> list[int]:
    """Pause the complaint's pausable tasks except ``continuing``; returns the paused task ids.
    Raises ``InvalidInput`` (field ``continuing``) naming a task id that is not an active task of it."""
    tasks = s.scalars(select(Task).where(Task.complaint_id == complaint.id).order_by(Task.id)).all()
    active = {t.id for t in tasks if t.status in _PAUSABLE or t.status == TaskStatus.BLOCKED}
    unknown = sorted(set(continuing) - active)
    if unknown:
        raise InvalidInput("continuing", f"task(s) {', '.join(map(str, unknown))} are not active tasks of "
                                         f"complaint {complaint.id}")
    paused = []
    for t in tasks:
        if t.status in _PAUSABLE and t.id not in continuing:
            apply(s, t, TaskTrigger.PAUSE, at=at, actor=actor,
                  reason=system_reason(SystemReason.WAITING_ON_CUSTOMER, reason=reason),
                  data={"paused_by": PAUSED_BY})
            paused.append(t.id)
    return paused


def resume_after_wait(s: Session, complaint: Complaint, *, actor: str, at: datetime) -> list[int]:
    """Resume the tasks :func:`pause_for_wait` paused and nobody resumed since; returns their ids."""
    s.flush()
    waiting = s.scalars(select(Task).where(Task.complaint_id == complaint.id, Task.status == TaskStatus.WAITING)
                        .order_by(Task.id)).all()
    resumed = []
    for t in waiting:
        last = s.execute(select(Transition.data, Transition.from_state).where(
            Transition.entity == "task", Transition.entity_id == t.id, Transition.to_state == TaskStatus.WAITING)
            .order_by(Transition.at.desc(), Transition.id.desc()).limit(1)).first()
        if last is not None and (last.data or {}).get("paused_by") == PAUSED_BY:
            # a task held before anyone acknowledged it goes back to the queue unacknowledged, not to work
            trigger = TaskTrigger.RELEASE if last.from_state == TaskStatus.OPEN else TaskTrigger.RESUME
            apply(s, t, trigger, at=at, actor=actor, reason=system_reason(SystemReason.CUSTOMER_ANSWERED))
            resumed.append(t.id)
    return resumed
