"""Close-the-loop figures of the monthly review: root causes, recurrence, improvement records, compensation."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from closeloop.domain.compensation import CompensationStatus
from closeloop.services.reads.as_of import improvement_causes_at, states_at, values_at
from closeloop.services.review.review_complaints import first_resolved, rejected_at
from closeloop.services.review.review_period import Period
from models.tables import Compensation, Complaint, EffectivenessCheck, Improvement, ImprovementLink

RECURRENCE_RATE = (
    "Recurrence rate: of the complaints received in a month (rows rejected as not complaints left out), the share "
    "linked to an improvement record as a recurrence. Both figures count the same complaints, by the month they "
    "were received (not the day they were linked), so the rate is at most 100%. Like every figure of this review, "
    "every month of the trend is counted as of the review's instant (the end of its month; now for a running "
    "month), so a review run again later gives the same figures: a link made after that instant (a history "
    "imported and linked later) is in none of them. A later review counts it in the month the complaint was "
    "received, so a month's recurrences can be higher in a later review's trend than in that month's own review.")
PARETO_SHARE = 0.8  # the "vital few": causes that together explain 80% (Juran's Pareto principle)


def root_cause_pareto(s: Session, period: Period, as_of: datetime) -> dict:
    """Root causes of the complaints first resolved in the period, most frequent first, each cause as recorded at
    ``as_of`` (the period's end, or now for a running month: a cause recorded or corrected later does not move a
    past month; :func:`causes_at`).

    ``{"resolved": n, "causes": [{"root_cause", "count", "share", "cumulative_share", "vital_few",
    "sub_codes": {code: n}}], "received_without_root_cause": n}``. A stored cause ``code.sub`` counts
    under ``code``; ``vital_few`` marks the causes up to and including the one crossing 80%.
    ``received_without_root_cause`` counts the complaints received in the period that, at ``as_of``, had no root
    cause and were neither merged nor rejected (their status then: the audit log's).
    """
    first = first_resolved()
    resolved = select(Complaint.id).join(first, first.c.cid == Complaint.id).where(
        first.c.at >= period.start, first.c.at < period.end)
    received = select(Complaint.id).where(Complaint.received_at >= period.start, Complaint.received_at < period.end)
    causes_then = causes_at(s, received, as_of)
    status_then = states_at(s, "complaint", as_of, received)
    unknown = sum(1 for cid, cause in causes_then.items()
                  if cause is None and status_then.get(cid) not in ("merged", "rejected"))
    return {**pareto(Counter(causes_at(s, resolved, as_of).values())), "received_without_root_cause": unknown}


def causes_at(s: Session, among: Select, as_of: datetime) -> dict[int, str | None]:
    """``{complaint id: root cause}`` of the complaints ``among`` (a one-column select of ids) at ``as_of``, from
    the ``root_cause`` audit rows (data ``root_cause``, ``previous``; :func:`closeloop.services.capa.root_cause.record`
    writes one with every change). Two statements."""
    current = dict(s.execute(select(Complaint.id, Complaint.root_cause).where(Complaint.id.in_(among))).all())
    return values_at(s, "complaint", "root_cause", ("root_cause", "previous"), current, among, as_of)


def pareto(rows: Counter) -> dict:
    """``{"resolved", "causes"}`` of :func:`root_cause_pareto` from ``{stored cause or None: complaints}``."""
    by_code: Counter = Counter()
    subs: dict[str, Counter] = defaultdict(Counter)
    for cause, n in rows.items():
        code, _, sub = (cause or "not recorded").partition(".")
        by_code[code] += n
        if sub:
            subs[code][sub] += n
    total = sum(by_code.values())
    causes, cum, crossed = [], 0, False
    for code, n in sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0])):
        cum += n
        causes.append({"root_cause": code, "count": n, "share": round(n / total, 4),
                       "cumulative_share": round(cum / total, 4), "vital_few": not crossed,
                       "sub_codes": dict(sorted(subs[code].items(), key=lambda kv: (-kv[1], kv[0])))})
        crossed = crossed or cum / total >= PARETO_SHARE
    return {"resolved": total, "causes": causes}


def recurrence(s: Session, period: Period, as_of: datetime, months: int = 6) -> dict:
    """Complaints received this month and the ``months`` before that were linked to an improvement record as a
    recurrence (by ``as_of``), per month of their receipt.

    ``{"this_period": n, "trend": [{"period", "received", "recurrences", "rate"}], "by_record": {id: n}}``;
    ``received`` counts the complaints received that month, leaving out the rows rejected as not complaints at
    ``as_of`` (:func:`~closeloop.services.review.review_complaints.rejected_at`); ``recurrences`` counts those same
    complaints (each once, whatever the number of records it is linked to) that were linked as a recurrence before
    ``as_of``, so ``rate`` (recurrences / received, None without complaints) is a share of one set of complaints,
    between 0 and 1. Every month of the trend is counted as of the same ``as_of`` (the review's instant: a review
    run again gives the same figures): a history imported and linked before ``as_of`` counts in the months it was
    received, not the month of the link; one linked after ``as_of`` counts in a later review only (the text of
    :data:`RECURRENCE_RATE` says so).
    ``by_record`` counts this month's recurring complaints per improvement record.
    """
    trend: list[dict] = []
    links: list = []
    for p in period.months_back(months):
        ids = select(Complaint.id).where(Complaint.received_at >= p.start, Complaint.received_at < p.end)
        rejected = rejected_at(s, ids, as_of)
        received = (s.scalar(select(func.count()).select_from(ids.subquery())) or 0) - len(rejected)
        links = [(imp, cid) for imp, cid in s.execute(
            select(ImprovementLink.improvement_id, ImprovementLink.complaint_id).where(
                ImprovementLink.source == "recurrence", ImprovementLink.linked_at < as_of,
                ImprovementLink.complaint_id.in_(ids))).all() if cid not in rejected]
        rec = len({cid for _, cid in links})
        trend.append({"period": p.label, "received": int(received), "recurrences": rec,
                      "rate": round(rec / received, 4) if received else None})
    by_record = Counter(imp for imp, _ in links)  # the last month of the trend: the review's own period
    return {"this_period": trend[-1]["recurrences"], "trend": trend,
            "by_record": {str(k): int(v) for k, v in sorted(by_record.items())}}


def improvement_records(s: Session, period: Period, as_of: datetime, overdue_tasks: list[dict]) -> dict:
    """``{"by_status": {status: n}, "opened", "records": [{"id", "title", "status", "owner_department",
    "complaints", "overdue_actions"}], "checks": [{"improvement", "at", "before_count", "after_count",
    "reduction", "decision"}]}``: records as of ``as_of`` (status and root cause from the audit log), those opened in
    the period, and the effectiveness checks run in it. ``overdue_tasks`` come from the SLA section.
    """
    last = states_at(s, "improvement", as_of)
    causes = improvement_causes_at(s, as_of)
    links = dict(s.execute(select(ImprovementLink.improvement_id, func.count())
                           .where(ImprovementLink.linked_at < as_of).group_by(ImprovementLink.improvement_id)).all())
    overdue = Counter(t["improvement"] for t in overdue_tasks if t.get("improvement"))
    records = []
    for r in s.scalars(select(Improvement).where(Improvement.created_at < as_of).order_by(Improvement.id)):
        records.append({"id": r.id, "title": r.title, "status": last.get(r.id, r.status),
                        "owner_department": r.owner_department, "root_cause": causes.get(r.id, r.root_cause),
                        "complaints": int(links.get(r.id, 0)), "overdue_actions": overdue.get(r.id, 0),
                        "opened_in_period": period.start <= r.created_at < period.end})
    checks = [{"improvement": c.improvement_id, "at": c.at.isoformat(), "before_count": c.before_count,
               "after_count": c.after_count, "reduction": c.reduction, "decision": c.decision}
              for c in s.scalars(select(EffectivenessCheck).where(
                  and_(EffectivenessCheck.at >= period.start, EffectivenessCheck.at < period.end))
                  .order_by(EffectivenessCheck.at, EffectivenessCheck.id))]
    return {"by_status": dict(sorted(Counter(r["status"] for r in records).items())),
            "opened": sum(1 for r in records if r["opened_in_period"]),
            "with_overdue_actions": sum(1 for r in records if r["overdue_actions"]),
            "records": records, "checks": checks}


def status_at(entry: Compensation, as_of: datetime) -> CompensationStatus:
    """The entry's status at ``as_of``: a decision (``decided_at``; an entry approved by policy is decided when
    recorded) made at or after ``as_of`` had not been made yet, so the entry was still pending."""
    if entry.decided_at is not None and entry.decided_at >= as_of:
        return CompensationStatus.PENDING
    return CompensationStatus(entry.status)


def compensation(s: Session, period: Period, as_of: datetime) -> dict:
    """Compensation recorded in the period, each entry as it stood at ``as_of`` (the period's end, or now for a
    running month; :func:`status_at`: a past month's figures do not change when an entry is decided later):
    ``{"entries", "pending_approval", "above_cap", "approved_total": {currency: "12.50"}, "by_kind": {kind:
    {currency: "..."}}, "by_category": {category: {currency: "..."}}}`` (approved only; exact decimal strings).
    """
    rows = s.scalars(select(Compensation).where(Compensation.created_at >= period.start,
                                                Compensation.created_at < period.end)).all()
    status = {r.id: status_at(r, as_of) for r in rows}
    total: dict[str, Decimal] = defaultdict(Decimal)
    by_kind: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    by_cat: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for r in rows:
        if status[r.id] != CompensationStatus.APPROVED:
            continue
        total[r.currency] += r.amount
        by_kind[r.kind][r.currency] += r.amount
        by_cat[r.category or "(none)"][r.currency] += r.amount

    def text(d):
        return {k: str(v.quantize(Decimal("0.01"))) for k, v in sorted(d.items())}

    pending = sum(1 for r in rows if status[r.id] == CompensationStatus.PENDING)
    return {"entries": len(rows), "pending_approval": pending,
            "above_cap": sum(1 for r in rows if r.cap is not None and r.amount > r.cap),
            "approved_total": text(total),
            "by_kind": {k: text(v) for k, v in sorted(by_kind.items())},
            "by_category": {k: text(v) for k, v in sorted(by_cat.items())}}
