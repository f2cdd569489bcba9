"""The engine's rows: durable timers, notifications, the outbox (dead letters are its ``dead`` rows) and engine runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from closeloop.domain.notices import NotificationStatus, TimerKind, TimerStatus

from ..types import UTCDateTime
from .base import Base, one_of


class Timer(Base):
    """A durable timer: something that must happen at ``fire_at`` (UTC), exactly once.

    ``key`` is unique (for example ``reminder:12:80``, ``escalation:12:2``); the
    services reschedule pending timers whenever a state change moves them, and
    cancel the ones it makes stale. The sweep fires what is due, catching up after
    downtime; a fired timer is never fired again.
    """

    __tablename__ = "timer"
    __table_args__ = (Index("ix_timer_pending", "status", "fire_at"), one_of("status", TimerStatus),
                      one_of("kind", TimerKind))
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
    __table_args__ = (Index("ix_notification_pending", "status", "release_at"), one_of("status", NotificationStatus))
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
    ``attempts`` counts sends whose outcome was recorded, over the row's whole life (a manual
    re-send keeps them: the history); ``attempts_at_requeue`` is ``attempts`` at the last manual
    re-send, where the retry budget of the current round starts; ``claims`` counts claims (the
    fence of a running claim; ``claims - attempts`` are claims abandoned by dead workers, a
    re-send sets ``claims`` to ``attempts``); ``requeues`` counts manual re-sends of a dead letter.
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
    attempts_at_requeue: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    requeues: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    dead_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EngineRun(Base):
    """One finished or failed run of the engine (a sweep, a delivery, a purge), for metrics and readiness.

    Written by the flows when a run ends (``closeloop.services.engine.engine_runs.record_run``);
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
    #: None for a run that finished; for a run that failed, the exception's class name (never its text)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)
