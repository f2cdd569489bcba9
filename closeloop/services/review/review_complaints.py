"""Complaint figures of the monthly review: intake, resolution, status at the period's end, verdicts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from closeloop.domain.complaint import OPEN_STATES, ComplaintStatus
from closeloop.services.reads.as_of import states_at, values_at
from closeloop.services.review.review_period import Period
from models.tables import Complaint, Transition


def first_resolved():
    """Subquery ``(cid, at)``: each complaint's first resolution (a reopened one counts once, when first resolved)."""
    return (select(Transition.complaint_id.label("cid"), func.min(Transition.at).label("at"))
            .where(Transition.entity == "complaint", Transition.to_state == ComplaintStatus.RESOLVED)
            .group_by(Transition.complaint_id).subquery())


def status_at(s: Session, as_of: datetime) -> Counter:
    """How many complaints were in each status at ``as_of``, the rows rejected as not complaints then
    (:func:`rejected_at`) left out. Three statements."""
    rejected = rejected_at(s, select(Complaint.id), as_of)
    return Counter(st for cid, st in states_at(s, "complaint", as_of).items() if cid not in rejected)


def received_by(s: Session, period: Period, as_of: datetime) -> tuple[Counter, Counter, int]:
    """The complaints received in the period by severity and by source, and how many rows received in it were
    rejected as not complaints at ``as_of`` (those are in neither counter: in no complaint figure). The severity is
    the one the complaint had at ``as_of`` (a later priority change, audit row ``reprioritize`` with data
    ``from``/``to``, does not move a past month's complaint); the source never changes. Four statements."""
    in_period = and_(Complaint.received_at >= period.start, Complaint.received_at < period.end)
    among = select(Complaint.id).where(in_period)
    rejected = rejected_at(s, among, as_of)
    rows = [r for r in s.execute(select(Complaint.id, Complaint.severity, Complaint.source).where(in_period))
            if r[0] not in rejected]
    severity = values_at(s, "complaint", "reprioritize", ("to", "from"), {cid: sev for cid, sev, _ in rows},
                         among, as_of)
    return (Counter(str(v) for cid, v in severity.items() if cid not in rejected),
            Counter(str(src) for _, _, src in rows), len(rejected))


def rejected_at(s: Session, among: Select, as_of: datetime) -> set[int]:
    """Ids of the complaints ``among`` (a one-column select of ids) rejected as not complaints at ``as_of``: their
    status then (the audit log's) was ``rejected``, or intake rejected them as it took them in (``received ->
    rejected``; ``rejected`` is final) even when that was recorded after ``as_of`` (a past month's rows imported
    later: their ``receive`` row carries the row's own instant, the decision the import's). Two statements."""
    then = states_at(s, "complaint", as_of, among)
    at_intake = s.scalars(select(Transition.entity_id).where(
        Transition.entity == "complaint", Transition.from_state == ComplaintStatus.RECEIVED,
        Transition.to_state == ComplaintStatus.REJECTED, Transition.entity_id.in_(among))).all()
    return {cid for cid, st in then.items() if st == ComplaintStatus.REJECTED} | set(at_intake)


def complaint_figures(s: Session, period: Period, as_of: datetime) -> dict:
    """``{"received", "received_by_severity", "received_by_source", "rejected_not_complaints", "resolved",
    "reopened", "open_at_end", "status_at_end", "follow_up": {"recorded", "satisfied", "not_satisfied"}}``.

    ``received_by_severity`` takes each complaint's severity at ``as_of`` (:func:`received_by`). Rows received in
    the period and rejected as not complaints at ``as_of`` are in ``rejected_not_complaints`` only, in no other
    figure (nor in ``status_at_end``, :func:`status_at`).
    ``resolved`` counts complaints whose first resolution fell in the period; ``reopened`` the
    reopen transitions in it. ``follow_up`` is the customer's verdict on the handling, recorded
    at the follow-up after resolution (kept apart from the internal effectiveness checks).
    """
    by_sev, by_src, rejected = received_by(s, period, as_of)
    first = first_resolved()
    resolved = s.scalar(select(func.count()).select_from(first).where(
        first.c.at >= period.start, first.c.at < period.end)) or 0
    reopened = s.scalar(select(func.count()).select_from(Transition).where(
        Transition.entity == "complaint", Transition.trigger == "reopen",
        Transition.at >= period.start, Transition.at < period.end)) or 0
    verdicts = s.scalars(select(Transition.data).where(
        Transition.trigger == "follow_up", Transition.at >= period.start, Transition.at < period.end)).all()
    satisfied = sum(1 for d in verdicts if (d or {}).get("satisfied") is True)
    at_end = status_at(s, min(period.end, as_of))
    return {
        "received": sum(by_sev.values()),
        "received_by_severity": dict(sorted(by_sev.items())),
        "received_by_source": dict(sorted(by_src.items())),
        "rejected_not_complaints": rejected,
        "resolved": int(resolved),
        "reopened": int(reopened),
        "open_at_end": sum(n for st, n in at_end.items() if st in OPEN_STATES),
        "status_at_end": dict(sorted(at_end.items())),
        "follow_up": {"recorded": len(verdicts), "satisfied": satisfied, "not_satisfied": len(verdicts) - satisfied},
    }
