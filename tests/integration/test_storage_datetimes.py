"""CASES.md K9 (C29): instants keep their meaning on SQLite and PostgreSQL; naive ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError

from models.tables import Complaint
from models.types import NaiveDatetimeError

CST = timezone(timedelta(hours=8))


def _complaint(**kw) -> Complaint:
    now = datetime(2026, 1, 30, 9, 0, tzinfo=UTC)
    base = dict(source="test", external_ref="c29", status="triaged", severity="P3", risk_flags=[],
                triage_reasons=[], tags=[], extra={}, received_at=now, created_at=now, updated_at=now)
    base.update(kw)
    return Complaint(**base)


def test_c29_offset_survives_round_trip_and_comparisons(sessions):
    with sessions.begin() as s:
        s.add(_complaint(due_at=datetime(2026, 1, 30, 17, 30, tzinfo=CST)))
    with sessions() as s:
        due = s.scalar(select(Complaint.due_at))
        assert due == datetime(2026, 1, 30, 9, 30, tzinfo=UTC)
        assert due.tzinfo is not None and due.utcoffset() == timedelta(0)
        limit = datetime(2026, 1, 30, 10, 0, tzinfo=UTC)
        assert s.scalar(select(func.count()).where(Complaint.due_at < limit)) == 1
        assert s.scalar(select(func.count()).where(Complaint.due_at < limit - timedelta(minutes=31))) == 0
        # the case's literal form: an ISO string compared in SQL
        literal = "'2026-01-30T10:00:00Z'" if s.bind.dialect.name == "postgresql" else "'2026-01-30 10:00:00'"
        assert s.execute(text(f"SELECT count(*) FROM complaint WHERE due_at < {literal}")).scalar() == 1
        assert (due < datetime.now(UTC)) is True  # comparing with an aware now works


def test_naive_datetimes_are_rejected_at_the_boundary(sessions):
    with pytest.raises(StatementError) as exc:
        with sessions.begin() as s:
            s.add(_complaint(due_at=datetime(2026, 1, 30, 17, 30)))
    assert isinstance(exc.value.orig, NaiveDatetimeError)
    assert "naive datetime" in str(exc.value)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 0


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_sqlite_stores_utc_text(sessions):
    with sessions.begin() as s:
        s.add(_complaint(due_at=datetime(2026, 1, 30, 17, 30, tzinfo=CST)))
    with sessions() as s:
        raw = s.execute(text("SELECT due_at FROM complaint")).scalar()
        assert raw.startswith("2026-01-30 09:30:00")
