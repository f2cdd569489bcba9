"""A department's queue and the task actions: acknowledge, start, complete, transfer; a lead or manager also
cancels (with a reason) and assigns (the roles of the API's ``POST /tasks/{id}/transitions``).

Each action form carries the task's ``version``: a stale one (someone changed the task since
the page was loaded) comes back as a clear message above the current queue, as does an
illegal trigger or missing input. Success and failure both redirect (POST/redirect/GET) with
a whitelisted message key in the query string.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse

from closeloop.domain.errors import Conflict, IllegalTransition, InvalidInput, NotFound, refuse_nul
from closeloop.domain.task import TASK_MACHINE, TaskStatus
from closeloop.http.access import MANAGER, WORK_ROLES, Principal, get_app, may_fire
from closeloop.services.reads.complaint_queries import task_department
from closeloop.services.reads.dashboard import complaint_summaries, time_left
from closeloop.services.reads.engine_texts import reopened_title_data, transfer_reason_data
from closeloop.services.reads.overview import _today_bounds, department_queue
from closeloop.services.work import tasks as task_svc
from models.types import MAX_ID

from .form_text import form_text, limit_of
from .paging import paged
from .render import WebRoute, render
from .session import PageError, check_csrf, current, form, safe_next, web_actor, why_of, why_params

router = APIRouter(include_in_schema=False, route_class=WebRoute)

ACTIONS = ("acknowledge", "start", "complete", "transfer", "cancel", "assign")
OK_KEYS = set(ACTIONS)
ERR_KEYS = {"stale", "illegal", "reason", "outcome", "to", "root_cause", "invalid", "not_found", "too_long",
            "cancel_reason", "assignee"}
FILTERS = ("all", "overdue", "due_today")
PAGE_SIZE = 100


def _may_see(who: Principal, department: str) -> None:
    if who.role not in WORK_ROLES:
        raise PageError(403, "error.403.roles", roles=WORK_ROLES)
    if not who.sees_department(department):
        raise PageError(403, "error.403.department", mine=who.department or "-", other=department)


@router.get("/queue")
def my_queue(request: Request, department: str = "", who: Principal = Depends(current)):
    """The caller's own queue; a manager's department selector lands here (``?department=``)."""
    if who.role not in WORK_ROLES:
        raise PageError(403, "error.403.roles", roles=WORK_ROLES)
    known = sorted(get_app(request).config.departments)
    # a member's or lead's token always names its department
    dept = (who.department or "") if who.role != MANAGER else (department if department in known else known[0])
    return RedirectResponse(f"/queue/{quote(dept, safe='')}", status_code=303)


def _flash(request: Request) -> dict | None:
    q = request.query_params
    task = q.get("task", "")
    task = task if task.isascii() and task.isdigit() else "?"
    if q.get("ok") in OK_KEYS:
        return {"kind": "ok", "key": f"ok.{q['ok']}", "values": {"task": task}}
    if q.get("err") in ERR_KEYS:
        state = q.get("state") if q.get("state") in {str(s) for s in TaskStatus} else ""
        field = q.get("field", "")
        field = field if re.fullmatch(r"[a-z_]{1,32}", field) else "?"
        why = why_of(request) if q["err"] == "invalid" else None
        return {"kind": "err", "key": "err.invalid_why" if why else f"err.{q['err']}", "why": why,
                "values": {"task": task, "state": state, "field": field, "limit": limit_of(field)}}
    return None


@router.get("/queue/{department}")
def queue(request: Request, department: str = Path(max_length=64), show: str = "all",
          page: int = Query(1), who: Principal = Depends(current)):
    """Active tasks, most urgent first; due times in the department's zone; overdue / due-today flags."""
    refuse_nul("department", department)
    _may_see(who, department)
    app = get_app(request)
    if department not in app.config.departments:
        raise PageError(404)
    show = show if show in FILTERS else "all"
    now = app.clock.now()

    def fetch(limit: int, offset: int) -> tuple[list, int]:
        found = department_queue(app.sessions, app.config, department, now=now, overdue=show == "overdue",
                                 due_today=show == "due_today", limit=limit, offset=offset)
        return found.tasks, found.total

    tasks, window = paged(fetch, page, PAGE_SIZE)
    start, end = _today_bounds(app.config, department, now)
    calendar = app.config.department_calendar(department)
    rows = [{"task": t, "overdue": t.due_at is not None and t.due_at <= now,
             "due_today": t.due_at is not None and start <= t.due_at < end, "left": time_left(calendar, t.due_at, now),
             "actions": _actions(who, TaskStatus(t.status))} for t in tasks]
    summaries = complaint_summaries(app.sessions, [t.complaint_id for t in tasks if t.complaint_id])
    departments = sorted(app.config.departments)
    return render(request, "queue.html.j2", department=department, rows=rows, total=window.total, show=show,
                  titles=reopened_title_data(app.sessions, tasks),
                  transfers=transfer_reason_data(app.sessions, tasks),
                  page=window.page, pages=window.pages, first=window.first, last=window.last, window=window,
                  filters=FILTERS, summaries=summaries, zone=str(app.config.department_calendar(department).zone),
                  departments=departments,
                  calendar_name=app.config.departments[department].calendar,
                  flash=_flash(request),
                  root_causes=app.config.model.improvement.root_causes, now=now,
                  here=request.url.path + "?" + urlencode({"show": show, "page": window.page}))


def _actions(who: Principal, status: TaskStatus) -> list[str]:
    """The queue row's actions: those the caller's role may take and the task's state allows (any active task
    can be reassigned)."""
    allowed = TASK_MACHINE.allowed(status)
    return [a for a in ACTIONS if may_fire(who.role, a) and (a in allowed if a != "assign" else True)]


def _back(data: dict, who: Principal, department: str, **params) -> RedirectResponse:
    target = urlsplit(safe_next(data.get("next"), f"/queue/{department}"))
    query = parse_qs(target.query)
    show, page = query.get("show", [""])[0], query.get("page", [""])[0]
    keep = {"show": show} if show in FILTERS else {}
    if page.isascii() and page.isdigit() and page != "1":
        keep["page"] = page
    return RedirectResponse(f"{target.path}?{urlencode({**keep, **params})}", status_code=303)


def _payload(action: str, data: dict) -> dict[str, Any] | str:
    """The service arguments of ``action`` read from the form, or the error key of a required field left
    empty (``outcome`` on complete, ``reason`` on transfer). Acknowledge and start take none. Raises
    ``InvalidInput`` naming a field with text over its limit (:mod:`closeloop.web.form_text`: never cut)."""
    if action == "complete":
        outcome = form_text(data, "outcome")
        if not outcome:
            return "outcome"
        # the complaint's root cause may come with the work; a root-cause task requires one (issue 5)
        return {"outcome": outcome, "root_cause": data.get("root_cause") or None,
                "root_cause_detail": form_text(data, "root_cause_note", field="root_cause_detail")}
    if action == "transfer":
        reason = form_text(data, "reason")
        return {"to": data.get("to", ""), "reason": reason} if reason else "reason"
    if action == "cancel":
        reason = form_text(data, "reason")
        return {"reason": reason} if reason else "cancel_reason"
    if action == "assign":
        assignee = form_text(data, "assignee")
        return {"assignee": assignee} if assignee else "assignee"
    return {}


@router.post("/tasks/{task_id}/{action}")
def act(request: Request, task_id: int = Path(ge=1, le=MAX_ID), action: str = Path(max_length=20),
        data: dict = Depends(form), who: Principal = Depends(current)):
    """Fire ``action`` on a task with the version the page showed."""
    check_csrf(request, data)
    if action not in ACTIONS:
        raise PageError(404)
    app = get_app(request)
    department = task_department(app.sessions, task_id)
    _may_see(who, department)
    if not may_fire(who.role, action):
        raise PageError(403, "error.403.task_action", action=action)
    version = data.get("version", "")
    if not (version.isascii() and version.isdigit() and len(version) <= 10):  # "²".isdigit() is true too
        return _back(data, who, department, err="invalid", field="version", task=task_id)
    kw: dict[str, Any] = dict(
        config=app.config, actor=web_actor(who),
        at=app.clock.now(), expected_version=int(version))
    try:
        payload = _payload(action, data)
    except InvalidInput as exc:  # text over its limit: refused before anything is read or written
        return _back(data, who, department, err="too_long", field=exc.field, task=task_id)
    if isinstance(payload, str):  # a required field left empty: the page says which
        return _back(data, who, department, err=payload, task=task_id)
    try:
        task_svc.fire(app.sessions, task_id, action, taker_id=who.user_id, **kw, **payload)
    except Conflict:
        return _back(data, who, department, err="stale", task=task_id)
    except IllegalTransition as exc:
        return _back(data, who, department, err="illegal", task=task_id, state=exc.state)
    except NotFound:
        return _back(data, who, department, err="not_found", task=task_id)
    except InvalidInput as exc:
        key = exc.field if exc.field in ("reason", "to", "root_cause", "assignee") else "invalid"
        if action == "cancel" and exc.field == "reason":
            key = "cancel_reason"
        if exc.field == "root_cause_detail":  # the root-cause note: shown with the root-cause choice
            key = "root_cause"
        why = why_params(request, exc.problem) if key == "invalid" else {}
        return _back(data, who, department, err=key, field=exc.field, task=task_id, **why)
    return _back(data, who, department, ok=action, task=task_id)
