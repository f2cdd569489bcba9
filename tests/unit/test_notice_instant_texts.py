"""A notice's due texts are memoised; the two instants of a repeated local hour keep their own texts (aware
datetimes of one zone compare equal across ``fold``, so a cache keyed on them answered one with the other's)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from closeloop.services.engine import notify

NY = ZoneInfo("America/New_York")


def test_the_two_instants_of_a_repeated_local_hour_keep_their_texts():
    """01:30 on 2026-11-01 happens twice in New York (fold=0: EDT, 05:30Z; fold=1: EST, 06:30Z)."""
    first = datetime(2026, 11, 1, 1, 30, tzinfo=NY)
    second = first.replace(fold=1)
    assert first.astimezone(UTC) != second.astimezone(UTC)
    assert notify._utc_text(first) == "2026-11-01T05:30:00+00:00"
    assert notify._utc_text(second) == "2026-11-01T06:30:00+00:00"
    assert notify._local_text(first, NY) == "2026-11-01 01:30 -0400"
    assert notify._local_text(second, NY) == "2026-11-01 01:30 -0500"
