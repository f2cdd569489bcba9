"""Saved views (issue 14 §5): a user's named filter/search of the complaint list.

A view is the list page's query (``q``, ``status``, ``overdue``, ``sort``), normalised here (unknown keys
dropped, values checked: ``InvalidInput`` naming the field) and stored per user (``saved_view``) under a
name unique for that user. The API (``GET/POST/DELETE /api/v1/me/views``) and the dashboard (the list page's
"save this view", the views in the header's navigation) share these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import delete, func, select

from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.errors import InvalidInput, NotFound, refuse_nul
from closeloop.services.reads.search import MAX_QUERY_CHARS, ComplaintSort
from closeloop.services.uow import unit_of_work
from models.tables import SavedView

MAX_NAME = 80
MAX_VIEWS = 50


@dataclass(frozen=True)
class ViewQuery:
    """What a view selects: search text, one status, overdue only, the order."""

    q: str = ""
    status: str | None = None
    overdue: bool = False
    sort: str = str(ComplaintSort.RECEIVED_DESC)

    def query_string(self) -> str:
        """The list page's query string (only what differs from the defaults, in a fixed order)."""
        return urlencode({k: v for k, v in {"q": self.q, "status": self.status or "",
                                            "overdue": "true" if self.overdue else "", "sort": self.sort}.items()
                          if v})


@dataclass(frozen=True)
class View:
    id: int
    name: str
    query: str
    created_at: datetime

    @property
    def url(self) -> str:
        return "/complaints" + (f"?{self.query}" if self.query else "")


def normalise(q: str | None = None, status: str | None = None, overdue: bool = False,
              sort: str | None = None) -> ViewQuery:
    """A checked :class:`ViewQuery`; ``InvalidInput`` naming ``q``, ``status`` or ``sort``."""
    q = (q or "").strip()
    refuse_nul("q", q)
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput("q", f"longer than {MAX_QUERY_CHARS} characters")
    if status and status not in {str(s) for s in ComplaintStatus}:
        raise InvalidInput("status", f"unknown status {status!r}")
    sort = sort or str(ComplaintSort.RECEIVED_DESC)
    if sort not in {str(s) for s in ComplaintSort}:
        raise InvalidInput("sort", f"unknown order {sort!r}")
    return ViewQuery(q, status or None, bool(overdue), sort)


def _name(name: str) -> str:
    refuse_nul("name", name)
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("name", "a view needs a name")
    if len(name) > MAX_NAME:
        raise InvalidInput("name", f"longer than {MAX_NAME} characters")
    return name


def list_views(sessions, user_id: int) -> list[View]:
    """The user's views, by name."""
    with sessions() as s:
        rows = s.scalars(select(SavedView).where(SavedView.user_id == user_id).order_by(SavedView.name, SavedView.id))
        return [View(v.id, v.name, v.query, v.created_at) for v in rows]


def save_view(sessions, user_id: int, name: str, query: ViewQuery, *, at: datetime) -> View:
    """Save ``query`` as the user's view ``name``, replacing the user's view of that name. Raises
    ``InvalidInput`` (``name``: empty, too long, or over :data:`MAX_VIEWS` views)."""
    name = _name(name)
    with unit_of_work(sessions) as s:
        row = s.scalar(select(SavedView).where(SavedView.user_id == user_id, SavedView.name == name))
        if row is None:
            if (s.scalar(select(func.count()).select_from(SavedView).where(SavedView.user_id == user_id)) or 0) \
                    >= MAX_VIEWS:
                raise InvalidInput("name", f"at most {MAX_VIEWS} saved views; delete one first")
            row = SavedView(user_id=user_id, name=name, query=query.query_string(), created_at=at)
            s.add(row)
        else:
            row.query, row.created_at = query.query_string(), at
        s.flush()
        return View(row.id, row.name, row.query, row.created_at)


def delete_view(sessions, user_id: int, view_id: int) -> None:
    """Delete the user's view ``view_id``; ``NotFound`` when the user has no such view."""
    with unit_of_work(sessions) as s:
        gone = s.execute(delete(SavedView).where(SavedView.id == view_id, SavedView.user_id == user_id))
        if not getattr(gone, "rowcount", 0):
            raise NotFound("saved view", view_id)
