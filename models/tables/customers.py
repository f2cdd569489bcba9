"""Customers, their contact points, the promises made to them and their inbound e-mail (issue 13)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from closeloop.domain.customer import ContactKind
from closeloop.domain.inbound_mail import AttachmentStatus
from closeloop.domain.promise import PromiseStatus

from ..types import UTCDateTime
from .base import Base, one_of


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
    __table_args__ = (UniqueConstraint("customer_id", "kind", "value", name="uq_customer_contact_point"),
                      one_of("kind", ContactKind))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(254))
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Promise(Base):
    """A promise to the customer (issue 13): who (``department``, optional ``person``), what (``kind``,
    ``description``), by when (``due_at``, UTC). ``status`` (open | kept | broken | cancelled) changes only
    through the domain's promise machine (audit rows ``entity = 'promise'``); ``kept_by_message_id`` or
    ``kept_by_task_id`` is the evidence that kept it. ``reminded_at``: the reminder before the due instant."""

    __tablename__ = "promise"
    __table_args__ = (Index("ix_promise_status_due", "status", "due_at"), one_of("status", PromiseStatus))
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


class InboundMail(Base):
    """One inbound e-mail as processed (IMAP poll or webhook): ``key`` is the SHA-256 of its Message-ID
    (of the raw bytes without one) and unique, so a message is processed once however often it is fetched.
    ``outcome`` (complaint | reply | ignored | quarantined) and ``reason`` (the loop, quarantine or threading
    reason) say what became of it; ``complaint_id`` where it landed. No address, subject or body here."""

    __tablename__ = "inbound_mail"
    __table_args__ = (Index("ix_inbound_mail_outcome_at", "outcome", "processed_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    via: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), nullable=True, index=True)
    size: Mapped[int] = mapped_column(Integer)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the last processing (reprocessing updates it)
    #: when closeloop first took the message in (kept when it is reprocessed); rows before revision 0017: processed_at
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MailQuarantine(Base):
    """The raw bytes of an inbound e-mail that could not be read (nothing is lost); the reason is on
    its :class:`InboundMail` row."""

    __tablename__ = "mail_quarantine"
    inbound_mail_id: Mapped[int] = mapped_column(ForeignKey("inbound_mail.id"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class Attachment(Base):
    """A file on a complaint: one that came with an inbound e-mail (``inbound_mail_id``), or one staff
    uploaded (issue 14: ``uploaded_by`` the actor, optionally on a ``task_id`` of the complaint and with the
    internal note ``message_id`` it came with). ``sha256`` names the stored file (content-addressed under
    ``CLOSELOOP_ATTACHMENT_DIR``); ``content_type`` is sniffed from the bytes, ``declared_type`` what the
    mail or the browser said. ``status`` refused (``reason`` too_large): not stored."""

    __tablename__ = "attachment"
    __table_args__ = (one_of("status", AttachmentStatus),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    inbound_mail_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_mail.id"), index=True, nullable=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"), index=True, nullable=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), nullable=True)
    uploaded_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    declared_type: Mapped[str] = mapped_column(String(100), default="")
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
