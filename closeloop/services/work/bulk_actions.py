"""Bulk actions on complaints (issue 14 §5): after an incident, transfer, reprioritize, link to one
improvement record, resolve or close many complaints at once.

Each item is its own transaction through the same service as the single action (its own audit rows:
transitions, priority changes, a ``link`` row), carrying the complaint's version as read: a stale version, an
illegal trigger or bad input fails that item only (rolled back) and the others go on. The request's own
parameters are checked first (``InvalidInput`` naming the field; nothing is done).

Actions: ``transfer`` (``to``; the complaint's active, unblocked tasks, or only those of ``from_department``,
go to ``to``), ``reprioritize`` (``severity``), ``link`` (``improvement_id``), ``resolve`` (``root_cause`` when
the complaint has none), ``close`` (a resolved complaint); every action needs a ``reason``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from closeloop.config import Config
from closeloop.domain.errors import DomainError, InvalidInput, NotFound
from closeloop.domain.improvement import ImprovementStatus
from closeloop.domain.task import ACTIVE_STATES, TaskStatus
from closeloop.domain.triage import SEVERITIES
from closeloop.services.capa import improvement as improvement_svc
from closeloop.services.transitions import check_version, record_event
from closeloop.services.uow import unit_of_work
from closeloop.services.work import lifecycle
from closeloop.services.work.tasks import transfer_in_session
from models.tables import Complaint, Improvement, Task

ACTIONS = ("transfer", "reprioritize", "link", "resolve", "close")
MAX_ITEMS = 500


@dataclass(frozen=True)
class BulkRequest:
    """What to do to every item (the fields the ``action`` needs; see the module docstring)."""

    action: str
    reason: str
    to: str | None = None
    from_department: str | None = None
    severity: str | None = None
    improvement_id: int | None = None
    root_cause: str | None = None


@dataclass(frozen=True)
class ItemOutcome:
    """One item's result: the complaint's new ``version``, or the ``error`` that failed (only) it."""

    complaint_id: int
    version: int | None
    error: DomainError | None


def check_request(sessions, config: Config, req: BulkRequest, items: list[tuple[int, int | None]]) -> None:
    """The request's own parameters; ``InvalidInput`` naming the field, ``NotFound`` for the record."""
    if req.action not in ACTIONS:
        raise InvalidInput("action", f"must be one of {', '.join(ACTIONS)}")
    if not req.reason or not req.reason.strip():
        raise InvalidInput("reason", "a bulk action needs a reason")
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidInput("items", f"between 1 and {MAX_ITEMS} complaints")
    twice = next((cid for cid, n in Counter(cid for cid, _ in items).items() if n > 1), None)
    if twice is not None:
        raise InvalidInput("items", f"complaint {twice} is listed twice")
    need = {"transfer": "to", "reprioritize": "severity", "link": "improvement_id"}.get(req.action)
    if need and getattr(req, need) is None:
        raise InvalidInput(need, f"required for {req.action}")
    if req.action == "transfer":
        for field in ("to", "from_department"):
            dep = getattr(req, field)
            if dep is not None and dep not in config.departments:
                raise InvalidInput(field, f"unknown department {dep!r}")
    if req.action == "reprioritize" and req.severity not in SEVERITIES:
        raise InvalidInput("severity", f"must be one of {', '.join(SEVERITIES)}")
    if req.action == "link":
        with sessions() as s:
            rec = s.get(Improvement, req.improvement_id)
            if rec is None:
                raise NotFound("improvement", req.improvement_id)
            if rec.status == ImprovementStatus.REJECTED:
                raise InvalidInput("improvement_id", f"improvement {rec.id} is rejected; link to an open record")


def _complaint(s, cid: int, version: int | None) -> Complaint:
    c = s.get(Complaint, cid)
    if c is None:
        raise NotFound("complaint", cid)
    check_version(c, version, "complaint")
    return c


def _transfer(sessions, config, cid, version, req, actor, at) -> Complaint:
    with unit_of_work(sessions) as s:
        c = _complaint(s, cid, version)
        q = select(Task).where(Task.complaint_id == cid, Task.status.in_(ACTIVE_STATES),
                               Task.status != TaskStatus.BLOCKED, Task.department != req.to)
        if req.from_department is not None:
            q = q.where(Task.department == req.from_department)
        tasks = s.scalars(q.order_by(Task.id)).all()
        if not tasks:
            raise InvalidInput("to", f"complaint {cid} has no active task to move to {req.to!r}")
        for t in tasks:
            transfer_in_session(s, t, config=config, to=req.to, reason=req.reason, actor=actor, at=at)
        s.flush()
        return c


def _link(sessions, config, cid, version, req, actor, at) -> Complaint:
    with unit_of_work(sessions) as s:
        c = _complaint(s, cid, version)
        rec = improvement_svc.get(s, req.improvement_id)
        new = improvement_svc.link_many(s, rec, [cid], actor=actor, at=at, source="manual")
        record_event(s, c, "link", at=at, actor=actor, reason=req.reason,
                     data={"improvement": rec.id, "new": bool(new)})
        return c


def _reprioritize(sessions, config, cid, version, req, actor, at) -> Complaint:
    return lifecycle.reprioritize(sessions, cid, req.severity, config=config, reason=req.reason, actor=actor, at=at,
                                  expected_version=version)


def _resolve(sessions, config, cid, version, req, actor, at) -> Complaint:
    return lifecycle.resolve(sessions, cid, config=config, reason=req.reason, actor=actor, at=at,
                             expected_version=version, root_cause=req.root_cause)


def _close(sessions, config, cid, version, req, actor, at) -> Complaint:
    return lifecycle.close(sessions, cid, config=config, reason=req.reason, actor=actor, at=at,
                           expected_version=version)


_STEP: dict[str, Callable[..., Complaint]] = {"transfer": _transfer, "link": _link, "reprioritize": _reprioritize,
                                              "resolve": _resolve, "close": _close}


def run_bulk(sessions, config: Config, req: BulkRequest, items: list[tuple[int, int | None]], *, actor: str,
             at: datetime) -> list[ItemOutcome]:
    """Apply ``req`` to each ``(complaint id, version read)`` in order, one transaction each; returns one
    outcome per item. Raises (nothing done) only for the request's own parameters (:func:`check_request`)."""
    check_request(sessions, config, req, items)
    out = []
    for cid, version in items:
        try:
            c = _STEP[req.action](sessions, config, cid, version, req, actor, at)
            out.append(ItemOutcome(cid, c.version, None))
        except DomainError as exc:
            out.append(ItemOutcome(cid, None, exc))
    return out
