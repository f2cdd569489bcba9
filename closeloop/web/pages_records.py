"""Improvement records and compensation approvals on the dashboard (issue 14 §9).

- ``/improvements`` (members and leads: their department's records; managers: all) and
  ``/improvements/{id}``: the record, its linked complaints, actions, effectiveness checks and history, and
  a form per trigger its state allows for a lead of the owning department or a manager (as
  ``POST /api/v1/improvements/{id}/transitions``: approve needs a root cause, reject a reason, implement
  finished actions; the version shown is carried, a stale one is a message).
- ``/compensation`` (the approver roles, ``services/compensation.APPROVER_ROLES``: manager, admin): entries by
  status, pending first, with approve and reject forms; ``services/compensation.decide`` takes the signed-in
  role and refuses the requester (a message naming who), as ``POST /api/v1/compensation/{id}/approve``. An entry is
  decided once (its status is the lock: no version to carry): a decision on one already decided, by another
  approver since the page was loaded, is refused with a message saying so.

Every form carries the session's CSRF token; results come back as a message (POST/redirect/GET).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse

from closeloop.domain.compensation import CompensationStatus
from closeloop.domain.errors import Conflict, IllegalTransition, InvalidInput
from closeloop.domain.improvement import IMPROVEMENT_MACHINE, ImprovementStatus, ImprovementTrigger
from closeloop.http.access import LEAD, MANAGER, WORK_ROLES, Principal, get_app
from closeloop.services.capa import improvement
from closeloop.services.reads.engine_texts import record_texts
from closeloop.services.work import compensation
from models.types import MAX_ID

from .form_text import form_text, limit_of, problem_kind
from .render import WebRoute, render
from .session import PageError, check_csrf, current, form, web_actor, why_of, why_params

router = APIRouter(include_in_schema=False, route_class=WebRoute)

REASON_TRIGGERS = {str(ImprovementTrigger.REJECT), str(ImprovementTrigger.CONFIRM_INEFFECTIVE),
                   str(ImprovementTrigger.REWORK)}
ERRORS = ("stale", "state", "required", "invalid", "too_long", "own", "decided")
#: The label a records form shows for a service field where it is not ``field.<name>`` (the compensation
#: decision's ``note`` is its "Reason" box).
FORM_LABELS = {"note": "field.reason"}


def _flash(request: Request) -> dict | None:
    """The message of a redirect back (whitelisted keys and values; ``why``: the service's reason, signed;
    ``label``: the message key of the refused field's label on the form, :data:`FORM_LABELS`)."""
    query = request.query_params
    ok = query.get("ok", "")
    if re.fullmatch(r"[a-z_]{1,32}", ok):
        return {"kind": "ok", "key": "records.ok", "values": {"what": ok}}
    err = query.get("err", "")
    field = query.get("field", "")
    if err in ERRORS:
        field = field if re.fullmatch(r"[a-z_]{1,32}", field) else "?"
        why = why_of(request) if err == "invalid" else None
        return {"kind": "err", "key": f"records.err.{err}" + ("_why" if why else ""), "why": why,
                "label": FORM_LABELS.get(field, f"field.{field}"), "values": {"field": field, "limit": limit_of(field)}}
    return None


def _work_role(who: Principal) -> None:
    if who.role not in WORK_ROLES:
        raise PageError(403, "error.403.roles", roles=WORK_ROLES)


@router.get("/improvements")
def improvements(request: Request, status: ImprovementStatus | None = Query(None), who: Principal = Depends(current)):
    """The records the caller may see, newest first, with their number of linked complaints."""
    _work_role(who)
    app = get_app(request)
    rows = improvement.list_records(app.sessions, status=str(status) if status else None, limit=200,
                                    department=None if who.role == MANAGER else who.department)
    return render(request, "improvements.html.j2", rows=rows, chosen=str(status or ""),
                  texts=record_texts(app.sessions, [r for r, _ in rows]),
                  statuses=[str(s) for s in ImprovementStatus], now=app.clock.now(),
                  zone=str(app.config.customer_calendar.zone))


def _may_change(who: Principal, owner: str) -> bool:
    return who.role == MANAGER or (who.role == LEAD and who.department == owner)


@router.get("/improvements/{improvement_id}")
def improvement_page(request: Request, improvement_id: int = Path(ge=1, le=MAX_ID),
                     who: Principal = Depends(current)):
    """One record and the transitions the caller may fire."""
    _work_role(who)
    app = get_app(request)
    v = improvement.show(app.sessions, improvement_id)
    if not who.sees_department(v.record.owner_department):
        raise PageError(403, "error.403.department", mine=who.department or "-", other=v.record.owner_department)
    allowed = [str(t) for t in IMPROVEMENT_MACHINE.allowed(ImprovementStatus(v.record.status))]
    return render(request, "improvement.html.j2", v=v, r=v.record, flash=_flash(request),
                  texts=record_texts(app.sessions, [v.record]).get(v.record.id, {}),
                  triggers=allowed if _may_change(who, v.record.owner_department) else [],
                  reason_triggers=REASON_TRIGGERS, root_causes=app.config.model.improvement.root_causes,
                  zone=str(app.config.customer_calendar.zone))


def _why(request: Request, exc: InvalidInput) -> dict[str, str]:
    """The signed service reason of a refusal the generic ``invalid`` message would otherwise hide."""
    return why_params(request, exc.problem) if problem_kind(exc) == "invalid" else {}


def _back(path: str, **params: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode(params)}", status_code=303)


@router.post("/improvements/{improvement_id}/fire/{trigger}")
def fire(request: Request, improvement_id: int = Path(ge=1, le=MAX_ID), trigger: str = Path(max_length=32),
         data: dict = Depends(form), who: Principal = Depends(current)):
    """Fire ``trigger`` on the record with the version the page showed."""
    check_csrf(request, data)
    _work_role(who)
    app = get_app(request)
    rec = improvement.show(app.sessions, improvement_id).record
    if not _may_change(who, rec.owner_department):
        raise PageError(403, "error.403.action")
    here = f"/improvements/{improvement_id}"
    version = data.get("version", "")
    if not (version.isascii() and version.isdigit() and len(version) <= 10):
        return _back(here, err="invalid", field="version")
    try:
        improvement.fire(app.sessions, improvement_id, trigger, config=app.config, actor=web_actor(who),
                         at=app.clock.now(), reason=form_text(data, "reason"),
                         root_cause=data.get("root_cause") or None,
                         root_cause_detail=form_text(data, "root_cause_note", field="root_cause_detail"),
                         expected_version=int(version))
    except Conflict:
        return _back(here, err="stale")
    except IllegalTransition:
        return _back(here, err="state")
    except InvalidInput as exc:
        return _back(here, err=problem_kind(exc), field=exc.field, **_why(request, exc))
    return _back(here, ok=trigger)


STATUSES = (str(CompensationStatus.PENDING), str(CompensationStatus.APPROVED),
            str(CompensationStatus.REJECTED))


@router.get("/compensation")
def compensation_page(request: Request, status: str = Query(STATUSES[0], max_length=32),
                      who: Principal = Depends(current)):
    """Compensation entries of one status (pending first), with the approver's forms."""
    if who.role not in compensation.APPROVER_ROLES:
        raise PageError(403, "error.403.roles", roles=compensation.APPROVER_ROLES)
    status = status if status in STATUSES else STATUSES[0]
    app = get_app(request)
    rows = compensation.list_entries(app.sessions, status=status, limit=200)
    me = compensation.person_key(who.token_id, who.user_id)
    return render(request, "compensation.html.j2", rows=rows, chosen=status, statuses=STATUSES,
                  own={e.id for e in rows if e.requester_key == me}, note_max=compensation.NOTE_MAX_CHARS,
                  flash=_flash(request), zone=str(app.config.customer_calendar.zone))


@router.post("/compensation/{entry_id}/{decision}")
def decide(request: Request, entry_id: int = Path(ge=1, le=MAX_ID), decision: str = Path(max_length=10),
           data: dict = Depends(form), who: Principal = Depends(current)):
    """Approve or reject a pending entry (never one's own request)."""
    check_csrf(request, data)
    if decision not in ("approve", "reject"):
        raise PageError(404)
    if who.role not in compensation.APPROVER_ROLES:
        raise PageError(403, "error.403.action")
    app = get_app(request)
    try:
        compensation.decide(app.sessions, entry_id, approve=decision == "approve", actor=web_actor(who),
                            role=who.role, by=compensation.person_key(who.token_id, who.user_id),
                            at=app.clock.now(), note=data.get("note", "").strip())
    except IllegalTransition:  # decided once: another approver's decision came first (no version: status is the lock)
        return _back("/compensation", err="decided")
    except InvalidInput as exc:
        return _back("/compensation", err="own" if exc.field == "approver" else problem_kind(exc),
                     field=exc.field, **_why(request, exc))
    return _back("/compensation", ok=decision)
