"""Bulk actions on complaints (issue 14 §5): after an incident, transfer, reprioritize, link to one
improvement record, resolve or close many complaints at once.

Each item is its own transaction through the same service as the single action (its own audit rows:
transitions, priority changes, a ``link`` row), carrying the complaint's version as read: a stale version, an
illegal trigger or bad input fails that item only (rolled back) and the others go on. So does an error the
database raises for one item (``SQLAlchemyError``, logged): that item is reported failed, the items before it stay
done and the rest are still tried, so the results always say what was done. The request's own parameters are
checked first (``InvalidInput`` naming the field; nothing is done): the action, the reason, ids and versions
within ``1..MAX_ID``, no complaint twice, no NUL character in a text, the department, severity, improvement record
and root cause (with its detail rule, as the single resolve checks it).

``link`` is idempotent: an item already linked to the record is reported ok and unchanged (``changed`` False),
with no audit row and its version as it was.

Actions: ``transfer`` (``to``; the complaint's active, unblocked tasks, or only those of ``from_department``,
go to ``to``), ``reprioritize`` (``severity``), ``link`` (``improvement_id``), ``resolve`` (``root_cause`` when
the complaint has none), ``close`` (a resolved complaint); every action needs a ``reason``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from closeloop.config import Config
from closeloop.domain.errors import DomainError, InvalidInput, NotFound, refuse_nul
from closeloop.domain.improvement import ImprovementStatus
from closeloop.domain.task import ACTIVE_STATES, TaskStatus
from closeloop.domain.triage import SEVERITIES
from closeloop.services.capa import improvement as improvement_svc
from closeloop.services.capa import root_cause as rc
from closeloop.services.transitions import check_version, record_event
from closeloop.services.uow import unit_of_work
from closeloop.services.work import lifecycle
from closeloop.services.work.tasks import transfer_in_session
from models.tables import Complaint, Improvement, Task
from models.types import MAX_ID

ACTIONS = ("transfer", "reprioritize", "link", "resolve", "close")
MAX_ITEMS = 500
log = logging.getLogger(__name__)


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
    root_cause_detail: str | None = None


@dataclass(frozen=True)
class ItemOutcome:
    """One item's result: the complaint's new ``version``, or the ``error`` that failed (only) it; ``changed``
    False for an item that needed nothing (``link``: already linked)."""

    complaint_id: int
    version: int | None
    error: DomainError | None
    changed: bool = True


def check_request(sessions, config: Config, req: BulkRequest, items: list[tuple[int, int | None]]) -> None:
    """The request's own parameters; ``InvalidInput`` naming the field, ``NotFound`` for the record."""
    if req.action not in ACTIONS:
        raise InvalidInput("action", f"must be one of {', '.join(ACTIONS)}")
    for field in ("reason", "to", "from_department", "severity", "root_cause", "root_cause_detail"):
        refuse_nul(field, getattr(req, field))
    if not req.reason or not req.reason.strip():
        raise InvalidInput("reason", "a bulk action needs a reason")
    _check_items(items)
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
    if req.action == "resolve" and req.root_cause is not None:
        rc.validate(config, req.root_cause, req.root_cause_detail)  # the single resolve's check
    if req.action == "link":
        _check_record(sessions, req.improvement_id)


def _check_items(items: list[tuple[int, int | None]]) -> None:
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidInput("items", f"between 1 and {MAX_ITEMS} complaints")
    for cid, version in items:
        if not 1 <= cid <= MAX_ID:
            raise InvalidInput("items", f"complaint id {cid} is not between 1 and {MAX_ID}")
        if version is not None and not 1 <= version <= MAX_ID:
            raise InvalidInput("items", f"version {version} of complaint {cid} is not between 1 and {MAX_ID}")
    twice = next((cid for cid, n in Counter(cid for cid, _ in items).items() if n > 1), None)
    if twice is not None:
        raise InvalidInput("items", f"complaint {twice} is listed twice")


def _check_record(sessions, improvement_id: int | None) -> None:
    if improvement_id is None or not 1 <= improvement_id <= MAX_ID:
        raise InvalidInput("improvement_id", f"not between 1 and {MAX_ID}")
    with sessions() as s:
        rec = s.get(Improvement, improvement_id)
        if rec is None:
            raise NotFound("improvement", improvement_id)
        if rec.status == ImprovementStatus.REJECTED:
            raise InvalidInput("improvement_id", f"improvement {rec.id} is rejected; link to an open record")


def _complaint(s, cid: int, version: int | None) -> Complaint:
    c = s.get(Complaint, cid)
    if c is None:
        raise NotFound("complaint", cid)
    check_version(c, version, "complaint")
    return c


def _transfer(sessions, config, cid, version, req, actor, at) -> tuple[Complaint, bool]:
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
        return c, True


def _link(sessions, config, cid, version, req, actor, at) -> tuple[Complaint, bool]:
    """Link one complaint; already linked: nothing recorded, the version as it was (``changed`` False)."""
    with unit_of_work(sessions) as s:
        c = _complaint(s, cid, version)
        rec = improvement_svc.get(s, req.improvement_id)
        if not improvement_svc.link_many(s, rec, [cid], actor=actor, at=at, source="manual"):
            return c, False
        record_event(s, c, "link", at=at, actor=actor, reason=req.reason, data={"improvement": rec.id, "new": True})
        return c, True


def _reprioritize(sessions, config, cid, version, req, actor, at) -> tuple[Complaint, bool]:
    return lifecycle.reprioritize(sessions, cid, req.severity, config=config, reason=req.reason, actor=actor, at=at,
                                  expected_version=version), True


def _resolve(sessions, config, cid, version, req, actor, at) -> tuple[Complaint, bool]:
    return lifecycle.resolve(sessions, cid, config=config, reason=req.reason, actor=actor, at=at,
                             expected_version=version, root_cause=req.root_cause,
                             root_cause_detail=req.root_cause_detail), True


def _close(sessions, config, cid, version, req, actor, at) -> tuple[Complaint, bool]:
    return lifecycle.close(sessions, cid, config=config, reason=req.reason, actor=actor, at=at,
                           expected_version=version), True


_STEP: dict[str, Callable[..., tuple[Complaint, bool]]] = {
    "transfer": _transfer, "link": _link, "reprioritize": _reprioritize, "resolve": _resolve, "close": _close}


def run_bulk(sessions, config: Config, req: BulkRequest, items: list[tuple[int, int | None]], *, actor: str,
             at: datetime) -> list[ItemOutcome]:
    """Apply ``req`` to each ``(complaint id, version read)`` in order, one transaction each; returns one
    outcome per item. Raises (nothing done) only for the request's own parameters (:func:`check_request`);
    a database error in one item fails that item (rolled back, logged), as a domain error does."""
    check_request(sessions, config, req, items)
    out = []
    for cid, version in items:
        try:
            c, changed = _STEP[req.action](sessions, config, cid, version, req, actor, at)
            out.append(ItemOutcome(cid, c.version, None, changed))
        except DomainError as exc:
            out.append(ItemOutcome(cid, None, exc))
        except SQLAlchemyError as exc:
            log.exception("bulk %s: complaint %s failed in the database", req.action, cid)
            out.append(ItemOutcome(cid, None, DomainError(
                f"complaint {cid}: not done, the database refused the change ({type(exc).__name__}); "
                "nothing of it was kept")))
    return out
