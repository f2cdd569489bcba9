"""The catch-up's fast paths (issue 17, session 9) keep the answers of the paths they replaced: found by a
review of that change, each case failed before its fix.

- PostgreSQL inserts of many rows (``unnest`` arrays) reject an over-long value as ``VALUES`` does, instead
  of cutting it (two keys sharing their first 200 characters became one);
- a batch mixing ``0`` and ``1.0`` in one column is stored (psycopg cannot send it as one array);
- chain ranks treat odd ``params`` values (``""``, ``true``, ``"80"``) as the Python ranking always did, on
  both databases (reading ``pct`` as a float failed on PostgreSQL for ``""`` and booleans, every sweep);
- packing goes on when another sweep packs a whole page between its two reads (ids, then rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import DBAPIError

from closeloop.domain.notices import chain_rank
from closeloop.services import bulk
from closeloop.services.engine import sweep_pack
from closeloop.services.engine.sweep import SweepReport
from models.db import make_sessions
from models.tables import Notification, Outbox, Task

from ..conftest import _truncate_pg
from .helpers import facts, intake
from .test_sweep import SH, engine_config

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def pg_sessions(pg_engine):
    """PostgreSQL only: the cases below are about its casts and its READ COMMITTED isolation (SQLite does not
    enforce VARCHAR lengths, and its writers take turns)."""
    _truncate_pg(pg_engine)
    return make_sessions(pg_engine)


def _row(i: int, **over) -> dict:
    row = {"idempotency_key": f"k{i:03d}", "channel": "webhook", "target": "http://127.0.0.1:9/x",
           "recipient": f"ops {i}", "subject": f"s{i}", "body": "b", "payload": {"n": i},
           "status": "pending", "attempts": 0, "next_attempt_at": AT, "created_at": AT}
    row.update(over)
    return row


@pytest.mark.parametrize("n", [3, bulk._UNNEST_FROM])
def test_an_over_long_value_is_rejected_not_cut(pg_sessions, n):
    ot = Outbox.__table__
    rows = [_row(i) for i in range(n - 1)] + [_row(n, idempotency_key="x" * 250)]
    with pytest.raises(DBAPIError, match="too long"):
        with pg_sessions.begin() as s:
            bulk.insert_new(s, ot, rows, key=["idempotency_key"], returning=ot.c.idempotency_key)
    with pg_sessions() as s:
        assert s.scalar(select(Outbox.id)) is None  # nothing of the batch landed


@pytest.mark.parametrize("n", [3, bulk._UNNEST_FROM])
def test_mixed_int_and_float_values_of_one_column_are_stored(sessions, n):
    ot = Outbox.__table__
    rows = [_row(i, attempts=1.0 if i % 2 else 0) for i in range(n)]
    with sessions.begin() as s:
        bulk.insert_new(s, ot, rows, key=["idempotency_key"], returning=ot.c.id)
    with sessions() as s:
        assert sorted(s.scalars(select(ot.c.attempts))) == sorted(1 if i % 2 else 0 for i in range(n))


def _python_detail(data) -> int:
    """The ranking's rule as written before the change (``sweep_pack._detail`` at 7b16f26)."""
    params = (data or {}).get("params") or {}
    return int(params.get("pct") or params.get("page") or params.get("level") or 0)


@pytest.mark.parametrize("pct", ["", True, False, "80", 80, 0, None])
def test_chain_ranks_read_params_as_the_python_rule_does(sessions, pct):
    config = engine_config()
    created = datetime(2026, 3, 6, 10, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("FPchain", created)])
    with sessions() as s:
        tid = s.scalar(select(Task.id).order_by(Task.id).limit(1))
    data = {"text": "t", "params": {"pct": pct, "level": 2}}
    with sessions.begin() as s:
        s.add(Notification(key="fp:reminder", kind="reminder", level=0, role="assignee", recipient="ann",
                           address="a|ann", channel="webhook", target="http://x", task_id=tid, fired_at=AT,
                           release_at=AT, status="packed", data=data))
    want = chain_rank("reminder", 0, _python_detail(data))
    assert want is not None
    with sessions() as s:
        top = sweep_pack._chain_tops(s, [SimpleNamespace(task_id=tid)], sweep_pack._ChainTops())
    assert top == {(tid, "a|ann", "assignee", want[0]): want[1]}


def test_packing_goes_on_when_another_sweep_packs_a_whole_page_between_its_two_reads(pg_sessions):
    engine = pg_sessions.kw["bind"]
    with pg_sessions.begin() as s:
        for i in range(3):
            s.add(Notification(key=f"fp:n{i}", kind="mention", level=0, role="assignee", recipient=f"r{i}",
                               address=f"a{i}|r{i}", channel="webhook", target=f"http://x/{i}", fired_at=AT,
                               release_at=AT, status="pending",
                               data={"text": f"t{i}", "params": {"author": "bo", "complaint": 1, "excerpt": "e"}}))
    with pg_sessions() as s:
        first = s.scalar(select(Notification.id).order_by(Notification.id).limit(1))
    done: list[int] = []

    def other_sweep(conn, cursor, statement, parameters, context, executemany):
        if not done and statement.startswith("SELECT notification.id"):  # the page's ids were just read
            done.append(1)
            with engine.begin() as other:  # another worker packs that page meanwhile
                other.execute(update(Notification.__table__).where(Notification.__table__.c.id == first)
                              .values(status="packed"))

    event.listen(engine, "after_cursor_execute", other_sweep)
    try:
        report = SweepReport()
        sweep_pack.pack(pg_sessions, AT + timedelta(minutes=1), report, page=1)
    finally:
        event.remove(engine, "after_cursor_execute", other_sweep)
    assert done
    with pg_sessions() as s:
        left = s.scalars(select(Notification.key).where(Notification.status == "pending")).all()
    assert left == [] and report.messages == 2
