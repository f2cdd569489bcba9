"""Counts for ``closeloop stats``: integers keyed by name, computed in SQL."""

from __future__ import annotations

from sqlalchemy import func, select

from closeloop.domain.complaint import ComplaintStatus
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, Task


def stats(sessions) -> dict:
    """``{"complaints", "complaints_by_status", "complaints_by_severity", "complaints_by_source",
    "tasks", "tasks_by_department", "tasks_by_status", "routed_to_triage_queue"}``."""
    with unit_of_work(sessions) as s:
        def grouped(col):
            return {str(k): int(v) for k, v in s.execute(select(col, func.count()).group_by(col).order_by(col))}

        return {
            "complaints": int(s.scalar(select(func.count()).select_from(Complaint)) or 0),
            "complaints_by_status": grouped(Complaint.status),
            "complaints_by_severity": grouped(Complaint.severity),
            "complaints_by_source": grouped(Complaint.source),
            "routed_to_triage_queue": int(s.scalar(
                select(func.count()).select_from(Complaint)
                .where(Complaint.route_rule.is_(None), Complaint.status != ComplaintStatus.REJECTED)) or 0),
            "tasks": int(s.scalar(select(func.count()).select_from(Task)) or 0),
            "tasks_by_department": grouped(Task.department),
            "tasks_by_status": grouped(Task.status),
        }
