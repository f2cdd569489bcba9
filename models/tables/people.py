"""People (issue 14): the users work is assigned to and who are mentioned in notes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..types import UTCDateTime
from .base import Base


class User(Base):
    """A person who works complaints (table ``app_user``: ``user`` is a reserved word in PostgreSQL).

    ``handle`` is the unique, lower-case login name used in ``@handle`` mentions and assignments;
    ``departments`` the department names they work for (the first is their home: its channel and calendar
    are the fall-backs); ``role`` one of member, lead, manager, admin (as tokens); ``language`` en/zh;
    ``calendar`` a configured calendar name (None: the home department's) giving their time zone and
    working hours; ``notify`` their own delivery target (an e-mail address, a webhook URL or an Apprise
    URL; empty: the home department's channel).
    """

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    departments: Mapped[list] = mapped_column(JSON, default=list)
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="en")
    calendar: Mapped[str | None] = mapped_column(String(64), nullable=True)
    notify: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class Mention(Base):
    """``@handle`` of ``user_id`` in the internal note ``message_id`` (once per note and user)."""

    __tablename__ = "mention"
    __table_args__ = (UniqueConstraint("message_id", "user_id", name="uq_mention_message_user"),
                      Index("ix_mention_user_at", "user_id", "at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SavedView(Base):
    """A user's named filter/search of the complaint list (issue 14 §5): ``query`` is the list page's
    query string (``q``, ``status``, ``overdue``, ``sort``; normalised by ``services/reads/saved_views.py``)."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_view_user_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
