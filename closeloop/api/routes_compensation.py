"""``/compensation``: the compensation ledger over the API (issue 14), with the CLI's rules.

- ``POST /complaints/{id}/compensation``: a member, lead or manager who may see the complaint
  records an entry; approved by policy while the complaint's approved and pending entries stay
  within the cap, otherwise pending (the operations manager is notified).
- ``POST /compensation/{id}/approve`` (optional ``note``) | ``/reject`` (a ``note`` saying why, required; or
  ``reason``): only the roles in
  ``services.work.compensation.APPROVER_ROLES`` (manager, admin; 403 for the others), never the
  requester (the same user, or the same token when it belongs to none; 422 naming ``approver``); an
  entry no longer pending is 409.
- ``GET /compensation``: the ledger, newest first (manager and admin), e.g. ``?status=pending_approval``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import AliasChoices, Field

from closeloop.bootstrap import App
from closeloop.services.work import compensation as svc
from closeloop.services.work.compensation import APPROVER_ROLES, CompensationStatus

from .auth import WORK_ROLES, Principal, get_app, require
from .deps import MAX_ID, Id
from .routes_complaints import ensure_visible
from .schemas import In, Out, UtcDatetime

router = APIRouter(tags=["compensation"])


class CompensationIn(In):
    kind: str = Field(min_length=1, max_length=40, description="one of [compensation] kinds, e.g. refund")
    amount: str = Field(pattern=r"^\s*[0-9]{1,12}(\.[0-9]{1,2})?\s*$", description="a decimal string, e.g. '25.00'")
    currency: str | None = Field(None, min_length=3, max_length=3, description="ISO 4217; default [compensation]")
    note: str = Field("", max_length=svc.NOTE_MAX_CHARS)


class DecisionIn(In):
    note: str = Field("", max_length=svc.NOTE_MAX_CHARS, description="why (optional on an approval)")


class RejectIn(In):
    note: str = Field(min_length=1, max_length=svc.NOTE_MAX_CHARS, pattern=r"\S",
                      validation_alias=AliasChoices("note", "reason"),
                      description="why it is rejected (required, not blank); `reason` is accepted as another name "
                                  "for it (one of the two)")


class CompensationOut(Out):
    id: int
    complaint_id: int
    kind: str
    amount: str = Field(description="exact decimal string")
    currency: str
    cap: str | None = Field(description="the per-complaint cap in force when recorded (None: no cap)")
    status: CompensationStatus
    note: str
    requested_by: str
    approver: str | None
    created_at: UtcDatetime
    decided_at: UtcDatetime | None

    @classmethod
    def of(cls, e) -> CompensationOut:
        return cls(id=e.id, complaint_id=e.complaint_id, kind=e.kind, amount=str(e.amount), currency=e.currency,
                   cap=None if e.cap is None else str(e.cap), status=e.status, note=e.note or "",
                   requested_by=e.requested_by, approver=e.approver, created_at=e.created_at,
                   decided_at=e.decided_at)


@router.post("/complaints/{complaint_id}/compensation", status_code=201, response_model=CompensationOut)
def add(complaint_id: Id, body: CompensationIn, who: Principal = Depends(require(*WORK_ROLES)),
        app: App = Depends(get_app)) -> CompensationOut:
    """Record compensation: ``approved`` (by ``policy``) within the per-complaint cap, else ``pending_approval``."""
    ensure_visible(app, who, complaint_id)
    e = svc.add(app.sessions, complaint_id, config=app.config, kind=body.kind, amount=body.amount.strip(),
                currency=body.currency, note=body.note, actor=who.actor, at=app.clock.now(),
                requester=svc.person_key(who.token_id, who.user_id))
    return CompensationOut.of(e)


def _decide(entry_id: int, approve: bool, body: DecisionIn | RejectIn, who: Principal, app: App) -> CompensationOut:
    return CompensationOut.of(svc.decide(app.sessions, entry_id, approve=approve, actor=who.actor, role=who.role,
                                         by=svc.person_key(who.token_id, who.user_id), at=app.clock.now(),
                                         note=body.note))


@router.post("/compensation/{entry_id}/approve", response_model=CompensationOut,
             responses={409: {"description": "the entry is no longer pending"}})
def approve(entry_id: Id, body: DecisionIn, who: Principal = Depends(require(*APPROVER_ROLES)),
            app: App = Depends(get_app)) -> CompensationOut:
    """Approve a pending entry (not one you requested)."""
    return _decide(entry_id, True, body, who, app)


@router.post("/compensation/{entry_id}/reject", response_model=CompensationOut,
             responses={409: {"description": "the entry is no longer pending"}})
def reject(entry_id: Id, body: RejectIn, who: Principal = Depends(require(*APPROVER_ROLES)),
           app: App = Depends(get_app)) -> CompensationOut:
    """Reject a pending entry (not one you requested) with a ``note`` saying why (or ``reason``): 422 naming
    ``note`` without one."""
    return _decide(entry_id, False, body, who, app)


@router.get("/compensation", response_model=list[CompensationOut])
def ledger(status: CompensationStatus | None = None, complaint_id: int | None = Query(None, ge=1, le=MAX_ID),
           limit: int = Query(100, ge=1, le=1000), who: Principal = Depends(require(*APPROVER_ROLES)),
           app: App = Depends(get_app)) -> list[CompensationOut]:
    """Ledger entries, newest first."""
    rows = svc.list_entries(app.sessions, status=str(status) if status else None, complaint_id=complaint_id,
                            limit=limit)
    return [CompensationOut.of(e) for e in rows]
