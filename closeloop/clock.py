"""The one injectable clock. Services ask it for the time; the domain is given the time.

``SystemClock`` is production; ``FixedClock`` drives tests and replay through
weeks of virtual time in seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, UTC-aware."""
        ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to. ``start`` must be UTC-aware."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("FixedClock start: naive datetime; an offset or UTC is required")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FixedClock.set: naive datetime; an offset or UTC is required")
        self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now
