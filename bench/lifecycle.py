"""Lifecycle benchmark: CPU time and stored bytes of one complaint's whole life (issue 17).

Each of ``-n`` complaints (default 2,000; CFPB "Mortgage", so the default routing gives three
department tasks: operations and product first, service after both) goes through the public services,
one unit of work per call as the CLI, the API and the web pages make them:

- intake (``intake_one.take_in``);
- its three tasks acknowledged and completed (``tasks.acknowledge``, ``tasks.complete``; the service
  task after the other two, as its dependency requires), the last completion with a root cause
  (``process_gap``), which resolves the complaint (``tasks.settle``);
- the complaint read back to check it is ``resolved`` with that root cause (not timed).

Printed: CPU seconds of this process (``time.process_time``: user + system, steadier than wall time on a
shared machine) per complaint for the whole lifecycle, for intake, per acknowledgement and per
completion, beside wall time; and the bytes the complaints added to the database: SQLite's ``dbstat``
(pages of every table and index, after a WAL checkpoint) or PostgreSQL's ``pg_total_relation_size`` of
every table of the schema (tables, indexes, TOAST), measured before and after, by table. On PostgreSQL
the server's own CPU is not in the figure (it runs in other processes). Peers (issue 17): SpiffWorkflow
3.2 needs about 20 ms of CPU for the same shape; targets 2 ms per lifecycle on SQLite, 1.6 ms per
task completion, 2 KB per complaint. Figures only; nothing is asserted.

    python bench/lifecycle.py                       # SQLite, 2,000 complaints
    python bench/lifecycle.py -n 1000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections import defaultdict
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deliver import fresh_database  # noqa: E402
from lifecycle_floor import StatementLog, capture, replay  # noqa: E402

T0 = datetime(2026, 3, 4, 14, 0, tzinfo=UTC)  # a Wednesday, 09:00 in New York


def _sizes(engine) -> dict[str, int]:
    """Bytes by table (indexes counted with their table) of the database behind ``engine``."""
    from sqlalchemy import text

    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = c.exec_driver_sql(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
                "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1").all()
        else:
            rows = c.execute(text(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'")).all()
    return {name: int(size or 0) for name, size in rows}


def _facts(i: int):
    from closeloop.domain.facts import ComplaintFacts

    return ComplaintFacts(source="bench", external_ref=f"L{i}", received_at=T0 + timedelta(seconds=10 * i),
                          category="Mortgage", product="Mortgage", sub_product="Conventional home mortgage",
                          issue="Trouble during payment process", sub_issue="", channel="Web",
                          company="Example Bank", region="NY", customer_ref=f"cust-{i % 500}",
                          text="My escrow payment was applied twice and the servicer will not refund it.")


def run(url: str | None, n: int) -> dict:
    """Run ``n`` lifecycles on a fresh database; CPU and wall seconds by step, bytes by table."""
    from sqlalchemy import select

    from closeloop.config import load_config
    from closeloop.services.intake.intake_one import take_in
    from models.tables import Complaint

    config = load_config()
    engine, sessions, cleanup = fresh_database(url)
    sqlite = engine.dialect.name == "sqlite"
    try:
        take_in(sessions, config, _facts(-1), actor="bench", at=T0)  # departments, routing configuration
        before = _sizes(engine)
        cpu: dict[str, float] = defaultdict(float)
        with capture(engine) if sqlite else _no_capture() as log:
            wall0, cpu0 = time.perf_counter(), time.process_time()

            def timed(step: str, fn, *args, **kw):
                log.step = step
                c = time.process_time()
                out = fn(*args, **kw)
                cpu[step] += time.process_time() - c
                return out

            _lifecycles(n, sessions, config, timed)
            log.count_complaints = n
            total_cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        with sessions() as s:
            resolved = s.scalar(select(Complaint.id).where(Complaint.external_ref == f"L{n - 1}",
                                                          Complaint.status == "resolved",
                                                          Complaint.root_cause == "process_gap"))
        after = _sizes(engine)
    finally:
        cleanup()
    grown = {t: after.get(t, 0) - before.get(t, 0) for t in after}
    return {"n": n, "cpu": dict(cpu), "total_cpu": total_cpu, "wall": wall, "resolved": resolved is not None,
            "bytes": {t: b for t, b in sorted(grown.items(), key=lambda kv: -kv[1]) if b},
            "floor": _floor(log) if sqlite else None,
            "statements": {step: log.count(step) for step in cpu} if sqlite else None}


@contextmanager
def _no_capture():
    yield StatementLog()


def _floor(log: StatementLog) -> dict[str, float]:
    """CPU seconds per step of the captured statements replayed through bare ``sqlite3`` on a database
    prepared as the measured one was (:mod:`lifecycle_floor`)."""
    from closeloop.config import load_config
    from closeloop.services.intake.intake_one import take_in

    engine, sessions, cleanup = fresh_database(None)
    try:
        take_in(sessions, load_config(), _facts(-1), actor="bench", at=T0)
        path = Path(str(engine.url.database))
        engine.dispose()
        cpu = replay(path, log)
        with closing(sqlite3.connect(path)) as c:  # the replay did what the services did
            resolved = c.execute("SELECT count(*) FROM complaint WHERE status = 'resolved' AND root_cause = "
                                 "'process_gap'").fetchone()[0]
        if resolved != log.count_complaints:
            raise SystemExit(f"bench: the replayed statements resolved {resolved} complaints, not "
                             f"{log.count_complaints}")
        return cpu
    finally:
        cleanup()


def _lifecycles(n: int, sessions, config, timed) -> None:
    """``n`` lifecycles, each step through ``timed(step, fn, *args)``."""
    from sqlalchemy import select

    from closeloop.services.intake.intake_one import take_in
    from closeloop.services.work import tasks as svc
    from models.tables import Task

    for i in range(n):
        at = T0 + timedelta(seconds=10 * i)
        cid, _ = timed("intake", take_in, sessions, config, _facts(i), actor="bench", at=at)
        with sessions() as s:
            stmt = select(Task.id, Task.kind).where(Task.complaint_id == cid).order_by(Task.id)
            tasks = timed("read tasks", lambda st=stmt, se=s: se.execute(st).all())
        if len(tasks) != 3:
            raise SystemExit(f"bench: complaint {cid} got {len(tasks)} tasks, expected 3 (routing changed?)")
        for k, (tid, _kind) in enumerate(tasks):
            last = k == len(tasks) - 1
            timed("acknowledge", svc.acknowledge, sessions, tid, config=config, actor="ops",
                  at=at + timedelta(hours=1 + 2 * k))
            timed("complete", svc.complete, sessions, tid, config=config, actor="ops",
                  at=at + timedelta(hours=2 + 2 * k), outcome="done",
                  root_cause="process_gap" if last else None)


def _print(backend: str, r: dict) -> None:
    n = r["n"]
    print(f"\n{backend}: {n:,} lifecycles (intake, 3 tasks acknowledged and completed, resolved with a root "
          f"cause); last complaint resolved with its root cause: {'yes' if r['resolved'] else 'NO'}")
    print(f"  whole lifecycle: {r['total_cpu'] / n * 1000:.2f} ms CPU per complaint "
          f"({r['wall'] / n * 1000:.2f} ms wall; target <= 2 ms CPU on SQLite; SpiffWorkflow 3.2 about 20 ms)")
    per = {"intake": n, "read tasks": n, "acknowledge": 3 * n, "complete": 3 * n}
    for step, secs in r["cpu"].items():
        print(f"  {step:<12} {secs / per[step] * 1000:7.2f} ms CPU each ({per[step]:,} calls)"
              + ("  (target <= 1.6 ms)" if step == "complete" else ""))
    if r["floor"]:
        print("  bare-SQL floor (the same statements, commits and rollbacks replayed through the sqlite3 module "
              "alone; bench/lifecycle_floor.py):")
        floor_total = sum(v for k, v in r["floor"].items() if k in per)
        ratio = r["total_cpu"] / floor_total
        print(f"    whole lifecycle {floor_total / n * 1000:.2f} ms CPU (closeloop takes {ratio:.1f}x it: the rest "
              "is its Python above the driver)")
        for step, secs in r["floor"].items():
            if step in per:
                print(f"    {step:<12} {secs / per[step] * 1000:7.2f} ms CPU each, "
                      f"{r['statements'][step] / per[step]:.1f} statements each (COMMIT and ROLLBACK included)")
    total = sum(r["bytes"].values())
    print(f"  stored: {total / n:,.0f} bytes per complaint (target <= 2,048), by table (indexes included): "
          + ", ".join(f"{t} {b / n:,.0f}" for t, b in r["bytes"].items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=2000, help="complaints (default 2000)")
    ap.add_argument("--database-url", default=None, help="also run on this PostgreSQL database (a throwaway schema)")
    a = ap.parse_args()
    print(f"closeloop lifecycle benchmark; Python {sys.version.split()[0]}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    _print("SQLite", run(None, a.n))
    if a.database_url:
        _print("PostgreSQL", run(a.database_url, a.n))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
