"""Cumulative business time of one local year: business-time arithmetic by bisection, not by walking.

A :class:`YearIndex` holds the UTC working periods of one local calendar year (Jan 1 to Dec 31 in the
calendar's zone), in order, with the business time used up before each. Instants and durations are
integer microseconds (UTC microseconds since 1970 for instants), so the arithmetic is exact to the
microsecond, as ``datetime`` is. Built once per (calendar, year) by
:class:`~closeloop.domain.calendar.BusinessCalendar`; the walk over periods stays there as the
reference the index is property-tested against (``tests/unit/test_calendar_index.py``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(instant: datetime) -> int:
    """UTC microseconds since 1970 of an aware ``instant``."""
    return (instant - _EPOCH) // _US


def from_us(us: int) -> datetime:
    """The UTC instant ``us`` microseconds after 1970 (raises ``OverflowError`` outside years 1-9999)."""
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class YearIndex:
    """``starts``/``ends``: the year's periods in UTC microseconds, ascending and disjoint; ``before[i]``: the
    business microseconds of periods ``0..i-1`` (``before[-1]`` is the year's total)."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    before: tuple[int, ...]

    @classmethod
    def build(cls, periods: Iterable[tuple[datetime, datetime]]) -> YearIndex:
        """From UTC ``(start, end)`` periods in order (each day's, day after day)."""
        starts, ends, before, total = [], [], [0], 0
        for s, e in periods:
            su, eu = to_us(s), to_us(e)
            starts.append(su)
            ends.append(eu)
            total += eu - su
            before.append(total)
        return cls(tuple(starts), tuple(ends), tuple(before))

    @property
    def total(self) -> int:
        """Business microseconds in the whole year."""
        return self.before[-1]

    def elapsed(self, t: int) -> int:
        """Business microseconds of the year before the instant ``t`` (UTC microseconds)."""
        i = bisect_right(self.ends, t)  # periods 0..i-1 are over by t
        partial = t - self.starts[i] if i < len(self.starts) and self.starts[i] < t else 0
        return self.before[i] + partial

    def instant(self, used: int) -> int:
        """The instant at which ``used`` business microseconds of the year are used up (``0 < used <=
        total``): inside the first period whose cumulative end reaches it, possibly its closing time."""
        j = bisect_left(self.before, used, 1) - 1
        return self.starts[j] + (used - self.before[j])
