"""Small shared pieces of the routers: bounded ids and instants, the ``If-Match`` version, converters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from closeloop.services.engine.clocks import ClockView
from models.types import MAX_ID

from .errors import ApiError
from .schemas import ClockOut, Instant  # noqa: F401 - re-exported for the routers

Id = Annotated[int, Path(ge=1, le=MAX_ID)]

def version_of(body_version: int | None, if_match: str | None) -> int | None:
    """The version a write expects: the body's ``version``, else ``If-Match`` (``3``, ``"3"`` or ``W/"3"``)."""
    if body_version is not None:
        return body_version
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not (raw.isascii() and raw.isdigit()) or not (1 <= int(raw) <= MAX_ID):  # "²".isdigit() is true
        raise ApiError(422, f"If-Match: {if_match!r} is not a version number", code="invalid_input", field="If-Match")
    return int(raw)


def _hours(td) -> float | None:
    return None if td is None else round(td.total_seconds() / 3600, 4)


def clock_out(v: ClockView) -> ClockOut:
    c = v.clock
    return ClockOut(owner=v.owner, name=c.name, status=str(c.status), breached=c.breached,
                    target_hours=_hours(c.target), elapsed_hours=_hours(c.elapsed) or 0.0,
                    paused_hours=_hours(c.paused) or 0.0, remaining_hours=_hours(c.remaining), due_at=c.due_at,
                    stopped_at=c.stopped_at, calendar=v.calendar_name, zone=v.zone,
                    handed_to_task=v.handed_to_task, handed_to_department=v.handed_to_department)
