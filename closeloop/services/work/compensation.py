"""The compensation ledger: what a complaint's customer was given, within a policy of caps.

``[compensation] caps`` sets a cap per category (``"*"`` for any) and severity, per complaint:
an entry is ``approved`` at once (approver ``policy``) only while the complaint's approved and
pending entries in that currency, this one included, stay at or below the cap (two 80.00
refunds against a cap of 100: the second waits). Otherwise, or with no cap configured, it is
``pending_approval`` and the operations manager is notified (a notification, packed into the
outbox by the sweep, in their working hours) until someone whose role may approve
(``APPROVER_ROLES``: manager, admin) and who is not the requester approves or rejects it. Amounts are exact
decimals with two places in one currency per entry
(default ``[compensation] currency``). :func:`customer_history` lists a customer's earlier
compensation, shown at triage (``complaints show``) so the same case is compensated the same way.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.compensation import COMPENSATION_MACHINE, CompensationStatus, CompensationTrigger
from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.errors import InvalidInput, NotFound, NotPermitted
from closeloop.domain.notices import NoticeKind, Role
from closeloop.services.engine.notify import insert_notifications, make_item, resolve_role
from closeloop.services.transitions import apply, record_event
from closeloop.services.uow import unit_of_work
from models.db import begin_write
from models.tables import Compensation, Complaint

MAX_AMOUNT = Decimal("1000000000")
#: roles that may approve or reject compensation above the cap (issue 14)
APPROVER_ROLES = ("manager", "admin")
#: Characters a note (an entry's, a decision's) may have: the API, the dashboard and the CLI take this limit.
NOTE_MAX_CHARS = 5000


def person_key(token_id: int, user_id: int | None) -> str:
    """The stable identity of the holder of a token: ``user:<id>`` when the token belongs to a user (every token
    of one person is that person), else ``token:<id>``. Never a display name: names are free text, neither
    unique nor checked (two tokens both named "manager" are two people; ``--actor`` is any text)."""
    return f"user:{user_id}" if user_id is not None else f"token:{token_id}"


#: Money as written by people: digits, optionally a point and decimals (``25``, ``25.00``); no sign, exponent
#: (``1e3``: Decimal reads it as 1000), NaN or infinity.
PLAIN_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_amount(value: str | Decimal | int) -> Decimal:
    """A positive amount with at most two decimal places, written as a plain decimal (:data:`PLAIN_AMOUNT`; a
    Decimal or int as ``str`` writes it). Raises ``InvalidInput`` naming ``amount``."""
    if isinstance(value, float):
        raise InvalidInput("amount", "pass a string or Decimal, not a float (rounding)")
    text = str(value).strip()
    if not PLAIN_AMOUNT.fullmatch(text):
        raise InvalidInput("amount", f"{text[:40]!r} is not a plain decimal amount such as 25.00 (digits, "
                                     "optionally a point and up to two decimals; no exponent, sign, NaN or infinity)")
    d = Decimal(text)  # cannot fail: PLAIN_AMOUNT admits ASCII digits and one point only
    if d <= 0:
        raise InvalidInput("amount", "must be a positive amount")
    if d != d.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN):
        raise InvalidInput("amount", "at most two decimal places")
    if d >= MAX_AMOUNT:
        raise InvalidInput("amount", "too large")
    return d.quantize(Decimal("0.01"))


def add(sessions, complaint_id: int, *, config: Config, kind: str, amount: str | Decimal, actor: str,
        at: datetime, currency: str | None = None, note: str = "", requester: str | None = None) -> Compensation:
    """Record compensation on a complaint; ``approved`` within the cap, else ``pending_approval``.
    ``requester``: the caller's :func:`person_key` (None: unidentified, allowed within the cap only).

    Raises ``InvalidInput`` (kind, amount, currency, complaint, requester, note: over ``NOTE_MAX_CHARS``)
    or ``NotFound``.
    """
    check_note(note, required=False)
    policy = config.model.compensation
    if kind not in policy.kinds:
        raise InvalidInput("kind", f"must be one of {', '.join(policy.kinds)}")
    value = parse_amount(amount)
    cur = (currency or policy.currency).strip().upper()
    if len(cur) != 3 or not cur.isalpha():
        raise InvalidInput("currency", "a three-letter ISO 4217 code, e.g. USD")
    with unit_of_work(sessions) as s:
        # entries of one complaint take turns, so two at once cannot both fit the cap: the write transaction
        # opens before the reads that decide (SQLite: BEGIN IMMEDIATE), the complaint's row lock (PostgreSQL)
        begin_write(s.connection())
        c = s.scalar(select(Complaint).where(Complaint.id == complaint_id).with_for_update())
        if c is None:
            raise NotFound("complaint", complaint_id)
        if c.status in (ComplaintStatus.REJECTED, ComplaintStatus.MERGED):
            raise InvalidInput("complaint", f"complaint {c.id} is {c.status}; compensate the surviving complaint")
        cap = policy.cap(c.category, c.severity) if cur == policy.currency else None
        granted = committed(s, c.id, cur)
        within = cap is not None and granted + value <= cap
        if not within and requester is None:
            raise InvalidInput("requester", "an entry above the cap needs an identified requester (an API token; "
                                            "the CLI's --token), so that someone else approves it")
        entry = Compensation(complaint_id=c.id, customer_id=c.customer_id, kind=kind, amount=value, currency=cur,
                             cap=cap, category=c.category, severity=c.severity,
                             status=CompensationStatus.APPROVED if within else CompensationStatus.PENDING,
                             note=note or "", requested_by=actor, requester_key=requester,
                             approver="policy" if within else None, created_at=at, decided_at=at if within else None)
        s.add(entry)
        s.flush()
        record_event(s, c, "compensation", at=at, actor=actor, reason=note or None, touch=False,
                     data={"compensation": entry.id, "kind": kind, "amount": str(value), "currency": cur,
                           "cap": str(cap) if cap is not None else None, "committed_before": str(granted),
                           "status": str(entry.status), "requester": requester})
        if not within:
            _tell_approver(s, config, entry, granted, at)
        return entry


def committed(session: Session, complaint_id: int, currency: str) -> Decimal:
    """The complaint's approved and pending compensation in ``currency`` (what a new entry adds to)."""
    total = session.scalar(select(func.coalesce(func.sum(Compensation.amount), 0)).where(
        Compensation.complaint_id == complaint_id, Compensation.currency == currency,
        Compensation.status.in_([CompensationStatus.APPROVED, CompensationStatus.PENDING])))
    return Decimal(total or 0).quantize(Decimal("0.01"))


def _tell_approver(session: Session, config: Config, entry: Compensation, granted: Decimal, at: datetime) -> None:
    """Notify the operations manager that ``entry`` waits (key ``compensation-pending:{id}``: once)."""
    params = {"entry": entry.id, "complaint": entry.complaint_id, "kind": entry.kind, "amount": str(entry.amount),
              "currency": entry.currency, "cap": "-" if entry.cap is None else f"{entry.cap} {entry.currency}",
              "granted": str(granted), "requester": entry.requested_by}
    insert_notifications(session, [make_item(
        config, key=f"compensation-pending:{entry.id}", kind=NoticeKind.COMPENSATION_PENDING, level=3,
        who=resolve_role(config, Role.OPERATIONS_MANAGER, None), complaint_id=entry.complaint_id, task=None,
        department=None, now=at, params=params)])


def decide(sessions, compensation_id: int, *, approve: bool, actor: str, by: str, role: str, at: datetime,
           note: str = "") -> Compensation:
    """Approve or reject a pending entry. ``role`` and ``by`` (its :func:`person_key`) are the deciding caller's
    authenticated token's (the API's, the dashboard's, the CLI's ``--token``), never a claim: only
    ``APPROVER_ROLES`` may decide, and never the requester (the same identity, whatever the channel or name).
    An entry without a recorded requester (before migration 0016) may be rejected, not approved.

    ``note`` says why: required (not blank) on a rejection, at most ``NOTE_MAX_CHARS`` characters.

    Raises ``NotPermitted`` (role), ``NotFound``, ``IllegalTransition`` (not pending),
    ``InvalidInput`` naming ``note`` (blank on a rejection, or too long), ``approver`` (the requester) or
    ``requester`` (approving an unidentified one).
    """
    if role not in APPROVER_ROLES:
        raise NotPermitted(role, f"may not approve or reject compensation; allowed: {', '.join(APPROVER_ROLES)}")
    check_note(note, required=not approve)
    with unit_of_work(sessions) as s:
        # decided once: a second decision waits for the first (SQLite: BEGIN IMMEDIATE; PostgreSQL: row lock)
        # and then finds the entry no longer pending
        begin_write(s.connection())
        entry = s.get(Compensation, compensation_id, with_for_update=True)
        if entry is None:
            raise NotFound("compensation", compensation_id)
        trigger = CompensationTrigger.APPROVE if approve else CompensationTrigger.REJECT
        COMPENSATION_MACHINE.next_state(CompensationStatus(entry.status), trigger)  # decided once: IllegalTransition
        _check_approver(entry, by, approve)
        entry.approver = actor
        apply(s, entry, trigger, at=at, actor=actor, reason=note or None,  # decided_at stamped by the gate
              data={"compensation": entry.id, "amount": str(entry.amount), "currency": entry.currency})
        return entry


def check_note(note: str, *, required: bool) -> None:
    """Raise ``InvalidInput`` naming ``note`` when it is blank but ``required`` (a rejection says why) or longer
    than ``NOTE_MAX_CHARS`` characters."""
    if required and not note.strip():
        raise InvalidInput("note", "is required on a rejection: say why (not blank)")
    if len(note) > NOTE_MAX_CHARS:
        raise InvalidInput("note", f"longer than {NOTE_MAX_CHARS} characters ({len(note):,} given)")


def _check_approver(entry: Compensation, by: str, approve: bool) -> None:
    if entry.requester_key == by:
        raise InvalidInput("approver", "the requester cannot approve or reject their own compensation")
    if entry.requester_key is None and approve:
        raise InvalidInput("requester", f"compensation {entry.id} has no identified requester (recorded before "
                                       "requesters were identified), so nobody can be shown not to be them: "
                                       "reject it and record it again with a token")


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
    if status is not None and status not in set(CompensationStatus):
        raise InvalidInput("status", "must be approved, pending_approval or rejected")
    with unit_of_work(sessions) as s:
        q = select(Compensation).order_by(Compensation.id.desc()).limit(limit)
        if status:
            q = q.where(Compensation.status == status)
        if complaint_id is not None:
            q = q.where(Compensation.complaint_id == complaint_id)
        return list(s.scalars(q))
