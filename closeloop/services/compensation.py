"""The compensation ledger: what a complaint's customer was given, within a policy of caps.

``[compensation] caps`` sets a cap per category (``"*"`` for any) and severity. An entry
at or below the cap is ``approved`` at once (approver ``policy``); above it, or with no cap
configured, it is ``pending_approval`` until a manager other than the requester approves
(or rejects) it. Amounts are exact decimals with two places in one currency per entry
(default ``[compensation] currency``). :func:`customer_history` lists a customer's earlier
compensation, shown at triage (``complaints show``) so the same case is compensated the same way.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.errors import IllegalTransition, InvalidInput, NotFound
from models.tables import Complaint, Compensation, Transition

from .audit import audit_dict
from .uow import unit_of_work

MAX_AMOUNT = Decimal("1000000000")


def parse_amount(value: str | Decimal | int) -> Decimal:
    """A positive amount with at most two decimal places. Raises ``InvalidInput`` naming ``amount``."""
    if isinstance(value, float):
        raise InvalidInput("amount", "pass a string or Decimal, not a float (rounding)")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput("amount", f"{value!r} is not a number") from None
    if not d.is_finite() or d <= 0:
        raise InvalidInput("amount", "must be a positive amount")
    if d != d.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN):
        raise InvalidInput("amount", "at most two decimal places")
    if d >= MAX_AMOUNT:
        raise InvalidInput("amount", "too large")
    return d.quantize(Decimal("0.01"))


def add(sessions, complaint_id: int, *, config: Config, kind: str, amount: str | Decimal, actor: str,
        at: datetime, currency: str | None = None, note: str = "") -> Compensation:
    """Record compensation on a complaint; ``approved`` within the cap, else ``pending_approval``.

    Raises ``InvalidInput`` (kind, amount, currency, complaint) or ``NotFound``.
    """
    policy = config.model.compensation
    if kind not in policy.kinds:
        raise InvalidInput("kind", f"must be one of {', '.join(policy.kinds)}")
    value = parse_amount(amount)
    cur = (currency or policy.currency).strip().upper()
    if len(cur) != 3 or not cur.isalpha():
        raise InvalidInput("currency", "a three-letter ISO 4217 code, e.g. USD")
    with unit_of_work(sessions) as s:
        c = s.get(Complaint, complaint_id)
        if c is None:
            raise NotFound("complaint", complaint_id)
        if c.status in ("rejected", "merged"):
            raise InvalidInput("complaint", f"complaint {c.id} is {c.status}; compensate the surviving complaint")
        cap = policy.cap(c.category, c.severity) if cur == policy.currency else None
        within = cap is not None and value <= cap
        entry = Compensation(complaint_id=c.id, customer_id=c.customer_id, kind=kind, amount=value, currency=cur,
                             cap=cap, category=c.category, severity=c.severity,
                             status="approved" if within else "pending_approval", note=note or "",
                             requested_by=actor, approver="policy" if within else None, created_at=at,
                             decided_at=at if within else None)
        s.add(entry)
        s.flush()
        s.add(Transition(**audit_dict("complaint", c.id, c.id, c.status, c.status, "compensation", actor, at,
                                      reason=note or None,
                                      data={"compensation": entry.id, "kind": kind, "amount": str(value),
                                            "currency": cur, "cap": str(cap) if cap is not None else None,
                                            "status": entry.status})))
        return entry


def decide(sessions, compensation_id: int, *, approve: bool, actor: str, at: datetime,
           note: str = "") -> Compensation:
    """A manager approves or rejects a pending entry. The requester cannot approve their own entry.

    Raises ``NotFound``, ``IllegalTransition`` (not pending), ``InvalidInput`` naming ``approver``.
    """
    with unit_of_work(sessions) as s:
        entry = s.get(Compensation, compensation_id)
        if entry is None:
            raise NotFound("compensation", compensation_id)
        trigger = "approve" if approve else "reject"
        if entry.status != "pending_approval":
            raise IllegalTransition("compensation", entry.status, trigger, [])
        if actor == entry.requested_by:
            raise InvalidInput("approver", "the requester cannot approve or reject their own compensation")
        entry.status = "approved" if approve else "rejected"
        entry.approver = actor
        entry.decided_at = at
        c = s.get_one(Complaint, entry.complaint_id)
        s.add(Transition(**audit_dict("complaint", c.id, c.id, c.status, c.status, f"compensation_{trigger}", actor,
                                      at, reason=note or None, data={"compensation": entry.id})))
        return entry


def for_complaint(session: Session, complaint_id: int) -> list[Compensation]:
    return list(session.scalars(select(Compensation).where(Compensation.complaint_id == complaint_id)
                                .order_by(Compensation.id)))


def customer_history(session: Session, complaint_id: int) -> list[Compensation]:
    """Compensation on the same customer's *other* complaints, oldest first (empty without a customer)."""
    c = session.get(Complaint, complaint_id)
    if c is None:
        raise NotFound("complaint", complaint_id)
    if c.customer_id is None:
        return []
    return list(session.scalars(select(Compensation).where(Compensation.customer_id == c.customer_id,
                                                           Compensation.complaint_id != c.id)
                                .order_by(Compensation.created_at, Compensation.id)))


def list_entries(sessions, *, status: str | None = None, complaint_id: int | None = None,
                 limit: int = 100) -> list[Compensation]:
    if status is not None and status not in ("approved", "pending_approval", "rejected"):
        raise InvalidInput("status", "must be approved, pending_approval or rejected")
    with unit_of_work(sessions) as s:
        q = select(Compensation).order_by(Compensation.id.desc()).limit(limit)
        if status:
            q = q.where(Compensation.status == status)
        if complaint_id is not None:
            q = q.where(Compensation.complaint_id == complaint_id)
        return list(s.scalars(q))
