"""Complaints and their department tasks, task dependencies, messages and the audit log (transitions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from closeloop.domain.complaint import ComplaintStatus, ComplaintTrigger
from closeloop.domain.customer import MessageDirection
from closeloop.domain.task import TaskStatus, TaskTrigger

from ..types import UTCDateTime
from .base import Base, one_of


class Complaint(Base):
    __tablename__ = "complaint"
    __table_args__ = (
        UniqueConstraint("source", "external_ref", name="uq_complaint_source_external_ref"),
        Index("ix_complaint_customer_received", "customer_id", "received_at"),
        Index("ix_complaint_status", "status"),
        one_of("status", ComplaintStatus),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_ref: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(2))
    risk_flags: Mapped[list] = mapped_column(JSON, default=list)
    triage_reasons: Mapped[list] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(255), default="")
    subcategory: Mapped[str] = mapped_column(String(255), default="")
    product: Mapped[str] = mapped_column(String(255), default="")
    sub_product: Mapped[str] = mapped_column(String(255), default="")
    issue: Mapped[str] = mapped_column(String(255), default="")
    sub_issue: Mapped[str] = mapped_column(String(255), default="")
    channel: Mapped[str] = mapped_column(String(64), default="")
    company: Mapped[str] = mapped_column(String(255), default="")
    region: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True)
    route_rule: Mapped[str | None] = mapped_column(String(200), nullable=True)
    routing_config_id: Mapped[int | None] = mapped_column(ForeignKey("routing_config.id"), nullable=True)
    likely_duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), nullable=True, index=True)
    transfer_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    timers_dirty: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    #: root cause code from the taxonomy (``code`` or ``code.sub``), required to resolve; None = not yet known
    root_cause: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    root_cause_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the customer's verdict from the follow-up (None: not asked yet); separate from any effectiveness check
    customer_satisfied: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_department_status", "department", "status"),
        Index("ix_task_complaint", "complaint_id"),
        one_of("status", TaskStatus),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: a complaint's task, or (complaint_id None) a corrective/preventive action of an improvement record
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), nullable=True)
    improvement_id: Mapped[int | None] = mapped_column(ForeignKey("improvement.id"), nullable=True, index=True)
    department: Mapped[str] = mapped_column(ForeignKey("department.name"))
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    instructions: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the user ``assignee`` names (issue 14), when it matches one's handle or name
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True, index=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)
    transferred_from_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"), nullable=True)
    transfer_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class TaskDependency(Base):
    """``task_id`` may not start before ``depends_on_id`` is finished."""

    __tablename__ = "task_dependency"
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(ForeignKey("task.id"), primary_key=True, index=True)


class Message(Base):
    """A message on a complaint: ``direction`` inbound (customer), outbound (us) or internal (note).

    ``original_complaint_id`` keeps where it arrived when a merge moves it.
    """

    __tablename__ = "message"
    __table_args__ = (one_of("direction", MessageDirection),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    original_complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"))
    direction: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(64), default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: an outbound message sent through the outbox (it reached the customer when that row was delivered);
    #: None for a contact recorded after the fact (a phone call) or an inbound message
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True, index=True)
    #: the RFC 5322 Message-ID of an outbound e-mail (threads the customer's reply back to the complaint)
    mail_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)


#: Triggers of the audit rows the customer step reads by time (``customers.milestones``: a complaint's
#: await_customer, reopen and resolve, a task's transfer; a task's reopen rides along): the rows of the partial
#: index ``ix_transition_milestone`` (migration 0015), about one row in ten of the audit log.
MILESTONE_TRIGGERS = tuple(sorted({ComplaintTrigger.AWAIT_CUSTOMER.value, ComplaintTrigger.REOPEN.value,
                                   ComplaintTrigger.RESOLVE.value, TaskTrigger.TRANSFER.value}))


#: The partial index's condition, as SQL text: a query uses the index only when its WHERE has this very term
#: (SQLite matches the terms as written; constants, not bound parameters).
MILESTONE_WHERE = '"trigger" IN (' + ", ".join(f"'{t}'" for t in MILESTONE_TRIGGERS) + ")"


class Transition(Base):
    """The audit log: who changed what, when, from which state to which, by which trigger and why."""

    __tablename__ = "transition"
    __table_args__ = (
        Index("ix_transition_complaint_at", "complaint_id", "at"),
        Index("ix_transition_entity", "entity", "entity_id"),
        Index("ix_transition_milestone", "at", sqlite_where=text(MILESTONE_WHERE),
              postgresql_where=text(MILESTONE_WHERE)),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), nullable=True)
    from_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_state: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


# search and sorted lists (issue 14, migration 0008): a reference alone (the unique key leads with the
# source); the newest-first order of the complaint list walks received_at
Index("ix_complaint_external_ref", Complaint.external_ref)
Index("ix_complaint_received_at", Complaint.received_at)
