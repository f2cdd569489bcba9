"""Department task queues and task transitions.

Access: a member or lead works on its own department's tasks (members: acknowledge,
start, pause, resume, complete, transfer; leads also cancel and assign); a manager on
every department's; an admin on none (403).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel

from closeloop.bootstrap import App
from closeloop.domain.errors import IllegalTransition, NotFound, refuse_nul
from closeloop.domain.task import TaskStatus
from closeloop.http.access import LEAD_TRIGGERS, MEMBER_TRIGGERS
from closeloop.services.reads.complaint_queries import get_task, task_department, task_with_clocks
from closeloop.services.reads.overview import department_queue
from closeloop.services.work import tasks as task_svc

from .auth import LEAD, MANAGER, MEMBER, WORK_ROLES, Principal, check_department, get_app, require
from .deps import Id, clock_out, version_of
from .errors import ApiError, callers_view
from .schemas import ClockOut, Page, TaskOut
from .schemas_transitions import TaskTransition, Transfer

router = APIRouter(tags=["tasks"])


class TaskDetail(BaseModel):
    task: TaskOut
    clocks: list[ClockOut]


class TaskTransitionOut(BaseModel):
    task: TaskOut
    new_task: TaskOut | None = None  # the task created in the target department by a transfer


@router.get("/departments/{department}/tasks", response_model=Page[TaskOut])
def queue(department: str, status: list[TaskStatus] | None = Query(None, description="default: the active ones"),
          overdue: bool = Query(False, description="resolve due instant has passed"),
          due_today: bool = Query(False, description="due today in the department's calendar zone"),
          limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
          who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> Page[TaskOut]:
    """A department's queue, most urgent first (due instant, then id)."""
    refuse_nul("department", department)
    check_department(who, department)
    if department not in app.config.departments:
        raise NotFound("department", department)
    page = department_queue(app.sessions, app.config, department, now=app.clock.now(),
                            status=[str(s) for s in status] if status else None, overdue=overdue,
                            due_today=due_today, limit=limit, offset=offset)
    return Page[TaskOut](items=[TaskOut.model_validate(t) for t in page.tasks], total=page.total, limit=limit,
                         offset=offset)


def _own(app: App, who: Principal, task_id: int) -> None:
    check_department(who, task_department(app.sessions, task_id))


@router.get("/tasks/{task_id}", response_model=TaskDetail)
def task(task_id: Id, who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> TaskDetail:
    """One task with its acknowledge, resolve and update clocks (business hours, department calendar)."""
    _own(app, who, task_id)
    t, clocks = task_with_clocks(app.sessions, app.config, task_id, now=app.clock.now())
    return TaskDetail(task=TaskOut.model_validate(t), clocks=[clock_out(v) for v in clocks])


@router.post("/tasks/{task_id}/transitions", response_model=TaskTransitionOut,
             responses={409: {"description": "illegal trigger (the current state is named) or stale version"}})
def task_transition(task_id: Id, body: TaskTransition, if_match: str | None = Header(None, max_length=40),
                    who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> TaskTransitionOut:
    """Fire a trigger on a task: ``acknowledge``, ``start``, ``complete`` (outcome; root_cause on a
    ``root-cause`` task, see issue 5), ``pause`` (reason,
    until), ``resume``, ``transfer`` (to, reason), ``cancel`` (reason), ``assign`` (assignee)."""
    _own(app, who, task_id)
    allowed = {MEMBER: MEMBER_TRIGGERS, LEAD: LEAD_TRIGGERS}.get(who.role, frozenset())
    if who.role != MANAGER and body.trigger not in allowed:
        raise ApiError(403, f"a {who.role} may not {body.trigger} a task; allowed: {', '.join(sorted(allowed))}")
    kw: dict[str, Any] = dict(config=app.config, actor=who.actor, at=app.clock.now(),
                              expected_version=version_of(body.version, if_match))
    payload = body.model_dump(exclude={"trigger", "version"})
    try:
        result = task_svc.fire(app.sessions, task_id, body.trigger, taker_id=who.user_id, **kw, **payload)
    except IllegalTransition as exc:  # a member or lead is told only the triggers its role may send
        if exc.entity != "task" or who.role == MANAGER:
            raise
        raise callers_view(exc, sorted(allowed)) from None
    new = TaskOut.model_validate(result) if isinstance(body, Transfer) else None
    return TaskTransitionOut(task=TaskOut.model_validate(get_task(app.sessions, task_id)), new_task=new)
