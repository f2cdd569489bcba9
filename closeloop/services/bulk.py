"""Bulk inserts that skip rows whose unique key exists (``INSERT ... ON CONFLICT DO NOTHING``).

Concurrent writers of the same key never fail: PostgreSQL waits for the other transaction and
skips; SQLite serialises writers. The one place the dialect-specific insert is chosen.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_new(session: Session, table: Table, rows: list[dict], *, key: list[str], returning,
               page: int = 500) -> list:
    """Insert ``rows`` into ``table``, skipping those whose ``key`` columns (a unique constraint) already
    exist; returns the ``returning`` column's values of the rows inserted. One statement per ``page``."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=key).returning(returning)
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=key).returning(returning)
    out: list = []
    for i in range(0, len(rows), page):
        out.extend(session.scalars(stmt, rows[i:i + page]).all())
    return out


def rowcount(result: Result[Any]) -> int:
    """The number of rows matched by the UPDATE or DELETE whose ``session.execute`` gave ``result``
    (a ``CursorResult`` at run time; ``Session.execute`` is typed as returning any ``Result``)."""
    return cast(CursorResult[Any], result).rowcount


def enqueue(session: Session, *, key: str, channel: str, target: str, recipient: str, subject: str, body: str,
            payload: dict, now) -> int | None:
    """Put one message in the outbox (status ``pending``, due ``now``); returns its id, or None when a
    message with this idempotency ``key`` exists already (a re-run or a concurrent sweep made it)."""
    from models.tables import Outbox

    ot = Outbox.__table__
    ids = insert_new(session, ot, [{"idempotency_key": key, "channel": channel, "target": target,
                                    "recipient": recipient, "subject": subject, "body": body, "payload": payload,
                                    "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}],
                     key=["idempotency_key"], returning=ot.c.id)
    return ids[0] if ids else None
