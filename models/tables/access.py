"""Access and search: API tokens, dashboard sessions and the complaint search documents (issue 14)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..types import UTCDateTime
from .base import Base


class ApiToken(Base):
    """An API token (issue 7). Only the SHA-256 of the secret is stored; ``prefix`` identifies it.

    ``role`` is one of ``member``, ``lead``, ``manager``, ``admin``; members and leads carry the
    ``department`` they act for. ``language`` (``en``/``zh``) is the holder's dashboard language.
    ``revoked_at`` set means the token no longer authenticates. ``user_id``: the person it belongs to
    (issue 14), if any ("my tasks", mentions).
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
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True, index=True)


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
