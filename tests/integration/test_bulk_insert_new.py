"""``bulk.insert_new``: rows whose key exists are skipped and only the new keys come back, on both backends and
on both of PostgreSQL's paths (multi-row ``VALUES`` below ``_UNNEST_FROM`` rows, ``unnest`` arrays from it),
with every value stored as an ORM insert would store it (aware instants, JSON, NULLs, long text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from closeloop.services import bulk
from models.tables import Outbox

AT = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))


def _row(i: int) -> dict:
    return {"idempotency_key": f"k{i:03d}", "channel": "webhook", "target": "http://127.0.0.1:9/x",
            "recipient": f"ops {i}", "subject": f"subject \"{i}\" {{a,b}}", "body": "line\\n'é' 退款 " * (i % 3 + 1),
            "payload": {"n": i, "nested": {"list": [1, None, "x"]}, "flag": i % 2 == 0},
            "status": "pending", "attempts": 0, "next_attempt_at": AT + timedelta(seconds=i), "created_at": AT}


@pytest.mark.parametrize("n", [3, bulk._UNNEST_FROM + 10])
def test_insert_new_skips_existing_keys_and_stores_values_as_given(sessions, n):
    ot = Outbox.__table__
    with sessions.begin() as s:
        first = bulk.insert_new(s, ot, [_row(i) for i in range(0, n, 2)], key=["idempotency_key"],
                                returning=ot.c.idempotency_key)
    assert sorted(first) == [f"k{i:03d}" for i in range(0, n, 2)]
    with sessions.begin() as s:
        second = bulk.insert_new(s, ot, [_row(i) for i in range(n)], key=["idempotency_key"],
                                 returning=ot.c.idempotency_key)
    assert sorted(second) == [f"k{i:03d}" for i in range(1, n, 2)]  # only the keys not there before
    with sessions() as s:
        stored = {o.idempotency_key: o for o in s.scalars(select(Outbox))}
    assert len(stored) == n
    for i in range(n):
        o, want = stored[f"k{i:03d}"], _row(i)
        assert (o.recipient, o.subject, o.body, o.payload) == (want["recipient"], want["subject"], want["body"],
                                                                want["payload"])
        assert o.next_attempt_at == want["next_attempt_at"].astimezone(UTC)
        assert o.next_attempt_at.tzinfo is not None
        assert o.dead_reason is None and o.delivered_at is None
