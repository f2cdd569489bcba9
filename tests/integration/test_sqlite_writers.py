"""SQLite writers wait for each other (busy timeout, BEGIN IMMEDIATE) instead of failing with
"database is locked": the embedded default runs a sweep and a delivery at the same moment."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from models.db import SQLITE_BUSY_TIMEOUT_S, make_engine


def _engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT NOT NULL, at REAL NOT NULL)")
    return engine


def test_connections_take_the_write_lock_up_front_and_wait_for_it(tmp_path):
    engine = _engine(tmp_path)
    with engine.connect() as c:
        raw = c.connection.dbapi_connection
        assert raw.isolation_level == "IMMEDIATE"
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == int(SQLITE_BUSY_TIMEOUT_S * 1000)
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_a_writer_waits_for_a_long_write_transaction_instead_of_failing(tmp_path):
    engine = _engine(tmp_path)
    holding = threading.Event()
    released = {}

    def long_writer():
        with engine.begin() as c:
            c.execute(text("INSERT INTO t (who, at) VALUES ('long', :at)"), {"at": time.time()})
            holding.set()
            time.sleep(1.5)  # a slow sweep batch holding the write lock
            released["at"] = time.time()

    th = threading.Thread(target=long_writer)
    th.start()
    assert holding.wait(10)
    Session = sessionmaker(engine)
    with Session() as s:  # reads first (outside the write lock), then writes: the delivery's pattern
        assert s.execute(text("SELECT count(*) FROM t")).scalar() in (0, 1)
        s.execute(text("INSERT INTO t (who, at) VALUES ('second', :at)"), {"at": time.time()})
        s.commit()
    committed = time.time()
    th.join()
    assert committed >= released["at"]  # it waited for the lock, then succeeded
    with engine.connect() as c:
        assert [r[0] for r in c.execute(text("SELECT who FROM t ORDER BY id"))] == ["long", "second"]
    engine.dispose()


def test_many_read_then_write_transactions_at_once_all_commit(tmp_path):
    engine = _engine(tmp_path)
    Session = sessionmaker(engine)
    errors: list[BaseException] = []

    def worker(name: str):
        try:
            for _ in range(25):
                with Session() as s:
                    n = s.execute(text("SELECT count(*) FROM t")).scalar()
                    s.execute(text("INSERT INTO t (who, at) VALUES (:w, :n)"), {"w": name, "n": n})
                    s.execute(text("UPDATE t SET at = at + 1 WHERE who = :w"), {"w": name})
                    s.commit()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM t")).scalar() == 100
    engine.dispose()


def test_a_transaction_opened_by_a_savepoint_waits_instead_of_failing_on_a_stale_snapshot(tmp_path):
    """The sweep's pattern: ``begin_nested()`` first, read, then write while another writer commits."""
    engine = _engine(tmp_path)
    Session = sessionmaker(engine)
    read_done, other_started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other_writer():
        assert read_done.wait(10)
        other_started.set()
        try:
            with Session() as b:
                b.execute(text("INSERT INTO t (who, at) VALUES ('other', 0)"))
                b.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    th = threading.Thread(target=other_writer)
    th.start()
    with Session() as a:
        with a.begin_nested():
            assert a.execute(text("SELECT count(*) FROM t")).scalar() == 0
            read_done.set()
            assert other_started.wait(10)
            time.sleep(0.5)  # the other writer is now waiting for (or, unfixed, has taken) the lock
            a.execute(text("INSERT INTO t (who, at) VALUES ('nested', 0)"))
        a.commit()
    th.join()
    assert errors == []
    with engine.connect() as c:
        assert [r[0] for r in c.execute(text("SELECT who FROM t ORDER BY id"))] == ["nested", "other"]
    engine.dispose()


def test_commits_are_durable_except_on_a_scratch_database(tmp_path):
    """The working database keeps SQLite's synchronous=FULL (a commit is on disk when it returns); a replay's
    scratch database skips the fsync (synchronous=OFF), and its journal is WAL all the same."""


    for scratch, expected in ((False, 2), (True, 0)):
        engine = make_engine(f"sqlite:///{tmp_path / f'db-{scratch}.db'}", scratch=scratch)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA synchronous")).scalar() == expected
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        finally:
            engine.dispose()
