"""``UTCDateTime`` on SQLite: the fast parse of the stored text gives what the dialect's own parsing gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select, text

from models.types import UTCDateTime


def _table():
    meta = MetaData()
    return meta, Table("t", meta, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))


def test_written_instants_round_trip_as_aware_utc():
    engine = create_engine("sqlite://")
    meta, t = _table()
    meta.create_all(engine)
    values = [datetime(2026, 3, 4, 15, 0, tzinfo=UTC), datetime(2026, 3, 4, 15, 0, 0, 123, tzinfo=UTC),
              datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=8))), None]
    with engine.begin() as c:
        c.execute(t.insert(), [{"at": v} for v in values])
        got = c.execute(select(t.c.at).order_by(t.c.id)).scalars().all()
    assert got == [v.astimezone(UTC) if v else None for v in values]
    assert all(v is None or v.tzinfo is UTC for v in got)


def test_other_stored_forms_parse_as_the_dialect_parses_them():
    engine = create_engine("sqlite://")
    meta, t = _table()
    meta.create_all(engine)
    raw = ["2026-03-04 15:00:00", "2026-03-04 15:00:00.000123", "2026-03-04", "2026-03-04T01:02:03+08:00"]
    with engine.begin() as c:
        for r in raw:
            c.execute(text("INSERT INTO t (at) VALUES (:v)"), {"v": r})
        got = c.execute(select(t.c.at).order_by(t.c.id)).scalars().all()
    slow = UTCDateTime().impl.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
    assert got == [UTCDateTime().process_result_value(slow(r), engine.dialect) for r in raw]
    assert got[1] == datetime(2026, 3, 4, 15, 0, 0, 123, tzinfo=UTC)
