"""Counts for ``closeloop stats``: integers keyed by name, computed in SQL."""

from __future__ import annotations

from sqlalchemy import func, select

from closeloop.domain.complaint import ComplaintStatus
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, Task


def stats(sessions) -> dict:
    """``{"complaints", "complaints_by_status", "complaints_by_severity", "complaints_by_source",
    "rejected_not_complaints", "tasks", "tasks_by_department", "tasks_by_status", "routed_to_triage_queue"}``.

    Rows recorded as not complaints (status ``rejected``: a positive review, a neutral tweet) are counted
    once apart, in ``rejected_not_complaints``, and in no complaint figure, as in the monthly review and the
    replay's summary."""
    with unit_of_work(sessions) as s:
        taken = Complaint.status != ComplaintStatus.REJECTED

        def grouped(col, *where):
            return {str(k): int(v) for k, v in s.execute(select(col, func.count()).where(*where)
                                                          .group_by(col).order_by(col))}

        def counted(table, *where) -> int:
            return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)

        return {
            "complaints": counted(Complaint, taken),
            "complaints_by_status": grouped(Complaint.status, taken),
            "complaints_by_severity": grouped(Complaint.severity, taken),
            "complaints_by_source": grouped(Complaint.source, taken),
            "rejected_not_complaints": counted(Complaint, Complaint.status == ComplaintStatus.REJECTED),
            "routed_to_triage_queue": counted(Complaint, Complaint.route_rule.is_(None), taken),
            "tasks": counted(Task),
            "tasks_by_department": grouped(Task.department),
            "tasks_by_status": grouped(Task.status),
        }
