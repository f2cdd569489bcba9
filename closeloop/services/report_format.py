"""Readable values for the reports (the replay report's HTML, the monthly review's HTML and Markdown).

Their summaries keep instants as ISO 8601 text and keys as written (``in_progress``, ``third_party``), for
JSON readers; the HTML shows an operations manager ``2023-07-01 00:00 America/New_York`` and ``in progress``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def instant(value: str | None, zone: str | None = None) -> str:
    """An ISO 8601 instant with an offset (``2023-07-01T04:00:00+00:00``) as ``2023-07-01 00:00 America/New_York``
    in ``zone`` (an IANA name), or ``2023-07-01 04:00 UTC`` without one; seconds dropped. ``None``: "no data".

    Raises ``ValueError`` for text that is no ISO instant, ``ZoneInfoNotFoundError`` for an unknown zone.
    """
    if value is None:
        return "no data"
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError(f"instant without an offset: {value!r}")
    return at.astimezone(ZoneInfo(zone) if zone else UTC).strftime("%Y-%m-%d %H:%M ") + (zone or "UTC")


def words(key: str) -> str:
    """A key as words: ``in_progress`` -> ``in progress``, ``third_party`` -> ``third party``."""
    return str(key).replace("_", " ")


def cause(code: str, names: Mapping[str, str] | None = None) -> str:
    """A root cause as people read it: its configured display name (``[improvement] root_causes``, as the
    dashboard shows it: ``third_party`` -> ``partner or third party``) when ``names`` has it, else the code
    in words (``third party``)."""
    return (names or {}).get(code) or words(code)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 complaint``, ``2 complaints``, ``0 complaints`` (``noun`` singular; plural ``plural``, default ``noun``
    with an ``s``: ``counted(2, "entry", "entries")``)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def shown(value: object) -> object:
    """A table value: a boolean as ``yes`` / ``no`` (never Python's ``True``), anything else as it is."""
    return ("yes" if value else "no") if isinstance(value, bool) else value


def register(env, root_causes: Mapping[str, str] | None = None) -> None:
    """Add the filters ``instant``, ``words``, ``shown``, ``counted`` and ``cause`` (display names from
    ``root_causes``: code -> name, the configuration's; None: the codes in words) to a Jinja2 environment."""
    env.filters.update(instant=instant, words=words, shown=shown, counted=counted,
                       cause=lambda code: cause(code, root_causes))
