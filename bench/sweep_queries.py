"""The sweep benchmark's bare-query measurements: the sweep's own selects, timed and explained."""


from __future__ import annotations

import gc
import re
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_data import NOW, RESCHEDULE_SWEEP, SECOND_SWEEP, _flag_dirty  # noqa: E402


def _statements(now: datetime, batch: int):
    """The three set-based selects of ``closeloop/services/engine/sweep.py``, built the same way."""
    from sqlalchemy import select

    from models.tables import Complaint, Notification, Timer

    return {
        "dirty complaints": select(Complaint.id, Complaint.version).where(
            Complaint.timers_dirty.is_(True), Complaint.id > 0).order_by(Complaint.id).limit(batch),
        "due timers": select(Timer).where(Timer.status == "pending", Timer.fire_at <= now)
        .order_by(Timer.fire_at, Timer.id).limit(batch),
        "due timers, no LIMIT": select(Timer).where(Timer.status == "pending", Timer.fire_at <= now)
        .order_by(Timer.fire_at, Timer.id),
        "pending notifications": select(Notification).where(Notification.status == "pending",
                                                            Notification.release_at <= now)
        .order_by(Notification.id),
    }



class StatementTimer:
    """Counts and times (cursor execute) every statement an engine sends, by statement text."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.by_sql: dict[str, list] = defaultdict(lambda: [0, 0.0])
        self.phase = "-"
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["_bench_t0"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        e = self.by_sql[(self.phase, _SAVEPOINT.sub(r"\1N", statement))]
        e[0] += 1
        e[1] += time.perf_counter() - conn.info.pop("_bench_t0")

    def take(self, phase: str) -> list[dict]:
        rows = [{"sql": _short_sql(sql), "count": n, "seconds": secs}
                for (ph, sql), (n, secs) in self.by_sql.items() if ph == phase]
        return sorted(rows, key=lambda r: -r["seconds"])


_SAVEPOINT = re.compile(r"\b(sa_savepoint_)\d+")


def _short_sql(sql: str) -> str:
    s = re.sub(r"%\((\w+)\)s(::\w+(\(\d+\))?)?", "?", " ".join(sql.split()))  # psycopg placeholders
    m = re.match(r"(?i)(SELECT)\s.*?\sFROM\s+(\w+)(.*)", s)
    if m:
        rest = m.group(3)
        where = re.search(r"(?i)\bWHERE\s+(.*?)(\s+ORDER BY.*|\s+LIMIT.*|$)", rest)
        tail = " ORDER BY" if re.search(r"(?i)ORDER BY", rest) else ""
        tail += " LIMIT" if re.search(r"(?i)\bLIMIT\b", rest) else ""
        return f"SELECT {m.group(2)} WHERE {where.group(1)[:70] if where else '-'}{tail}"
    m = re.match(r"(?i)(INSERT INTO|UPDATE)\s+(\w+)\s*(.*)", s)
    if m:
        where = re.search(r"(?i)\bWHERE\s+(.*)", m.group(3))
        return f"{m.group(1).upper()} {m.group(2)}" + (f" WHERE {where.group(1)[:60]}" if where else "")
    return s[:80]


def _time_query(engine, stmt, repeats: int) -> dict:
    """``repeats`` executions on one pooled connection, all rows fetched (the first one compiles the statement)."""
    times, rows = [], 0
    with engine.connect() as conn:
        for _ in range(repeats):
            t0 = time.perf_counter()
            rows = len(conn.execute(stmt).all())
            times.append(time.perf_counter() - t0)
        conn.rollback()
    return {"rows": rows, "first_ms": times[0] * 1000, "median_ms": statistics.median(times) * 1000,
            "min_ms": min(times) * 1000}


def measure_queries(url: str, batch: int, repeats: int) -> dict:
    """The sweep's selects timed (``repeats`` runs each, ms) and explained, and its steps run one by one
    with every statement counted and timed, on the database at ``url``; a JSON-ready dict with
    ``queries``, ``phases``, ``statements``, ``plans``, ``report`` and ``flagged_dirty``."""
    from closeloop.config import load_config
    from closeloop.services.engine import sweep as sweep_mod
    from closeloop.services.engine import sweep_fire, sweep_pack
    from closeloop.services.engine.sweep import SweepReport
    from models.db import make_engine, make_sessions

    config = load_config()
    engine = make_engine(url)
    sessions = make_sessions(engine)
    m = _Measure(engine, _statements(NOW, batch), repeats)
    with engine.connect() as conn:  # open the pooled connection before anything is timed
        conn.exec_driver_sql("SELECT 1")
    # what the first sweep's selects see: nothing dirty, every due timer pending
    m.query("dirty complaints, none dirty (LIMIT batch)", "dirty complaints")
    m.query("due timers (LIMIT batch, first batch)", "due timers")
    m.query("due timers, all at once (no LIMIT)", "due timers, no LIMIT")
    m.plan("dirty complaints")
    m.plan("due timers")
    m.out["floor"] = bare_floor(engine, NOW)
    # the sweep's steps one by one (the same sequence as sweep()), every statement timed
    m.timer = StatementTimer(engine)
    report = SweepReport()
    m.phase("1 reschedule dirty", lambda: sweep_mod._reschedule_dirty(sessions, config, NOW, batch, report))
    m.phase("2 fire due timers", lambda: sweep_fire.fire_due(sessions, config, NOW, batch, report))
    m.query("pending notifications (all, as packed)", "pending notifications")
    m.plan("pending notifications")
    m.phase("3 reschedule dirty (after firing)",
            lambda: sweep_mod._reschedule_dirty(sessions, config, NOW, batch, report))
    m.phase("4 pack digests", lambda: sweep_pack.pack(sessions, NOW, report))
    m.out["report"] = report.as_dict()
    # what the second sweep's selects see: nothing left
    stm2 = _statements(SECOND_SWEEP, batch)
    m.out["queries"]["due timers after sweep 1 (LIMIT batch)"] = _time_query(engine, stm2["due timers"], repeats)
    m.out["queries"]["pending notifications after sweep 1"] = _time_query(engine, stm2["pending notifications"],
                                                                          repeats)
    # the reschedule pass
    m.out["flagged_dirty"] = _flag_dirty(engine)
    m.out["queries"]["dirty complaints, 1% dirty (LIMIT batch)"] = _time_query(
        engine, _statements(RESCHEDULE_SWEEP, batch)["dirty complaints"], repeats)
    m.phase("reschedule pass: reschedule dirty", lambda: sweep_mod._reschedule_dirty(
        sessions, config, RESCHEDULE_SWEEP, batch, SweepReport()))
    engine.dispose()
    return m.out


def bare_floor(engine, now: datetime, page: int = 500) -> dict:
    """The bare SQL the first sweep's database phase needs, in one transaction rolled back afterwards
    (Core, no ORM objects, no per-row Python beyond building the rows): select the due timers, mark them
    fired by primary key (``page`` ids a statement), insert one notification per timer (a driver
    executemany of rows shaped as the sweep's, English text and params included), select the released
    notifications, insert one outbox row per 200 and mark the notifications packed by primary key.
    Returns seconds by step and in total."""
    from sqlalchemy import insert, select, update

    from models.tables import Notification, Outbox, Timer

    tt, nt, ot = Timer.__table__, Notification.__table__, Outbox.__table__
    steps: dict[str, float] = {}
    with engine.connect() as conn:
        def step(name, fn):
            t0 = time.perf_counter()
            out = fn()
            steps[name] = time.perf_counter() - t0
            return out

        due = step("select due timers", lambda: conn.execute(
            select(tt.c.id, tt.c.key, tt.c.kind, tt.c.complaint_id, tt.c.task_id, tt.c.fire_at, tt.c.data)
            .where(tt.c.status == "pending", tt.c.fire_at <= now).order_by(tt.c.fire_at, tt.c.id)).all())
        ids = [r.id for r in due]
        step("mark fired (by id)", lambda: [conn.execute(update(tt).where(tt.c.id.in_(ids[i:i + page]))
                                                        .values(status="fired", fired_at=now))
                                            for i in range(0, len(ids), page)])
        rows = [{"key": r.key, "kind": r.kind, "level": 1, "role": "assignee", "recipient": "operations queue",
                 "address": "capture://ops|operations queue", "channel": "capture", "target": "capture://ops",
                 "language": "en", "department": "operations", "complaint_id": r.complaint_id,
                 "improvement_id": None, "task_id": r.task_id, "fired_at": now, "release_at": now,
                 "status": "pending", "data": {"text": "Task 123 has used 80 % of its time: Investigate the "
                                               "account activity in dispute", "params": dict(r.data or {}),
                                               "due": now.isoformat(), "due_local": "2026-03-04 10:00 -0500"}}
                for r in due]
        if rows:
            step("insert notifications", lambda: conn.execute(insert(nt), rows))
        pending = step("select released notifications", lambda: conn.execute(
            select(nt.c.id, nt.c.key, nt.c.address, nt.c.data).where(nt.c.status == "pending",
                                                                       nt.c.release_at <= now)
            .order_by(nt.c.id)).all())
        nids = [r.id for r in pending]

        def pack():
            for i in range(0, len(nids), 200):
                oid = conn.execute(insert(ot).values(idempotency_key=f"floor:{i}", channel="capture",
                                                     target="capture://ops", recipient="ops", subject="s",
                                                     body="b" * 8000, payload={}, status="pending", attempts=0,
                                                     next_attempt_at=now, created_at=now)
                                   .returning(ot.c.id)).scalar_one()
                conn.execute(update(nt).where(nt.c.id.in_(nids[i:i + 200])).values(status="packed", outbox_id=oid))
        step("outbox rows, mark packed (by id)", pack)
        conn.rollback()
    return {"steps": steps, "seconds": sum(steps.values()), "timers": len(ids)}


class _Measure:
    """The figures of :func:`measure_queries` as they are taken: named statements timed and explained,
    and phases run under a :class:`StatementTimer` (set ``timer`` before the first phase)."""

    def __init__(self, engine, statements: dict, repeats: int):
        self.engine, self.statements, self.repeats = engine, statements, repeats
        self.timer: StatementTimer | None = None
        self.out: dict = {"queries": {}, "phases": [], "statements": {}, "plans": {}}

    def query(self, label: str, name: str) -> None:
        """Time statement ``name`` under ``label`` (see :func:`_time_query`)."""
        self.out["queries"][label] = _time_query(self.engine, self.statements[name], self.repeats)

    def plan(self, name: str) -> None:
        """The query plan of statement ``name``, or one line saying why there is none."""
        try:
            self.out["plans"][name] = _plans(self.engine, self.statements[name])
        except Exception as exc:  # noqa: BLE001 - a plan is a nicety
            self.out["plans"][name] = [f"(no plan: {exc})"]

    def phase(self, name: str, fn) -> None:
        """Run ``fn`` as phase ``name``: its wall seconds, statement count and SQL seconds, and its eight
        slowest statements."""
        timer = self.timer
        assert timer is not None, "set timer before the first phase"
        timer.phase = name
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        timer.phase = "-"
        stmts = timer.take(name)
        self.out["phases"].append({"phase": name, "seconds": secs, "cpu_seconds": cpu,
                                   "statements": sum(s["count"] for s in stmts),
                                   "sql_seconds": sum(s["seconds"] for s in stmts)})
        self.out["statements"][name] = stmts[:8]


def _plans(engine, stmt) -> list[str]:
    """The query plan of ``stmt`` (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL)."""
    with engine.connect() as conn:
        compiled = stmt.compile(dialect=engine.dialect)
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), _sqlite_params(compiled)).all()
            return [r[-1] for r in rows]
        sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        return [r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql)]


def _sqlite_params(compiled) -> tuple:
    params = compiled.construct_params()
    out = []
    for k in compiled.positiontup:
        v = params[k]
        if isinstance(v, datetime):
            v = v.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
        out.append(v)
    return tuple(out)


