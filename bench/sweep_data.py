"""Building the sweep benchmark's database: the state the engine leaves 100k complaints in (see sweep.py)."""


from __future__ import annotations

import random
import shutil
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[1]
# Wednesday 10:00 in America/New_York: inside the default calendar's working hours, so the
# notifications fired by the sweep are released (quiet hours over) and packed in the same sweep.
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SECOND_SWEEP = NOW + timedelta(minutes=1)
RESCHEDULE_SWEEP = NOW + timedelta(minutes=2)
POLICY_SWEEP = NOW + timedelta(minutes=3)
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

    from closeloop.services.engine.clocks import refresh_due
    from closeloop.services.engine.schedule import reschedule
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
    _check_cohorts(cohorts, config.model.escalation.ack_page_limit, config.model.escalation.crisis_severities)
    return cohorts


def _check_cohorts(cohorts: list[Cohort], ack_page_limit: int, crisis: list[str]) -> None:
    """A fresh cohort has one timer per kind and task (its first acknowledgement page); a due one has
    all ``ack_page_limit`` pages passed (the sweep chains each next page as one fires). The ladder
    reaches level 4 (escalation 4, promise 4) only for the ``crisis`` severities (``schedule.ladder_top``)."""
    for c in cohorts:
        label = f"cohort {c.severity} created {c.created_at.isoformat()}"
        per_task = [Counter(k for p, _, k, _, _ in c.timers if p == pos) for pos in range(len(TASKS))]
        per_complaint = Counter(k for p, _, k, _, _ in c.timers if p is None)
        want = Counter(TASK_TIMER_KINDS)
        want_complaint = Counter(COMPLAINT_TIMER_KINDS)
        if c.severity not in crisis:
            want["escalation"] -= 1
            want_complaint["promise"] -= 1
        if c.due:
            want["ack_timeout"] = ack_page_limit
        if any(pt != want for pt in per_task) or per_complaint != want_complaint:
            raise SystemExit(f"{label}: the engine scheduled {per_task} / {per_complaint}, expected "
                             f"{dict(want)} per task and {dict(want_complaint)} per complaint")
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

    def prepare_sqlite_base(self, reuse: Path | None = None) -> None:
        """Build the SQLite file every measurement copies; ``reuse``: a file built by an earlier run (kept
        there; built there when missing)."""
        from models.db import make_engine

        if reuse is not None and reuse.exists():
            self.base = reuse
            self.build_seconds.append(0.0)
            self.counts = _count_base(reuse)
            return
        self.base = reuse or self.workdir / "base.db"
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

def _count_base(path: Path) -> dict:
    """The counts :func:`build` reports, read back from a built SQLite file."""
    from sqlalchemy import func, select

    from models.db import make_engine
    from models.tables import Complaint, Task, Timer, Transition

    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as c:
            def n(q):
                return c.execute(q).scalar_one()
            return {"complaints": n(select(func.count()).select_from(Complaint)),
                    "tasks": n(select(func.count()).select_from(Task)),
                    "transitions": n(select(func.count()).select_from(Transition)),
                    "timers": n(select(func.count()).select_from(Timer)),
                    "due_timers": n(select(func.count()).select_from(Timer).where(Timer.fire_at <= NOW))}
    finally:
        engine.dispose()


def _flag_dirty(engine) -> int:
    from sqlalchemy import update

    from models.tables import Complaint

    t = Complaint.__table__
    with engine.begin() as conn:
        return conn.execute(update(t).where(t.c.id % DIRTY_MODULO == 0).values(timers_dirty=True)).rowcount
