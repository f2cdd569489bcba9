"""``UTCDateTime``: an aware-UTC datetime column that round-trips on SQLite and PostgreSQL.

``DateTime(timezone=True)`` only changes DDL on backends with a time-zone
type; SQLite stores the wall-clock text and returns it naive, so an instant
with a +08:00 offset would move by eight hours (CASES.md C29). This type:

- rejects naive datetimes on the way in (``ValueError`` naming the problem);
- converts every value to UTC before binding (on SQLite stored as naive UTC
  text, so string order is time order and bound comparisons are correct);
- returns aware UTC datetimes on the way out, on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from closeloop.domain.errors import NaiveDatetimeError
from closeloop.domain.ids import MAX_ID  # re-exported: the routers and the CLI read it here

__all__ = ["MAX_ID", "NaiveDatetimeError", "UTCDateTime"]



class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime expects a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetimeError(
                f"naive datetime {value.isoformat()} rejected: store instants with an offset (UTC)"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def result_processor(self, dialect, coltype):
        """On SQLite, the stored text parsed by ``datetime.fromisoformat`` (about ten times faster than
        the dialect's regular expression; the sweep and the scheduler read millions of instants), the
        dialect's own parsing for any other form; elsewhere the decorator's processing."""
        slow = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or slow is None:
            return slow
        parse = datetime.fromisoformat

        def process(value):
            if value is None:  # what the dialect's processing gives for NULL (many stamps and due instants)
                return None
            # only the dialect's own storage form, "YYYY-MM-DD HH:MM:SS[.ffffff]" (naive UTC), read with its
            # offset (``datetime.UTC`` itself, ten times faster than ``.replace(tzinfo=UTC)``)
            if value.__class__ is str and len(value) in (19, 26) and value[10] == " ":
                try:
                    return parse(value + "+00:00")
                except ValueError:
                    pass
            return slow(value)
        return process

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
