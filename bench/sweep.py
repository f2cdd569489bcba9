"""Sweep benchmark: ``closeloop.services.sweep.sweep`` on 100,000 open complaints with 300,000 tasks.

Builds a database directly with bulk Core inserts (not through the import:
that is ``bench/import.py``'s job), in the state the engine leaves it in after
scheduling:

- ``--complaints`` open (``triaged``) complaints, ``timers_dirty`` false, each with
  3 open tasks (operations, product, service), their audit rows (receive,
  triage, task create) and the ``due_at`` / ``ack_due_at`` the clocks give;
- one pending timer per task per kind: ``reminder:{task}:{50,80,100}``,
  ``ack_timeout:{task}``, ``escalation:{task}:{1..4}``, plus the two
  ``promise:{complaint}:{3,4}`` timers the engine keeps for a complaint with a
  customer promise (keys exactly as ``closeloop/services/schedule.py`` makes them);
- ``--due-fraction`` of the complaints (so the same fraction of the tasks) are
  *due*: created weeks ago and never swept since, every timer of theirs has
  passed (a catch-up after downtime); every timer of the others lies in the future.

The instants are not guessed: for each (severity, creation instant) cohort
the real engine (``refresh_due`` + ``reschedule`` on a scratch in-memory
database) computes the complaint's and tasks' due instants and the timers, and
the bulk rows copy them. So a reschedule of an untouched complaint moves nothing.

Measured, each in its own subprocess on its own copy of the database (a copied
SQLite file, or a freshly built PostgreSQL schema dropped afterwards):

- ``sweep``: ``sweep(sessions, load_config(), now)`` at ``now`` (fires every due
  timer, packs the digests), then a second sweep right after (finds nothing),
  then a *reschedule* pass: 1% of the complaints flagged ``timers_dirty`` and a
  third sweep. Wall time from an untraced pass, tracemalloc peak from a second,
  traced pass (``--trace-mode same``: one traced pass gives both);
- ``queries``: the bare SQL the sweep runs (dirty-complaints select, due-timers
  select, pending-notifications select), built exactly as ``sweep.py`` builds
  them, executed on their own through a Core connection (no ORM objects), plus
  the sweep's steps (``_reschedule_dirty``, ``_fire_due``, ``_pack``: private
  functions of ``sweep.py``, called in ``sweep()``'s order) timed one by one,
  every statement they send counted and timed (cursor execute time, by statement).

``--profile FILE`` adds a cProfile pass of the first sweep (pstats written to FILE,
the top functions printed). Figures only: nothing is asserted.

    python bench/sweep.py                                   # SQLite, 100,000 complaints
    python bench/sweep.py --complaints 20000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt, maxrss_mib, run_worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Wednesday 10:00 in America/New_York: inside the default calendar's working hours, so the
# notifications fired by the sweep are released (quiet hours over) and packed in the same sweep.
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=timezone.utc)
SECOND_SWEEP = NOW + timedelta(minutes=1)
RESCHEDULE_SWEEP = NOW + timedelta(minutes=2)
DIRTY_MODULO = 100  # the reschedule pass flags complaints whose id is a multiple of this: 1%

# (department, kind, title): three open tasks per complaint, no dependencies (so all three run their clocks)
TASKS = (
    ("operations", "investigate", "Investigate the account activity in dispute"),
    ("product", "review-terms", "Check the product terms and fees involved"),
    ("service", "respond", "Answer the customer"),
)
SEVERITIES = (("P2", 15), ("P3", 75), ("P4", 10))
# creation instant = NOW - age. Fresh cohorts: created this morning, every timer in the future.
# Due cohorts: created weeks ago, every timer (even escalation 4 of a P4 product task) in the past.
FRESH_AGES = (timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=25), timedelta(minutes=45))
DUE_AGES = (timedelta(days=40, hours=3), timedelta(days=50), timedelta(days=60, hours=5))
TASK_TIMER_KINDS = Counter({"reminder": 3, "ack_timeout": 1, "escalation": 4})
COMPLAINT_TIMER_KINDS = Counter({"promise": 2})
CHUNK = 2000  # complaints per insert transaction while building


# ------------------------------------------------------------------ cohorts computed by the engine itself

@dataclass
class Cohort:
    severity: str
    created_at: datetime
    due: bool
    complaint_due_at: datetime | None
    task_due: list[tuple[datetime | None, datetime | None]]  # (due_at, ack_due_at) per TASKS position
    # (task position or None for a complaint timer, key format, kind, fire_at, data)
    timers: list[tuple[int | None, str, str, datetime, dict]]


def _complaint_row(cid: int, severity: str, created: datetime, due_at: datetime | None) -> dict:
    return {"id": cid, "source": "bench", "external_ref": f"S{cid}", "status": "triaged", "severity": severity,
            "risk_flags": [], "triage_reasons": [], "category": "billing", "subcategory": "", "product": "",
            "sub_product": "", "issue": "", "sub_issue": "", "channel": "Web", "company": "", "region": "",
            "tags": [], "extra": {}, "customer_id": None, "route_rule": "bench", "routing_config_id": None,
            "likely_duplicate_of_id": None, "merged_into_id": None, "transfer_count": 0, "reopen_count": 0,
            "received_at": created, "created_at": created, "updated_at": created, "due_at": due_at,
            "resolved_at": None, "timers_dirty": False, "version": 1}


def _task_row(tid: int, cid: int, pos: int, created: datetime, due_at, ack_due_at) -> dict:
    dep, kind, title = TASKS[pos]
    return {"id": tid, "complaint_id": cid, "department": dep, "kind": kind, "title": title, "instructions": "",
            "status": "open", "assignee": None, "outcome": None, "transferred_from_id": None,
            "transfer_reason": None, "created_at": created, "updated_at": created, "due_at": due_at,
            "ack_due_at": ack_due_at, "version": 1}


def _audit_rows(first_id: int, cid: int, tids: list[int], created: datetime, severity: str) -> list[dict]:
    from closeloop.services.audit import audit_dict

    rows = [audit_dict("complaint", cid, cid, None, "received", "receive", "bench", created,
                       data={"source": "bench", "external_ref": f"S{cid}"}),
            audit_dict("complaint", cid, cid, "received", "triaged", "triage", "bench", created,
                       data={"route": "bench", "severity": severity, "flags": []})]
    rows += [audit_dict("task", tid, cid, None, "open", "create", "bench", created,
                        data={"department": TASKS[p][0], "kind": TASKS[p][1]}) for p, tid in enumerate(tids)]
    for i, r in enumerate(rows):
        r["id"] = first_id + i
    return rows


def _department_rows(config) -> list[dict]:
    return [{"name": n, "display_name": d.display_name, "lead": d.lead, "notify": d.notify, "calendar": d.calendar,
             "active": True, "updated_at": NOW} for n, d in config.departments.items()]


def compute_cohorts(config) -> list[Cohort]:
    """Run ``refresh_due`` and ``reschedule`` on one complaint per cohort in a scratch database."""
    from sqlalchemy import insert, select
    from sqlalchemy.orm import Session

    from closeloop.services.clocks import refresh_due
    from closeloop.services.schedule import reschedule
    from models.db import make_engine
    from models.tables import Base, Complaint, Department, Task, Timer, Transition

    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    cohorts: list[Cohort] = []
    with Session(engine) as s, s.begin():
        s.execute(insert(Department.__table__), _department_rows(config))
    cid = tid = aid = 0
    for severity, _ in SEVERITIES:
        for due, ages in ((False, FRESH_AGES), (True, DUE_AGES)):
            for age in ages:
                created = NOW - age
                cid += 1
                tids = [tid + 1 + p for p in range(len(TASKS))]
                tid += len(TASKS)
                with Session(engine) as s, s.begin():
                    s.execute(insert(Complaint.__table__), [_complaint_row(cid, severity, created, None)])
                    s.execute(insert(Task.__table__), [_task_row(t, cid, p, created, None, None)
                                                      for p, t in enumerate(tids)])
                    audits = _audit_rows(aid + 1, cid, tids, created, severity)
                    aid += len(audits)
                    s.execute(insert(Transition.__table__), audits)
                    refresh_due(s, cid, config, NOW)
                    reschedule(s, s.get(Complaint, cid), config, NOW)
                    s.flush()
                    c = s.get(Complaint, cid)
                    tasks = {t.id: t for t in s.scalars(select(Task).where(Task.complaint_id == cid))}
                    timers = []
                    for t in s.scalars(select(Timer).where(Timer.complaint_id == cid).order_by(Timer.id)):
                        parts = t.key.split(":")
                        owner = t.task_id if t.task_id is not None else cid
                        if len(parts) < 2 or parts[1] != str(owner):
                            raise SystemExit(f"unexpected timer key {t.key!r}: schedule.py changed its keys?")
                        fmt = ":".join([parts[0], "{id}", *parts[2:]])
                        pos = tids.index(t.task_id) if t.task_id is not None else None
                        timers.append((pos, fmt, t.kind, t.fire_at, dict(t.data or {})))
                    cohorts.append(Cohort(severity, created, due, c.due_at,
                                          [(tasks[t].due_at, tasks[t].ack_due_at) for t in tids], timers))
                    s.rollback()  # keep the scratch database small; ids stay unique anyway
    engine.dispose()
    _check_cohorts(cohorts)
    return cohorts


def _check_cohorts(cohorts: list[Cohort]) -> None:
    for c in cohorts:
        label = f"cohort {c.severity} created {c.created_at.isoformat()}"
        per_task = [Counter(k for p, _, k, _, _ in c.timers if p == pos) for pos in range(len(TASKS))]
        per_complaint = Counter(k for p, _, k, _, _ in c.timers if p is None)
        if any(pt != TASK_TIMER_KINDS for pt in per_task) or per_complaint != COMPLAINT_TIMER_KINDS:
            raise SystemExit(f"{label}: the engine scheduled {per_task} / {per_complaint}, expected "
                             f"{dict(TASK_TIMER_KINDS)} per task and {dict(COMPLAINT_TIMER_KINDS)} per complaint")
        late = max(t[3] for t in c.timers)
        early = min(t[3] for t in c.timers)
        if c.due and late > NOW:
            raise SystemExit(f"{label}: due cohort has a timer at {late.isoformat()}, after now")
        if not c.due and early <= RESCHEDULE_SWEEP:
            raise SystemExit(f"{label}: fresh cohort has a timer at {early.isoformat()}, not after the last sweep")


# ------------------------------------------------------------------ building the database

def build(engine, config, n: int, due_fraction: float, seed: int, cohorts: list[Cohort]) -> dict:
    """Bulk Core inserts of the whole synthetic state; returns row counts."""
    from sqlalchemy import insert, text

    from models.tables import Complaint, Department, Task, Timer, Transition

    rng = random.Random(seed)
    n_due = round(n * due_fraction)
    due = set(rng.sample(range(1, n + 1), n_due))
    sev_values, sev_weights = [s for s, _ in SEVERITIES], [w for _, w in SEVERITIES]
    by_kind: dict[tuple[str, bool], list[Cohort]] = defaultdict(list)
    for c in cohorts:
        by_kind[(c.severity, c.due)].append(c)
    counts = Counter()
    tid = aid = timer_id = 0
    with engine.begin() as conn:
        conn.execute(insert(Department.__table__), _department_rows(config))
    for start in range(1, n + 1, CHUNK):
        complaints, tasks, audits, timers = [], [], [], []
        for cid in range(start, min(start + CHUNK, n + 1)):
            is_due = cid in due
            c = rng.choice(by_kind[(rng.choices(sev_values, sev_weights)[0], is_due)])
            complaints.append(_complaint_row(cid, c.severity, c.created_at, c.complaint_due_at))
            tids = [tid + 1 + p for p in range(len(TASKS))]
            tid += len(TASKS)
            tasks += [_task_row(t, cid, p, c.created_at, *c.task_due[p]) for p, t in enumerate(tids)]
            rows = _audit_rows(aid + 1, cid, tids, c.created_at, c.severity)
            aid += len(rows)
            audits += rows
            for pos, fmt, kind, fire_at, data in c.timers:
                timer_id += 1
                owner = cid if pos is None else tids[pos]
                timers.append({"id": timer_id, "key": fmt.format(id=owner), "kind": kind, "complaint_id": cid,
                               "task_id": None if pos is None else tids[pos], "fire_at": fire_at,
                               "status": "pending", "data": data, "created_at": c.created_at, "fired_at": None})
            counts["due_tasks"] += len(TASKS) if is_due else 0
            counts["due_timers"] += len(c.timers) if is_due else 0
        with engine.begin() as conn:
            conn.execute(insert(Complaint.__table__), complaints)
            conn.execute(insert(Task.__table__), tasks)
            conn.execute(insert(Transition.__table__), audits)
            for i in range(0, len(timers), 10_000):
                conn.execute(insert(Timer.__table__), timers[i:i + 10_000])
        counts["complaints"] += len(complaints)
        counts["tasks"] += len(tasks)
        counts["transitions"] += len(audits)
        counts["timers"] += len(timers)
    counts["due_complaints"] = n_due
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # explicit ids were inserted: move the sequences past them, then give the planner statistics
            for table in ("complaint", "task", "transition", "timer"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
        else:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return dict(counts)


class Databases:
    """Where each measurement gets its database: a copy of one built SQLite file, or a new PostgreSQL schema."""

    def __init__(self, url: str | None, workdir: Path, config, args, cohorts):
        self.url, self.workdir, self.config, self.args, self.cohorts = url, workdir, config, args, cohorts
        self.base: Path | None = None
        self.build_seconds: list[float] = []
        self.counts: dict = {}

    def _build_into(self, engine) -> None:
        from models import migrate

        migrate.upgrade(engine)
        t0 = time.perf_counter()
        self.counts = build(engine, self.config, self.args.complaints, self.args.due_fraction, self.args.seed,
                            self.cohorts)
        self.build_seconds.append(time.perf_counter() - t0)

    def prepare_sqlite_base(self) -> None:
        from models.db import make_engine

        self.base = self.workdir / "base.db"
        engine = make_engine(f"sqlite:///{self.base}")
        try:
            self._build_into(engine)
        finally:
            engine.dispose()

    def new(self, label: str) -> tuple[str, Callable[[], None]]:
        """A fresh database URL for one measurement, and the function that removes it."""
        from sqlalchemy import text

        from models.db import make_engine

        if self.url is None:
            path = self.workdir / f"{label}-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(self.base, path)

            def drop():
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{path}", drop
        schema = f"cl_bench_sweep_{label}_{uuid.uuid4().hex[:8]}"
        admin = make_engine(self.url)
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in self.url else "?"
        url = f"{self.url}{sep}options=-csearch_path%3D{schema}"

        def drop():
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
        engine = make_engine(url)
        try:
            self._build_into(engine)
        except BaseException:
            engine.dispose()
            drop()
            raise
        engine.dispose()
        return url, drop


# ------------------------------------------------------------------ measurements (each runs in a subprocess)

def _statements(now: datetime, batch: int):
    """The three set-based selects of ``closeloop/services/sweep.py``, built the same way."""
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


def _flag_dirty(engine) -> int:
    from sqlalchemy import update

    from models.tables import Complaint

    t = Complaint.__table__
    with engine.begin() as conn:
        return conn.execute(update(t).where(t.c.id % DIRTY_MODULO == 0).values(timers_dirty=True)).rowcount


def _timer_snapshot(engine) -> dict:
    from sqlalchemy import select

    from models.tables import Timer

    t = Timer.__table__
    with engine.connect() as conn:
        return {k: (st, at) for k, st, at in conn.execute(
            select(t.c.key, t.c.status, t.c.fire_at).where(t.c.complaint_id % DIRTY_MODULO == 0))}


def _db_counts(engine) -> dict:
    from sqlalchemy import func, select

    from models.tables import Complaint, Notification, Outbox, Timer

    with engine.connect() as c:
        out = {f"timers {s}": n for s, n in c.execute(
            select(Timer.status, func.count()).group_by(Timer.status).order_by(Timer.status))}
        out |= {f"notifications {s}": n for s, n in c.execute(
            select(Notification.status, func.count()).group_by(Notification.status).order_by(Notification.status))}
        out["outbox"] = c.execute(select(func.count()).select_from(Outbox)).scalar_one()
        out["largest digest body KiB"] = round((c.execute(select(func.max(func.length(Outbox.body)))).scalar()
                                                or 0) / 1024, 1)
        out["complaints dirty"] = c.execute(select(func.count()).select_from(Complaint)
                                            .where(Complaint.timers_dirty.is_(True))).scalar_one()
    return out


def measure_sweep(url: str, trace: bool, batch: int) -> dict:
    from sqlalchemy.orm import sessionmaker

    from closeloop.config import load_config
    from closeloop.services.sweep import sweep
    from models.db import make_engine

    config = load_config()
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    out: dict = {"traced": trace, "passes": {}}

    def run(name: str, at: datetime) -> None:
        gc.collect()
        rss0 = maxrss_mib()
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        report = sweep(sessions, config, at, batch=batch)
        secs = time.perf_counter() - t0
        p = {"seconds": secs, "report": report.as_dict(), "complaints": len(report.complaints),
             "maxrss_mib": maxrss_mib(), "rss_growth_mib": maxrss_mib() - rss0}
        if trace:
            p["peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        out["passes"][name] = p

    out["rss_before_mib"] = maxrss_mib()
    run("sweep 1 (catch-up)", NOW)
    run("sweep 2 (right after)", SECOND_SWEEP)
    out["flagged_dirty"] = _flag_dirty(engine)
    before = _timer_snapshot(engine)
    run("reschedule (1% dirty)", RESCHEDULE_SWEEP)
    after = _timer_snapshot(engine)
    out["reschedule_diff"] = {
        "timers of flagged complaints": len(before),
        "moved": sum(1 for k, (st, at) in after.items() if k in before and before[k][1] != at),
        "status changed": sum(1 for k, (st, at) in after.items() if k in before and before[k][0] != st),
        "new": sum(1 for k in after if k not in before),
    }
    out["maxrss_mib"] = maxrss_mib()
    out["db_counts"] = _db_counts(engine)
    engine.dispose()
    return out


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
    from sqlalchemy.orm import sessionmaker

    from closeloop.config import load_config
    from closeloop.services import sweep as sweep_mod
    from closeloop.services.sweep import SweepReport
    from models.db import make_engine

    config = load_config()
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    out: dict = {"queries": {}, "phases": [], "statements": {}, "plans": {}}
    stm = _statements(NOW, batch)
    with engine.connect() as conn:  # open the pooled connection before anything is timed
        conn.exec_driver_sql("SELECT 1")

    def q(label: str, name: str) -> None:
        out["queries"][label] = _time_query(engine, stm[name], repeats)

    # what the first sweep's selects see: nothing dirty, every due timer pending
    q("dirty complaints, none dirty (LIMIT batch)", "dirty complaints")
    q("due timers (LIMIT batch, first batch)", "due timers")
    q("due timers, all at once (no LIMIT)", "due timers, no LIMIT")
    for name in ("dirty complaints", "due timers"):
        try:
            out["plans"][name] = _plans(engine, stm[name])
        except Exception as exc:  # noqa: BLE001 - a plan is a nicety
            out["plans"][name] = [f"(no plan: {exc})"]

    # the sweep's steps one by one (the same sequence as sweep()), every statement timed
    timer = StatementTimer(engine)
    report = SweepReport()

    def phase(name: str, fn) -> None:
        timer.phase = name
        gc.collect()
        t0 = time.perf_counter()
        fn()
        secs = time.perf_counter() - t0
        timer.phase = "-"
        stmts = timer.take(name)
        out["phases"].append({"phase": name, "seconds": secs, "statements": sum(s["count"] for s in stmts),
                              "sql_seconds": sum(s["seconds"] for s in stmts)})
        out["statements"][name] = stmts[:8]

    phase("1 reschedule dirty", lambda: sweep_mod._reschedule_dirty(sessions, config, NOW, batch, report))
    phase("2 fire due timers", lambda: sweep_mod._fire_due(sessions, config, NOW, batch, report))
    q("pending notifications (all, as packed)", "pending notifications")
    try:
        out["plans"]["pending notifications"] = _plans(engine, stm["pending notifications"])
    except Exception as exc:  # noqa: BLE001
        out["plans"]["pending notifications"] = [f"(no plan: {exc})"]
    phase("3 reschedule dirty (after firing)",
          lambda: sweep_mod._reschedule_dirty(sessions, config, NOW, batch, report))
    phase("4 pack digests", lambda: sweep_mod._pack(sessions, NOW, report))
    out["report"] = report.as_dict()
    # what the second sweep's selects see: nothing left
    stm2 = _statements(SECOND_SWEEP, batch)
    out["queries"]["due timers after sweep 1 (LIMIT batch)"] = _time_query(engine, stm2["due timers"], repeats)
    out["queries"]["pending notifications after sweep 1"] = _time_query(engine, stm2["pending notifications"], repeats)
    # the reschedule pass
    out["flagged_dirty"] = _flag_dirty(engine)
    out["queries"]["dirty complaints, 1% dirty (LIMIT batch)"] = _time_query(
        engine, _statements(RESCHEDULE_SWEEP, batch)["dirty complaints"], repeats)
    phase("reschedule pass: reschedule dirty", lambda: sweep_mod._reschedule_dirty(
        sessions, config, RESCHEDULE_SWEEP, batch, SweepReport()))
    engine.dispose()
    return out


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
            v = v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ")
        out.append(v)
    return tuple(out)


def measure_profile(url: str, batch: int, path: Path) -> dict:
    import cProfile

    from sqlalchemy.orm import sessionmaker

    from closeloop.config import load_config
    from closeloop.services.sweep import sweep
    from models.db import make_engine

    config = load_config()
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    report = sweep(sessions, config, NOW, batch=batch)
    prof.disable()
    secs = time.perf_counter() - t0
    prof.dump_stats(str(path))
    engine.dispose()
    return {"seconds": secs, "report": report.as_dict()}


def run_in_subprocess(mode: str, url: str, a: argparse.Namespace, trace: bool = False) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--worker-url", url,
           "--batch", str(a.batch), "--repeats", str(a.repeats)]
    if trace:
        cmd.append("--trace")
    if mode == "profile":
        cmd += ["--profile", str(a.profile)]
    return run_worker(cmd, mode)


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--complaints", type=int, default=100_000, help="open complaints, 3 tasks each (default 100000)")
    ap.add_argument("--due-fraction", type=float, default=0.05,
                    help="fraction of complaints (and so of tasks) whose timers have all passed (default 0.05)")
    ap.add_argument("--database-url", default=None,
                    help="PostgreSQL URL (a fresh schema per measurement, built there and dropped after); "
                         "default: SQLite, built once in the temp dir and copied per measurement")
    ap.add_argument("--batch", type=int, default=500, help="sweep(batch=...) (default 500, the sweep's own)")
    ap.add_argument("--trace-mode", choices=("separate", "same"), default="separate",
                    help="separate: time an untraced pass, take the tracemalloc peaks from a second traced pass "
                         "(default); same: one traced pass gives both (faster, slower timings)")
    ap.add_argument("--repeats", type=int, default=5, help="executions of each bare query (default 5)")
    ap.add_argument("--no-queries", action="store_true", help="skip the bare-query and per-step pass")
    ap.add_argument("--profile", type=Path, default=None,
                    help="also run the first sweep under cProfile, write the pstats to this file, print the top")
    ap.add_argument("--seed", type=int, default=20260304)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (SQLite files) and print its path")
    # internal: one measurement in this process
    ap.add_argument("--worker", choices=("sweep", "queries", "profile"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-url", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker:
        if a.worker == "sweep":
            r = measure_sweep(a.worker_url, a.trace, a.batch)
        elif a.worker == "queries":
            r = measure_queries(a.worker_url, a.batch, a.repeats)
        else:
            r = measure_profile(a.worker_url, a.batch, a.profile)
        print(json.dumps(r, default=str))
        return 0

    url = a.database_url
    if url and url.startswith("sqlite"):
        ap.error("--database-url: give a PostgreSQL URL; SQLite (the default) always uses fresh temp files")
    if a.complaints < 1 or not 0 <= a.due_fraction <= 1:
        ap.error("--complaints must be positive and --due-fraction within 0..1")
    if a.profile is not None:
        a.profile = a.profile.resolve()
    workdir = Path(tempfile.mkdtemp(prefix="closeloop-bench-sweep-"))
    try:
        return _run(a, url, workdir)
    finally:
        if a.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(a: argparse.Namespace, url: str | None, workdir: Path) -> int:
    from closeloop.config import load_config

    config = load_config()
    backend = "PostgreSQL " + url.split("@")[-1] if url else "SQLite (built once, file copied per measurement)"
    print(f"closeloop sweep benchmark: backend {backend}; {a.complaints:,} complaints x {len(TASKS)} tasks; "
          f"due fraction {a.due_fraction}; now {NOW.isoformat()}; batch {a.batch}; Python {sys.version.split()[0]}; "
          f"seed {a.seed}", flush=True)
    t0 = time.perf_counter()
    cohorts = compute_cohorts(config)
    print(f"  {len(cohorts)} cohorts scheduled by the engine in {time.perf_counter() - t0:.1f}s "
          f"({sum(len(c.timers) for c in cohorts[:1])} timers per complaint)", flush=True)
    dbs = Databases(url, workdir, config, a, cohorts)
    if url is None:
        dbs.prepare_sqlite_base()
        print(f"  built {dbs.base.name}: {dbs.counts} in {dbs.build_seconds[-1]:.1f}s, "
              f"{dbs.base.stat().st_size / 2**20:.0f} MiB", flush=True)

    def measure(mode: str, trace: bool = False) -> dict:
        db_url, drop = dbs.new(mode + ("_traced" if trace else ""))
        if url is not None:
            print(f"  built schema for {mode}{' (traced)' if trace else ''}: {dbs.counts} in "
                  f"{dbs.build_seconds[-1]:.1f}s", flush=True)
        try:
            r = run_in_subprocess(mode, db_url, a, trace)
        finally:
            drop()
        if "error" in r:
            print(f"  {mode}: FAILED: {r['error']}", flush=True)
            sys.stderr.write(r.get("stderr", ""))
        else:
            print(f"  {mode}{' (traced)' if trace else ''}: done", flush=True)
        return r

    untraced = measure("sweep", trace=(a.trace_mode == "same"))
    traced = measure("sweep", trace=True) if a.trace_mode == "separate" and "error" not in untraced else None
    queries = measure("queries") if not a.no_queries else None
    profile = measure("profile") if a.profile is not None else None

    counts = dbs.counts
    print()
    print(f"database: {counts.get('complaints', 0):,} complaints, {counts.get('tasks', 0):,} tasks "
          f"({counts.get('due_tasks', 0):,} due, in {counts.get('due_complaints', 0):,} complaints), "
          f"{counts.get('transitions', 0):,} audit rows, {counts.get('timers', 0):,} pending timers "
          f"({counts.get('due_timers', 0):,} due); build {min(dbs.build_seconds):.1f}s")
    if "error" in untraced:
        print(f"sweep FAILED: {untraced['error']}")
        return 1

    print()
    head = (f"{'pass':<24} {'seconds':>8} {'timers/s':>9} {'peak MiB':>9} {'RSS +MiB':>9} {'fired':>8} "
            f"{'notes':>8} {'digests':>7} {'resched':>7}")
    print(head)
    print("-" * len(head))
    for name, p in untraced["passes"].items():
        rep = p["report"]
        fired = sum(rep["fired"].values())
        peak = (traced or {}).get("passes", {}).get(name, {}).get("peak_mib") if traced else p.get("peak_mib")
        rate = fired / p["seconds"] if fired and p["seconds"] else None
        print(f"{name:<24} {p['seconds']:>8.2f} {fmt(rate, ',.0f'):>9} {fmt(peak, '.1f'):>9} "
              f"{p['rss_growth_mib']:>9.1f} {fired:>8,} {rep['notifications']:>8,} {rep['messages']:>7,} "
              f"{rep['rescheduled']:>7,}")
    first = untraced["passes"]["sweep 1 (catch-up)"]["report"]
    print(f"fired by kind (sweep 1): {first['fired']}")
    print(f"reschedule pass: {untraced['flagged_dirty']:,} complaints flagged; their timers after it: "
          f"{untraced['reschedule_diff']}")
    print(f"after the three passes: {untraced['db_counts']}; worker max RSS {untraced['maxrss_mib']:.0f} MiB")
    print("RSS +MiB: growth of the worker's max RSS (a high-water mark) during the pass")
    print("seconds, RSS: untraced pass; " + ("peak MiB: tracemalloc peak of each pass (tracing started at the "
                                            "pass, so memory held before it is not counted), from a second, "
                                            "traced run" if a.trace_mode == "separate" else
                                            "one traced run gives all figures (timings include tracing)"))
    if traced is not None and "error" not in traced:
        secs = {k: round(v["seconds"], 1) for k, v in traced["passes"].items()}
        print(f"traced run seconds (tracemalloc overhead): {secs}")

    if queries is not None and "error" not in queries:
        print()
        title = "bare SQL, timed on its own (Core, no ORM objects)"
        head = f"{title:<48} {'rows':>8} {'first ms':>9} {'median ms':>10}"
        print(head)
        print("-" * len(head))
        for label, r in queries["queries"].items():
            print(f"{label:<48} {r['rows']:>8,} {r['first_ms']:>9.2f} {r['median_ms']:>10.2f}")
        print(f"(median of {a.repeats} executions; 'first' is the first of them)")
        for name, plan in queries["plans"].items():
            print(f"plan {name}: " + " | ".join(p.strip() for p in plan))
        print()
        head = f"{'sweep 1 step by step':<36} {'seconds':>8} {'statements':>10} {'SQL s':>8} {'other s':>8}"
        print(head)
        print("-" * len(head))
        for ph in queries["phases"]:
            print(f"{ph['phase']:<36} {ph['seconds']:>8.2f} {ph['statements']:>10,} {ph['sql_seconds']:>8.2f} "
                  f"{ph['seconds'] - ph['sql_seconds']:>8.2f}")
        print("SQL s: cursor execute time of every statement the step sent (on SQLite rows are fetched later, "
              "outside it; commits not included); other s: Python, ORM, fetching, commits")
        for name, stmts in queries["statements"].items():
            if not stmts:
                continue
            print(f"  {name}: top statements by SQL time")
            for st in stmts[:8]:
                print(f"    {st['count']:>8,} x {st['seconds'] * 1000 / st['count']:>7.3f} ms = "
                      f"{st['seconds']:>7.2f}s  {st['sql']}")
    elif queries is not None:
        print(f"queries pass FAILED: {queries['error']}")

    if profile is not None and "error" not in profile:
        import pstats

        print()
        print(f"cProfile of sweep 1: {profile['seconds']:.1f}s under the profiler; stats in {a.profile}")
        st = pstats.Stats(str(a.profile))
        st.sort_stats("tottime").print_stats(20)
        st.sort_stats("cumulative").print_stats(35)
    return 0


if __name__ == "__main__":
    sys.exit(main())
