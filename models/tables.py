"""SQLAlchemy 2 typed models. Every instant is a :class:`UTCDateTime` (aware UTC).

Statuses are stored as strings and only ever changed through the domain's
``transition()`` by the services, which also write a :class:`Transition` row.
``version`` columns give optimistic locking (a stale write raises
``StaleDataError``, which the services turn into ``Conflict``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # every model here is mapped to a Table (no mapping to a select or join): Core insert/update take it
    __table__: ClassVar[Table]


class Department(Base):
    """A department from configuration (rows are kept when removed from it: ``active`` false)."""

    __tablename__ = "department"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    lead: Mapped[str] = mapped_column(String(200), default="")
    notify: Mapped[str] = mapped_column(String(500), default="")
    calendar: Mapped[str] = mapped_column(String(64), default="default")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoutingConfig(Base):
    """One version of the configuration text that routed complaints (by SHA-256)."""

    __tablename__ = "routing_config"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Customer(Base):
    """A customer: a pseudonymous key, history counts and (issue 13) the little we need to speak to them.

    ``display_name``, ``language`` (``zh``/``en``...), ``time_zone`` (IANA) are personal data: never
    copied into logs, audit rows or artifacts. ``erased_at`` set: ``customers forget`` erased them
    (the counts stay for statistics).
    """

    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(128), unique=True)
    complaint_count: Mapped[int] = mapped_column(Integer, default=0)
    first_complaint_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_complaint_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CustomerContact(Base):
    """One contact point of a customer: ``kind`` (email | phone | chat), the address, consent, verified."""

    __tablename__ = "customer_contact"
    __table_args__ = (UniqueConstraint("customer_id", "kind", "value", name="uq_customer_contact_point"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(254))
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Complaint(Base):
    __tablename__ = "complaint"
    __table_args__ = (
        UniqueConstraint("source", "external_ref", name="uq_complaint_source_external_ref"),
        Index("ix_complaint_customer_received", "customer_id", "received_at"),
        Index("ix_complaint_status", "status"),
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


class Promise(Base):
    """A promise to the customer (issue 13): who (``department``, optional ``person``), what (``kind``,
    ``description``), by when (``due_at``, UTC). ``status`` (open | kept | broken | cancelled) changes only
    through the domain's promise machine (audit rows ``entity = 'promise'``); ``kept_by_message_id`` or
    ``kept_by_task_id`` is the evidence that kept it. ``reminded_at``: the reminder before the due instant."""

    __tablename__ = "promise"
    __table_args__ = (Index("ix_promise_status_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    department: Mapped[str] = mapped_column(ForeignKey("department.name"))
    person: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    made_by: Mapped[str] = mapped_column(String(200))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    broken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    kept_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    kept_by_message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), nullable=True)
    kept_by_task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Transition(Base):
    """The audit log: who changed what, when, from which state to which, by which trigger and why."""

    __tablename__ = "transition"
    __table_args__ = (
        Index("ix_transition_complaint_at", "complaint_id", "at"),
        Index("ix_transition_entity", "entity", "entity_id"),
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


class Timer(Base):
    """A durable timer: something that must happen at ``fire_at`` (UTC), exactly once.

    ``key`` is unique (for example ``reminder:12:80``, ``escalation:12:2``); the
    services reschedule pending timers whenever a state change moves them, and
    cancel the ones it makes stale. The sweep fires what is due, catching up after
    downtime; a fired timer is never fired again.
    """

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_pending", "status", "fire_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), nullable=True, index=True)
    improvement_id: Mapped[int | None] = mapped_column(ForeignKey("improvement.id"), nullable=True, index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"), nullable=True, index=True)
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | fired | cancelled
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Notification(Base):
    """One thing a person must be told (a reminder, an escalation...), before packing into a message.

    ``release_at`` is the first instant inside the recipient's working hours
    (quiet hours); released items of one address are packed into one digest
    :class:`Outbox` message per sweep.
    """

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_pending", "status", "release_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer, default=0)
    role: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500))  # lower-cased delivery address: the dedupe key
    channel: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(8), default="en")
    department: Mapped[str | None] = mapped_column(String(64), nullable=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), nullable=True, index=True)
    improvement_id: Mapped[int | None] = mapped_column(ForeignKey("improvement.id"), nullable=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"), nullable=True)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    release_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | packed | dropped
    #: why a released notice was not sent (``closeloop.domain.notices.DropReason``), else None
    dropped_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True, index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class Outbox(Base):
    """A message leaving the process, delivered at least once and recorded exactly once.

    ``idempotency_key`` is unique and sent with every attempt (``Idempotency-Key``
    header), so a receiver that dedupes shows one message even after a retry or
    a worker crash. Status (:class:`closeloop.domain.outbox.OutboxStatus`): ``pending`` ->
    ``sending`` (claimed, with a lease) -> ``delivered`` | ``pending`` / ``unknown`` (sent, no
    answer: retried with the same key) | ``dead`` (the dead letter, with ``dead_reason``).
    ``attempts`` counts sends whose outcome was recorded; ``claims`` counts claims (the
    fence of a running claim; ``claims - attempts`` are claims abandoned by dead workers);
    ``requeues`` counts manual re-sends of a dead letter.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_ready", "status", "next_attempt_at"),
        CheckConstraint("status IN ('pending', 'sending', 'unknown', 'delivered', 'dead')", name="status"),
        CheckConstraint("dead_reason IS NULL OR dead_reason IN ('exhausted', 'rejected', 'abandoned')",
                        name="dead_reason"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(32))  # webhook | apprise | capture
    target: Mapped[str] = mapped_column(String(500))
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    requeues: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dead_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Improvement(Base):
    """An improvement record (CAPA): one problem, its root cause, many complaints, actions, a verified fix.

    ``match`` is the record's match key as facts (``{"category": "Late Flight", "company": "United"}``;
    fields from ``[improvement] match_on``); a complaint matches when all of them are equal (and, for the
    effectiveness check, its root cause is the record's or not yet known). ``status`` changes only through
    the domain's improvement machine (audit rows with ``entity = 'improvement'``).
    """

    __tablename__ = "improvement"
    __table_args__ = (Index("ix_improvement_status_match", "status", "match_key"),)
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
    """

    __tablename__ = "compensation"
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
    approver: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiToken(Base):
    """An API token (issue 7). Only the SHA-256 of the secret is stored; ``prefix`` identifies it.

    ``role`` is one of ``member``, ``lead``, ``manager``, ``admin``; members and leads carry the
    ``department`` they act for. ``language`` (``en``/``zh``) is the holder's dashboard language.
    ``revoked_at`` set means the token no longer authenticates.
    """

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(ForeignKey("department.name"), nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ComplaintSearch(Base):
    """The search document of a complaint (issue 14): its terms (``closeloop.domain.search_text``) of
    the reference, customer ref, facts and the customer's text, space-separated; written at intake.

    Indexed per backend by migration 0008 (not declared here): on SQLite the FTS5 table
    ``complaint_fts`` (external content, kept in step by triggers); on PostgreSQL the GIN index
    ``ix_complaint_search_terms`` on ``array_to_tsvector(string_to_array(doc, ' '))``.
    """

    __tablename__ = "complaint_search"
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id", ondelete="CASCADE"), primary_key=True)
    doc: Mapped[str] = mapped_column(Text, default="")


# objects of the search index that exist on one backend only (see ComplaintSearch); schema comparisons skip them
BACKEND_ONLY_SEARCH_OBJECTS = ("complaint_fts", "ix_complaint_search_terms")


class EngineRun(Base):
    """One finished run of the engine (a sweep, a delivery, a purge), for metrics and readiness.

    Written by the flows when a run ends (``closeloop.services.engine_runs.record_run``);
    ``counts`` holds what it did (e.g. ``{"fired": 12, "messages": 3}``, or deliveries by
    outcome), never personal data. The API's ``/metrics`` reads it, so any number of API
    replicas report the same figures and workers need no port of their own. Purged with
    the other engine rows (``closeloop purge``).
    """

    __tablename__ = "engine_run"
    __table_args__ = (
        CheckConstraint("kind IN ('sweep', 'deliver', 'purge')", name="kind"),
        Index("ix_engine_run_kind_finished_at", "kind", "finished_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)


class WebSession(Base):
    """A dashboard sign-in (issue 14): the browser holds a random session secret (only its SHA-256
    is stored), never the API token. Valid while ``revoked_at`` is unset (sign-out sets it),
    ``expires_at`` is in the future and the token it was opened with is not revoked."""

    __tablename__ = "web_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

# search and sorted lists (issue 14, migration 0008): a reference alone (the unique key leads with the
# source); the newest-first order of the complaint list walks received_at
Index("ix_complaint_external_ref", Complaint.external_ref)
Index("ix_complaint_received_at", Complaint.received_at)
