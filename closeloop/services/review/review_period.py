"""Reporting periods of the monthly review: ``2026-10`` -> the month in the customer calendar's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from closeloop.domain.errors import InvalidInput

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR = 1970  #: the earliest year a month may be in (no complaint is older)
LAST_MONTH = "9999-11"  #: the latest month: the next one ends at the end of year 9999, the last a datetime holds


@dataclass(frozen=True)
class Period:
    """A calendar month ``[start, end)`` as UTC-aware instants, cut at local midnight of ``zone``."""

    label: str  # "2026-10"
    zone: str
    start: datetime
    end: datetime

    def months_back(self, n: int) -> list[Period]:
        """This period and the ``n - 1`` months before it, oldest first."""
        y, m = self.first_day.year, self.first_day.month
        out = []
        for i in range(n - 1, -1, -1):
            yy, mm = divmod((y * 12 + m - 1) - i, 12)
            out.append(month(f"{yy:04d}-{mm + 1:02d}", self.zone))
        return out

    @property
    def first_day(self) -> date:
        return self.start.astimezone(ZoneInfo(self.zone)).date()


def month(text: str, zone: str) -> Period:
    """Parse ``YYYY-MM`` into a :class:`Period` in the IANA ``zone``.

    Raises :class:`InvalidInput` (field ``period``) for anything else, e.g. ``2026-13`` or ``Oct 2026``, and for a
    month out of range (before :data:`FIRST_YEAR` or after :data:`LAST_MONTH`).
    """
    m = _MONTH.match(text or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InvalidInput("period", f"expected a month as YYYY-MM (e.g. 2026-10), got {text!r}")
    if not f"{FIRST_YEAR}-01" <= text <= LAST_MONTH:
        raise InvalidInput("period", f"{text} is out of range: a month from {FIRST_YEAR}-01 to {LAST_MONTH}")
    y, mo = int(m.group(1)), int(m.group(2))
    tz = ZoneInfo(zone)
    ny, nm = (y + 1, 1) if mo == 12 else (y, mo + 1)
    start = datetime(y, mo, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(ny, nm, 1, tzinfo=tz).astimezone(UTC)
    return Period(f"{y:04d}-{mo:02d}", zone, start, end)


def previous_month(now: datetime, zone: str) -> Period:
    """The month before the one containing the UTC-aware ``now`` in ``zone`` (what a monthly review covers)."""
    local = now.astimezone(ZoneInfo(zone))
    y, m = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return month(f"{y:04d}-{m:02d}", zone)
