"""One customer's history for the desk (issue 14 §2): complaints, promises, compensation and the
follow-up verdicts (satisfaction history), read for a scope.

``scope`` is the complaint reads' (``services/reads/complaint_queries.py``): a department reads the
complaints its tasks touch, None reads all. Everything else is read through the visible complaints
only, so a member never learns of another department's complaint by way of its customer.
:func:`customer_view` raises ``NotFound`` for an unknown ref; a customer with no complaint in the
scope comes back with ``visible = False`` and nothing else (the caller answers 403, as for a
complaint outside its department).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, select

from closeloop.domain.errors import NotFound, refuse_nul
from closeloop.domain.promise import PromiseStatus
from closeloop.services.reads.complaint_queries import touches
from closeloop.services.uow import unit_of_work
from models.tables import Compensation, Complaint, Customer, Promise, Transition


@dataclass(frozen=True)
class CustomerComplaint:
    id: int
    status: str
    severity: str
    category: str
    product: str
    issue: str
    received_at: datetime
    due_at: datetime | None
    resolved_at: datetime | None
    customer_satisfied: bool | None


@dataclass(frozen=True)
class CustomerPromise:
    id: int
    complaint_id: int
    department: str
    kind: str
    status: str
    due_at: datetime
    made_at: datetime
    kept_at: datetime | None
    broken_at: datetime | None


@dataclass(frozen=True)
class CustomerCompensation:
    id: int
    complaint_id: int
    kind: str
    amount: Decimal
    currency: str
    status: str
    created_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class CustomerVerdict:
    """A follow-up answer: ``satisfied`` or not, when, on which complaint (and its task)."""

    at: datetime
    complaint_id: int
    satisfied: bool
    task_id: int | None
    actor: str


@dataclass
class CustomerView:
    ref: str
    visible: bool
    display_name: str | None = None
    language: str | None = None
    time_zone: str | None = None
    erased: bool = False
    complaint_count: int = 0
    first_complaint_at: datetime | None = None
    last_complaint_at: datetime | None = None
    complaints: list[CustomerComplaint] = field(default_factory=list)
    promises: list[CustomerPromise] = field(default_factory=list)
    compensation: list[CustomerCompensation] = field(default_factory=list)
    verdicts: list[CustomerVerdict] = field(default_factory=list)

    @property
    def promise_counts(self) -> dict[str, int]:
        """Promises made, and how many are kept, broken, open (cancelled ones are made, nothing else)."""
        by = Counter(p.status for p in self.promises)
        return {"made": len(self.promises), **{str(s): by.get(s, 0) for s in
                                               (PromiseStatus.KEPT, PromiseStatus.BROKEN, PromiseStatus.OPEN)}}


def customer_view(sessions, ref: str, *, scope: str | None) -> CustomerView:
    """The customer ``ref`` as ``scope`` may see it (newest complaint first; the rest oldest first).
    ``InvalidInput`` naming ``ref`` for a NUL character; ``NotFound`` for an unknown ref."""
    refuse_nul("ref", ref)
    with unit_of_work(sessions) as s:
        cust = s.scalar(select(Customer).where(Customer.ref == ref))
        if cust is None:
            raise NotFound("customer", ref)
        q = select(Complaint).where(Complaint.customer_id == cust.id)
        if scope is not None:
            q = q.where(touches(scope))
        rows = list(s.scalars(q.order_by(Complaint.received_at.desc(), Complaint.id.desc())))
        if not rows:
            return CustomerView(ref=ref, visible=False)
        ids = [c.id for c in rows]
        view = CustomerView(ref=ref, visible=True, display_name=cust.display_name, language=cust.language,
                            time_zone=cust.time_zone, erased=cust.erased_at is not None,
                            complaint_count=cust.complaint_count, first_complaint_at=cust.first_complaint_at,
                            last_complaint_at=cust.last_complaint_at,
                            complaints=[CustomerComplaint(c.id, c.status, c.severity, c.category, c.product, c.issue,
                                                          c.received_at, c.due_at, c.resolved_at,
                                                          c.customer_satisfied) for c in rows])
        _add_history(s, view, ids)
        return view


def _add_history(s, view: CustomerView, ids: list[int]) -> None:
    """Promises, compensation and follow-up verdicts on the complaints ``ids``, oldest first."""
    view.promises = [CustomerPromise(p.id, p.complaint_id, p.department, p.kind, p.status, p.due_at, p.made_at,
                                     p.kept_at, p.broken_at)
                     for p in s.scalars(select(Promise).where(Promise.complaint_id.in_(ids))
                                        .order_by(Promise.made_at, Promise.id))]
    view.compensation = [CustomerCompensation(e.id, e.complaint_id, e.kind, e.amount, e.currency, e.status,
                                              e.created_at, e.decided_at)
                         for e in s.scalars(select(Compensation).where(Compensation.complaint_id.in_(ids))
                                            .order_by(Compensation.created_at, Compensation.id))]
    verdicts = s.execute(select(Transition.at, Transition.entity_id, Transition.data, Transition.actor).where(
        and_(Transition.entity == "complaint", Transition.entity_id.in_(ids), Transition.trigger == "follow_up"))
        .order_by(Transition.at, Transition.id)).all()
    view.verdicts = [CustomerVerdict(at, cid, bool((data or {}).get("satisfied")), (data or {}).get("task"), actor)
                     for at, cid, data, actor in verdicts]


def customer_refs(sessions, complaint_ids: list[int]) -> dict[int, str]:
    """``{complaint id: customer ref}`` for those of ``complaint_ids`` that have a customer."""
    if not complaint_ids:
        return {}
    with unit_of_work(sessions) as s:
        rows = s.execute(select(Complaint.id, Customer.ref).join(Customer, Customer.id == Complaint.customer_id)
                         .where(Complaint.id.in_(sorted(set(complaint_ids))))).all()
    return {cid: ref for cid, ref in rows}
