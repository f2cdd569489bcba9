"""Bulk inserts that skip rows whose unique key exists (``INSERT ... ON CONFLICT DO NOTHING``).

Concurrent writers of the same key never fail: PostgreSQL waits for the other transaction and
skips; SQLite serialises writers. The one place the dialect-specific insert is chosen.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.orm import Session


def insert_new(session: Session, table: Table, rows: list[dict], *, key: list[str], returning,
               page: int = 500) -> list:
    """Insert ``rows`` into ``table``, skipping those whose ``key`` columns (a unique constraint) already
    exist; returns the ``returning`` column's values of the rows inserted. One statement per ``page``."""
    if not rows:
        return []
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(table).on_conflict_do_nothing(index_elements=key).returning(returning)
    out: list = []
    for i in range(0, len(rows), page):
        out.extend(session.scalars(stmt, rows[i:i + page]).all())
    return out
