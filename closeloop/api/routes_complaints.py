"""``/complaints``: intake (idempotent), filtered list, detail with timeline/tasks/clocks, transitions.

Access: intake and transitions (reopen, merge, resolve, close) are manager-only;
members and leads read the complaints their department's tasks touch (403 otherwise).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from closeloop.bootstrap import App
from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.customer import ContactKind, ContactPoint, CustomerProfile
from closeloop.domain.errors import InvalidInput, refuse_nul
from closeloop.domain.facts import ComplaintFacts
from closeloop.domain.search_text import PREFIX_RULE
from closeloop.services.intake.intake_one import take_in
from closeloop.services.reads.complaint_queries import (
    ComplaintFilter,
    complaint_detail,
    complaint_in_scope,
    get_complaint,
    list_complaints,
)
from closeloop.services.reads.search import MAX_QUERY_CHARS, ComplaintSort
from closeloop.services.work import complaints as complaint_svc
from closeloop.services.work import lifecycle

from .auth import MANAGER, WORK_ROLES, Principal, check_department, get_app, require
from .deps import Id, Instant, clock_out, version_of
from .errors import ApiError
from .schemas import (
    INSTANT_EXAMPLES,
    ComplaintDetail,
    ComplaintIn,
    ComplaintOut,
    CustomerIn,
    IntakeOut,
    Page,
    TaskOut,
    TimelineOut,
)
from .schemas_transitions import ComplaintTransition, Merge, Reopen, Resolve

router = APIRouter(tags=["complaints"])

@router.post("/complaints", status_code=201, response_model=IntakeOut,
             responses={200: {"model": IntakeOut, "description": "already taken in: the same complaint"}})
def intake(body: ComplaintIn, response: Response, who: Principal = Depends(require(MANAGER)),
           app: App = Depends(get_app)) -> IntakeOut:
    """Take a complaint in: triage, de-duplication, routing, tasks. 201 when new; the same
    ``(source, external_ref)`` again returns the existing complaint with 200 and changes nothing."""
    now = app.clock.now()
    data = body.model_dump(exclude={"customer"})
    data["tags"] = tuple(data["tags"])
    facts = ComplaintFacts(**data, customer=_profile(body.customer))
    cid, created = take_in(app.sessions, app.config, facts, actor=who.actor, at=now)
    response.status_code = 201 if created else 200
    return IntakeOut(created=created, complaint=ComplaintOut.model_validate(get_complaint(app.sessions, cid)))


def _profile(body: CustomerIn | None) -> CustomerProfile | None:
    if body is None:
        return None
    return CustomerProfile(body.display_name, body.language, body.time_zone,
                           tuple(ContactPoint(ContactKind(c.kind), c.value, c.consent, c.verified)
                                 for c in body.contacts))


def _bound(what: str, side: str):
    """An optional date filter's ``Query``: its OpenAPI description says which complaints it keeps and the
    format it takes (ISO 8601 date-time with a UTC offset, with examples)."""
    return Query(None, examples=["2026-12-01T00:00:00Z"],
                 description=f"only complaints {what} {side} this instant: an ISO 8601 date-time with a UTC offset, "
                             f"e.g. {INSTANT_EXAMPLES} (a plain date or a time without an offset is refused with 422)")


def list_filter(status: list[ComplaintStatus] | None = Query(None, description="one or more statuses"),
                severity: list[Literal["P1", "P2", "P3", "P4"]] | None = Query(None),
                department: str | None = Query(None, max_length=64, description="has a task in this department"),
                overdue: bool = Query(False, description="the customer promise's resolve due instant has passed"),
                created_from: Instant | None = _bound("created", "at or after"),
                created_to: Instant | None = _bound("created", "before"),
                received_from: Instant | None = _bound("received", "at or after"),
                received_to: Instant | None = _bound("received", "before"),
                q: str | None = Query(None, min_length=1, max_length=MAX_QUERY_CHARS,
                                      description="search: the id, the external reference, the customer ref, or "
                                                  "words of the facts and the customer's text (all required; "
                                                  f"{PREFIX_RULE}; Chinese by characters)"),
                who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> ComplaintFilter:
    """Dependency: the list's filters (``GET /complaints`` and its export); 403 for a department the
    caller may not see, 422 for an unknown one."""
    refuse_nul("department", department)  # before the department is looked up (q: where every filter is read)
    if department is not None:
        check_department(who, department)
        if department not in app.config.departments:
            raise InvalidInput("department", f"unknown department {department!r}")
    return ComplaintFilter([str(s) for s in status] if status else None, list(severity) if severity else None,
                           department, overdue, created_from, created_to, received_from, received_to, q)


@router.get("/complaints", response_model=Page[ComplaintOut])
def complaints(f: ComplaintFilter = Depends(list_filter),
               sort: ComplaintSort = Query(ComplaintSort.ID, description="order; '-' for descending"),
               limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
               who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> Page[ComplaintOut]:
    """Complaints, filtered and searched, in ``sort`` order (ties by id); members and leads see only
    those their department's tasks touch."""
    scope = None if who.role == MANAGER else who.department
    rows, total = list_complaints(app.sessions, f, now=app.clock.now(), scope=scope, limit=limit, offset=offset,
                                  sort=sort)
    return Page[ComplaintOut](items=[ComplaintOut.model_validate(c) for c in rows], total=total, limit=limit,
                              offset=offset)


def ensure_visible(app: App, who: Principal, complaint_id: int) -> None:
    scope = None if who.role == MANAGER else who.department
    if not complaint_in_scope(app.sessions, complaint_id, scope):
        raise ApiError(403, f"complaint {complaint_id} has no task in department {who.department!r}")


@router.get("/complaints/{complaint_id}", response_model=ComplaintDetail)
def complaint(complaint_id: Id, who: Principal = Depends(require(*WORK_ROLES)),
              app: App = Depends(get_app)) -> ComplaintDetail:
    """One complaint: its tasks, its timeline (complaints merged into it included) and its SLA clocks
    (business hours) as of now."""
    ensure_visible(app, who, complaint_id)
    d = complaint_detail(app.sessions, app.config, complaint_id, now=app.clock.now())
    v = d.view
    return ComplaintDetail(complaint=ComplaintOut.model_validate(v.complaint),
                           tasks=[TaskOut.model_validate(t) for t in v.tasks],
                           clocks=[clock_out(c) for c in d.clocks],
                           timeline=[TimelineOut(at=e.at, kind=e.kind, complaint_id=e.complaint_id, text=e.text,
                                                 actor=e.actor, reason_code=e.reason_code) for e in v.timeline],
                           merged_from=v.merged_from)


@router.post("/complaints/{complaint_id}/transitions", response_model=ComplaintOut,
             responses={409: {"description": "illegal trigger (the current state is named) or stale version"}})
def complaint_transition(complaint_id: Id, body: ComplaintTransition,
                         if_match: str | None = Header(None, max_length=40),
                         who: Principal = Depends(require(MANAGER)), app: App = Depends(get_app)) -> ComplaintOut:
    """Fire a trigger: ``reopen`` (reason, optional department), ``merge`` (into, reason: this complaint
    becomes a duplicate of ``into``), ``resolve`` (reason; a ``root_cause`` code when the complaint has
    none yet) or ``close`` (reason)."""
    kw: dict[str, Any] = dict(config=app.config, actor=who.actor, at=app.clock.now(),
                              expected_version=version_of(body.version, if_match))
    if isinstance(body, Merge):
        complaint_svc.merge(app.sessions, complaint_id, body.into, reason=body.reason, into_version=body.into_version,
                            **kw)
    elif isinstance(body, Reopen):
        lifecycle.reopen(app.sessions, complaint_id, reason=body.reason, department=body.department, **kw)
    elif isinstance(body, Resolve):
        lifecycle.resolve(app.sessions, complaint_id, reason=body.reason, root_cause=body.root_cause,
                          root_cause_detail=body.root_cause_detail, **kw)
    else:
        lifecycle.close(app.sessions, complaint_id, reason=body.reason, **kw)
    return ComplaintOut.model_validate(get_complaint(app.sessions, complaint_id))
