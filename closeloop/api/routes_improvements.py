"""``/improvements``: improvement records (CAPA) of issue 5: list, detail, link complaints, transitions.

Access: a manager reads and changes every record; a lead reads, links and fires triggers on the
records its department owns; a member reads its department's records; an admin none (403).
Transitions are the record's lifecycle triggers (``approve`` needs a root cause, ``reject`` a
reason, ``implement`` finished actions; see :mod:`closeloop.services.capa.improvement`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, Field, StrictInt

from closeloop.bootstrap import App
from closeloop.domain.improvement import ImprovementStatus, ImprovementTrigger
from closeloop.domain.limits import MAX_REASON_CHARS
from closeloop.services.capa import improvement as svc
from closeloop.services.reads.complaint_queries import complaint_in_scope

from .auth import LEAD, MANAGER, WORK_ROLES, Principal, check_department, get_app, require
from .deps import MAX_ID, Id, version_of
from .errors import ApiError
from .schemas import VERSION_RULE, In, Out, TaskOut, UtcDatetime, VersionNumber

router = APIRouter(tags=["improvements"])


class ImprovementOut(Out):
    id: int
    title: str
    problem: str
    root_cause: str | None
    root_cause_detail: str | None
    match: dict
    owner_department: str
    status: str
    created_by: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    implemented_at: UtcDatetime | None
    check_due_at: UtcDatetime | None = Field(description="when the effectiveness check is due (UTC)")
    verified_at: UtcDatetime | None
    version: int


class ImprovementItem(BaseModel):
    record: ImprovementOut
    complaints: int = Field(description="number of linked complaints")


class LinkOut(BaseModel):
    complaint_id: int
    complaint_status: str
    source: str = Field(description="manual or recurrence")
    linked_by: str
    linked_at: UtcDatetime


class CheckOut(Out):
    attempt: int
    at: UtcDatetime
    window_days: float
    before_count: int
    after_count: int
    rate_before: float = Field(description="matching complaints per day before implementation")
    rate_after: float
    reduction: float | None
    decision: str


class HistoryOut(Out):
    at: UtcDatetime
    from_state: str | None
    to_state: str
    trigger: str
    actor: str
    reason: str | None


class ImprovementDetail(BaseModel):
    record: ImprovementOut
    complaints: list[LinkOut]
    actions: list[TaskOut]
    checks: list[CheckOut]
    history: list[HistoryOut]


class LinkIn(In):
    complaint_ids: list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=500)


class LinkResult(BaseModel):
    linked: int = Field(description="links that are new (already linked complaints are skipped)")


class ImprovementTransition(In):
    trigger: ImprovementTrigger
    version: VersionNumber | None = Field(None, description=VERSION_RULE)
    reason: str | None = Field(None, max_length=MAX_REASON_CHARS)
    root_cause: str | None = Field(None, max_length=100)
    root_cause_detail: str | None = Field(None, max_length=MAX_REASON_CHARS)


def _scope(who: Principal, record, *, write: bool = False) -> None:
    check_department(who, record.owner_department)
    if write and who.role not in (MANAGER, LEAD):
        raise ApiError(403, f"a {who.role} may not change improvement records")


@router.get("/improvements", response_model=list[ImprovementItem])
def improvements(status: ImprovementStatus | None = None, limit: int = Query(100, ge=1, le=500),
                 who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> list[ImprovementItem]:
    """Records, newest first, with their number of linked complaints (members and leads: their department's)."""
    rows = svc.list_records(app.sessions, status=str(status) if status else None, limit=limit,
                            department=None if who.role == MANAGER else who.department)
    return [ImprovementItem(record=ImprovementOut.model_validate(r), complaints=n) for r, n in rows]


@router.get("/improvements/{improvement_id}", response_model=ImprovementDetail)
def improvement(improvement_id: Id, who: Principal = Depends(require(*WORK_ROLES)),
                app: App = Depends(get_app)) -> ImprovementDetail:
    """A record with its linked complaints, actions (department tasks), effectiveness checks and history."""
    v = svc.show(app.sessions, improvement_id)
    _scope(who, v.record)
    return ImprovementDetail(
        record=ImprovementOut.model_validate(v.record),
        complaints=[LinkOut(complaint_id=c.id, complaint_status=c.status, source=lk.source, linked_by=lk.linked_by,
                            linked_at=lk.linked_at) for lk, c in v.links],
        actions=[TaskOut.model_validate(t) for t in v.actions],
        checks=[CheckOut.model_validate(c) for c in v.checks],
        history=[HistoryOut.model_validate(h) for h in v.history])


@router.post("/improvements/{improvement_id}/complaints", response_model=LinkResult)
def link_complaints(improvement_id: Id, body: LinkIn, who: Principal = Depends(require(MANAGER, LEAD)),
                    app: App = Depends(get_app)) -> LinkResult:
    """Link complaints to the record (source ``manual``); already linked ones are skipped. A lead links
    only complaints its department's tasks touch (403 naming the first other one; nothing is linked)."""
    _scope(who, svc.show(app.sessions, improvement_id).record, write=True)
    if who.role != MANAGER:
        for cid in body.complaint_ids:
            if not complaint_in_scope(app.sessions, cid, who.department):
                raise ApiError(403, f"complaint {cid} has no task in department {who.department!r}")
    return LinkResult(linked=svc.link(app.sessions, improvement_id, body.complaint_ids, actor=who.actor,
                                      at=app.clock.now()))


@router.post("/improvements/{improvement_id}/transitions", response_model=ImprovementOut,
             responses={409: {"description": "illegal trigger (the current state is named) or stale version"}})
def improvement_transition(improvement_id: Id, body: ImprovementTransition,
                           if_match: str | None = Header(None, max_length=40),
                           who: Principal = Depends(require(MANAGER, LEAD)),
                           app: App = Depends(get_app)) -> ImprovementOut:
    """Fire a lifecycle trigger: approve (root_cause), start, implement, begin_verification,
    confirm_effective, confirm_ineffective (reason), rework, reject (reason)."""
    _scope(who, svc.show(app.sessions, improvement_id).record, write=True)
    rec = svc.fire(app.sessions, improvement_id, str(body.trigger), config=app.config, actor=who.actor,
                   at=app.clock.now(), reason=body.reason, root_cause=body.root_cause,
                   root_cause_detail=body.root_cause_detail, expected_version=version_of(body.version, if_match))
    return ImprovementOut.model_validate(rec)
