"""Transactions for the services: one unit of work per use case.

``StaleDataError`` (an optimistic-lock miss on a ``version`` column, raised at
flush or commit) becomes :class:`~closeloop.domain.errors.Conflict`; any error
rolls everything back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from closeloop.domain.errors import Conflict

CONFLICT_MESSAGE = "the record was changed by someone else since it was read; reload and retry"


@contextmanager
def translate_conflicts(session: Session | None = None) -> Iterator[None]:
    """Turn an optimistic-lock miss inside the block into :class:`Conflict` (rolling ``session`` back)."""
    try:
        yield
    except StaleDataError as exc:
        if session is not None:
            session.rollback()
        raise Conflict(f"{CONFLICT_MESSAGE} ({exc})") from None
    except OperationalError as exc:
        # PostgreSQL deadlock (40P01) or serialization failure (40001): a concurrent change won
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate not in ("40P01", "40001"):
            raise
        if session is not None:
            session.rollback()
        raise Conflict(f"{CONFLICT_MESSAGE} (concurrent transaction: {sqlstate})") from None


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session inside a transaction; commit on success, roll back on any error."""
    session = sessions()
    try:
        with translate_conflicts(), session.begin():
            yield session
    finally:
        session.close()
