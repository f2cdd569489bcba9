"""Closing the loop: improvement records (CAPA), their complaint links and effectiveness checks, and compensation."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from closeloop.domain.compensation import CompensationStatus
from closeloop.domain.improvement import ImprovementStatus

from ..types import UTCDateTime
from .base import Base, one_of


class Improvement(Base):
    """An improvement record (CAPA): one problem, its root cause, many complaints, actions, a verified fix.

    ``match`` is the record's match key as facts (``{"category": "Late Flight", "company": "United"}``;
    fields from ``[improvement] match_on``); a complaint matches when all of them are equal (and, for the
    effectiveness check, its root cause is the record's or not yet known). ``status`` changes only through
    the domain's improvement machine (audit rows with ``entity = 'improvement'``).
    """

    __tablename__ = "improvement"
    __table_args__ = (Index("ix_improvement_status_match", "status", "match_key"), one_of("status", ImprovementStatus))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    problem: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str | None] = mapped_column(String(100), nullable=True)
    root_cause_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    match: Mapped[dict] = mapped_column(JSON, default=dict)
    match_key: Mapped[str] = mapped_column(String(1000))
    owner_department: Mapped[str] = mapped_column(ForeignKey("department.name"))
    status: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    implemented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    check_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    timers_dirty: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ImprovementLink(Base):
    """A complaint explained by an improvement record: who linked it, when, and how
    (manual | recurrence | cluster: the complaints whose cluster proposed it)."""

    __tablename__ = "improvement_link"
    improvement_id: Mapped[int] = mapped_column(ForeignKey("improvement.id"), primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), primary_key=True, index=True)
    source: Mapped[str] = mapped_column(String(16))
    linked_by: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EffectivenessCheck(Base):
    """One run of the effectiveness check: equal windows before and after ``implemented_at``.

    Counts are matching complaints by ``received_at``; rates are per day; ``decision`` is
    ``effective``, ``ineffective`` or ``not_enough_data``.
    """

    __tablename__ = "effectiveness_check"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    improvement_id: Mapped[int] = mapped_column(ForeignKey("improvement.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_days: Mapped[float] = mapped_column(Float)
    implemented_at: Mapped[datetime] = mapped_column(UTCDateTime)
    before_count: Mapped[int] = mapped_column(Integer)
    after_count: Mapped[int] = mapped_column(Integer)
    rate_before: Mapped[float] = mapped_column(Float)
    rate_after: Mapped[float] = mapped_column(Float)
    reduction: Mapped[float | None] = mapped_column(Float, nullable=True)
    decision: Mapped[str] = mapped_column(String(32))
    rule: Mapped[dict] = mapped_column(JSON, default=dict)


class Compensation(Base):
    """Compensation given (or proposed) on a complaint. ``amount`` is exact (Decimal, two places).

    ``status``: ``approved`` (within the policy cap, or approved by a manager), ``pending_approval``
    (above the cap), ``rejected``. ``cap`` is the policy cap that applied (None: no cap configured).
    ``requester_key`` is who asked, as a stable identity (``user:<id>`` for a token that belongs to a user, else
    ``token:<id>``; ``services/work/compensation.person_key``), never the requester's display name: the approver
    must be someone else. None: recorded without a token (within the cap only), or before migration 0016.
    """

    __tablename__ = "compensation"
    __table_args__ = (one_of("status", CompensationStatus),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    cap: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    category: Mapped[str] = mapped_column(String(255), default="")
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(200))
    requester_key: Mapped[str | None] = mapped_column(String(40), nullable=True)
    approver: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
