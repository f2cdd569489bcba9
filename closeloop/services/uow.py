"""Transactions for the services: one unit of work per use case.

``StaleDataError`` (an optimistic-lock miss on a ``version`` column) becomes
:class:`~closeloop.domain.errors.Conflict`; any error rolls everything back.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from closeloop.domain.errors import Conflict


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session inside a transaction; commit on success, roll back on any error."""
    session = sessions()
    try:
        with session.begin():
            yield session
    except StaleDataError as exc:
        raise Conflict(f"the record was changed by someone else since it was read; reload and retry ({exc})") from None
    finally:
        session.close()


def commit_or_conflict(session: Session) -> None:
    """Commit ``session``; an optimistic-lock miss becomes :class:`Conflict` (and is rolled back)."""
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(f"the record was changed by someone else since it was read; reload and retry ({exc})") from None
