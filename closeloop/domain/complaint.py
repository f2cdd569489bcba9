"""Complaint lifecycle: states, triggers and the edge table.

Graph (refined from DESIGN.md §3)::

    received -triage-> triaged -start-> in_progress <-await_customer/customer_replied-> awaiting_customer
    triaged -resolve-> resolved            (first-contact resolution)
    triaged -await_customer-> awaiting_customer   (information needed before any work can start)
    in_progress | awaiting_customer -resolve-> resolved   (leaving a pause straight to resolved is legal)
    resolved -close-> closed
    resolved | closed -reopen-> reopened -start-> in_progress
    received | triaged -reject-> rejected  (not a complaint)
    any open or resolved/closed state -merge-> merged   (points at the surviving complaint)

``merged`` and ``rejected`` are terminal. ``closed`` is not: a customer may reopen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .calendar import BusinessCalendar
from .guards import Guard, needs_reason, needs_root_cause
from .machine import Machine


class ComplaintStatus(StrEnum):
    RECEIVED = "received"
    TRIAGED = "triaged"
    IN_PROGRESS = "in_progress"
    AWAITING_CUSTOMER = "awaiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    MERGED = "merged"
    REJECTED = "rejected"


class ComplaintTrigger(StrEnum):
    TRIAGE = "triage"
    START = "start"
    AWAIT_CUSTOMER = "await_customer"
    CUSTOMER_REPLIED = "customer_replied"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    MERGE = "merge"
    REJECT = "reject"


_S, _T = ComplaintStatus, ComplaintTrigger

COMPLAINT_EDGES: dict[tuple[ComplaintStatus, ComplaintTrigger], ComplaintStatus] = {
    (_S.RECEIVED, _T.TRIAGE): _S.TRIAGED,
    (_S.RECEIVED, _T.REJECT): _S.REJECTED,
    (_S.TRIAGED, _T.REJECT): _S.REJECTED,
    (_S.TRIAGED, _T.START): _S.IN_PROGRESS,
    (_S.TRIAGED, _T.RESOLVE): _S.RESOLVED,
    (_S.TRIAGED, _T.AWAIT_CUSTOMER): _S.AWAITING_CUSTOMER,
    (_S.IN_PROGRESS, _T.AWAIT_CUSTOMER): _S.AWAITING_CUSTOMER,
    (_S.AWAITING_CUSTOMER, _T.CUSTOMER_REPLIED): _S.IN_PROGRESS,
    (_S.IN_PROGRESS, _T.RESOLVE): _S.RESOLVED,
    (_S.AWAITING_CUSTOMER, _T.RESOLVE): _S.RESOLVED,
    (_S.RESOLVED, _T.CLOSE): _S.CLOSED,
    (_S.RESOLVED, _T.REOPEN): _S.REOPENED,
    (_S.CLOSED, _T.REOPEN): _S.REOPENED,
    (_S.REOPENED, _T.START): _S.IN_PROGRESS,
    (_S.REOPENED, _T.AWAIT_CUSTOMER): _S.AWAITING_CUSTOMER,
    (_S.REOPENED, _T.RESOLVE): _S.RESOLVED,
}
for _state in (_S.RECEIVED, _S.TRIAGED, _S.IN_PROGRESS, _S.AWAITING_CUSTOMER,
               _S.RESOLVED, _S.CLOSED, _S.REOPENED):
    COMPLAINT_EDGES[(_state, _T.MERGE)] = _S.MERGED

#: The rules checked before a complaint trigger (``closeloop.domain.guards``); each says why.
COMPLAINT_GUARDS: dict[ComplaintTrigger, tuple[Guard, ...]] = {
    _T.RESOLVE: (needs_root_cause("resolving needs one", "the loop closes on a root cause: without one no "
                                  "improvement record can explain the complaint (issue 5)"),),
    _T.REOPEN: (needs_reason("a reopen", "the department that gets it back must know what came back"),),
    _T.MERGE: (needs_reason("a merge", "the survivor's timeline must say why two complaints became one, as a "
                                       "transfer says why work moved"),),
    _T.AWAIT_CUSTOMER: (needs_reason("a pause", "a stopped SLA clock must say what it waits for "
                                                "(ISO 10002 7.3)"),),
}

COMPLAINT_MACHINE: Machine[ComplaintStatus, ComplaintTrigger] = Machine(
    entity="complaint",
    edges=COMPLAINT_EDGES,
    terminal=frozenset({_S.MERGED, _S.REJECTED}),
    guards=COMPLAINT_GUARDS,
)

#: States in which the complaint still needs work from someone (SLA clocks may run).
OPEN_STATES = frozenset({_S.RECEIVED, _S.TRIAGED, _S.IN_PROGRESS, _S.AWAITING_CUSTOMER, _S.REOPENED})
#: States that can be merged away or merged into.
MERGEABLE_STATES = frozenset(s for (s, t) in COMPLAINT_EDGES if t is _T.MERGE)

transition = COMPLAINT_MACHINE.fire


#: ``data.closed_by`` of the resolve and close audit rows of a complaint whose wait on the customer ran out
#: (``[follow_up] auto_close_wait_after_max``): the customer is told it closed for want of an answer
#: (``customers.milestones``: the ``closed`` notice, not ``resolved``); ``data.wait_reason`` is what was asked.
WAIT_EXPIRED = "wait_expired"


def wait_end(calendar: BusinessCalendar, started: datetime, data: Mapping[str, Any] | None) -> datetime | None:
    """The end of a wait on the customer that ``started`` with the ``await_customer`` audit ``data``: its
    ``until`` (ISO 8601 text) or its ``max_business_hours`` on the customer ``calendar`` from ``started``, the
    **earlier** when it has both (neither limit is lost); None for a wait without either. The sweep's
    ``pause_expired`` timer and the customer's ``waiting`` notice both read it."""
    ends = []
    data = data or {}
    if data.get("max_business_hours"):
        ends.append(calendar.add_business_time(started, timedelta(hours=float(data["max_business_hours"]))))
    if data.get("until"):
        ends.append(datetime.fromisoformat(data["until"]))
    return min(ends) if ends else None
