"""Throughput with several workers at once on PostgreSQL: concurrent sweeps and concurrent delivery processes.

- **Sweepers**: the sweep benchmark's database (``bench/sweep_data.py``: ``--complaints`` open complaints, 3
  tasks each, ``--due-fraction`` of them weeks overdue) in a fresh schema per measurement; K processes call
  ``sweep()`` at the same instant. Printed: wall seconds until all end, due timers fired per second, how the
  firing split between the processes (with FOR UPDATE SKIP LOCKED they share it), and a check that every
  due timer fired exactly once.
- **Deliverers**: ``-n`` pending webhook messages to a local receiver process (``bench/deliver.py``'s);
  K processes each run ``deliver_once`` (batches of 200, 50 in flight, the spread client) until nothing is
  ready. Printed: wall seconds, deliveries per second, the split, and a check that the receiver saw every
  idempotency key and every row ended ``delivered``.

    python bench/workers.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/workers.py --database-url ... --complaints 100000 --sweepers 1,2 --deliverers 1,2,4 -n 20000

Figures only; nothing is asserted. Process start and imports are outside the timed part (each process
waits at a barrier file before it starts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.deliver import NOW as DELIVER_NOW  # noqa: E402
from bench.deliver import ReceiverProcess, fill, fresh_database  # noqa: E402
from bench.sweep_data import NOW as SWEEP_NOW  # noqa: E402
from bench.sweep_data import Databases, compute_cohorts  # noqa: E402


def _wait_for(go: str) -> None:
    while not os.path.exists(go):
        time.sleep(0.01)


def sweep_worker(url: str, go: str) -> None:
    from closeloop.config import load_config
    from closeloop.services.engine.sweep import sweep
    from models.db import make_engine, make_sessions

    engine = make_engine(url)
    sessions, config = make_sessions(engine), load_config()
    _wait_for(go)
    t0, cpu0 = time.perf_counter(), time.process_time()
    report = sweep(sessions, config, SWEEP_NOW)
    print(json.dumps({"fired": sum(report.fired.values()), "seconds": time.perf_counter() - t0,
                      "cpu": time.process_time() - cpu0}))


def deliver_worker(url: str, go: str) -> None:

    from closeloop.clock import FixedClock
    from closeloop.services.engine.delivery import deliver_once
    from integrations.senders import open_default_sender
    from models.db import make_engine, make_sessions

    engine = make_engine(url)
    sessions = make_sessions(engine)

    async def drain():
        async with open_default_sender(secret=b"bench-secret", deadline_s=10.0, capture_dir=tempfile.gettempdir(),
                                       apprise=False) as sender:
            return await deliver_once(sessions, sender, FixedClock(DELIVER_NOW), worker=f"bench-{os.getpid()}",
                                      max_batches=10_000)

    _wait_for(go)
    t0, cpu0 = time.perf_counter(), time.process_time()
    report = asyncio.run(drain())
    print(json.dumps({"delivered": report.delivered, "seconds": time.perf_counter() - t0,
                      "cpu": time.process_time() - cpu0}))


def _run_processes(k: int, mode: str, url: str) -> tuple[float, list[dict]]:
    go = tempfile.mktemp(prefix="closeloop-go-")
    procs = [subprocess.Popen([sys.executable, __file__, mode, url, go], stdout=subprocess.PIPE, text=True)
             for _ in range(k)]
    time.sleep(8 + 2 * k)  # imports and connections, outside the timed part
    t0 = time.perf_counter()
    Path(go).write_text("go")
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = time.perf_counter() - t0
    os.unlink(go)
    return wall, outs


def bench_sweepers(args, counts_out: list) -> None:
    from sqlalchemy import func, select, text

    from closeloop.config import load_config
    from models.db import make_engine
    from models.tables import Timer

    config = load_config()
    dbs = Databases(args.database_url, Path(tempfile.mkdtemp()), config, args, compute_cohorts(config))
    for k in args.sweepers:
        url, drop = dbs.new(f"k{k}")
        engine = make_engine(url)
        with engine.connect() as c:
            due = c.execute(select(func.count()).select_from(Timer).where(Timer.status == "pending",
                                                                          Timer.fire_at <= SWEEP_NOW)).scalar()
            c.execute(text("ANALYZE"))
        wall, outs = _run_processes(k, "--sweep-worker", url)
        with engine.connect() as c:
            left = c.execute(select(func.count()).select_from(Timer).where(Timer.status == "pending",
                                                                           Timer.fire_at <= SWEEP_NOW)).scalar()
        engine.dispose()
        drop()
        fired = sum(o["fired"] for o in outs)
        print(f"sweepers {k}: {due:,} due timers, {wall:6.1f} s wall, {fired / wall:8,.0f} timers/s; split "
              f"{[o['fired'] for o in outs]}; fired once: {fired == due and left == 0}; client CPU "
              f"{sum(o['cpu'] for o in outs):.1f} s; load {os.getloadavg()[0]:.1f}", flush=True)


def bench_deliverers(args) -> None:
    from sqlalchemy import func, select

    from models.tables import Outbox

    for k in args.deliverers:
        with ReceiverProcess() as recv:
            engine, _sessions, cleanup = fresh_database(args.database_url)
            fill(engine, f"http://127.0.0.1:{recv.port}/hook", args.n, f"k{k}")
            url = engine.url.render_as_string(hide_password=False)
            wall, outs = _run_processes(k, "--deliver-worker", url)
            with engine.connect() as c:
                done = c.execute(select(func.count()).select_from(Outbox).where(Outbox.status == "delivered")).scalar()
            cleanup()
        print(f"deliverers {k}: {args.n:,} messages, {wall:6.1f} s wall, {args.n / wall:8,.0f} deliveries/s; split "
              f"{[o['delivered'] for o in outs]}; all delivered: {done == args.n}; receiver keys: "
              f"{recv.counts.get('keys', recv.counts)}; client CPU {sum(o['cpu'] for o in outs):.1f} s; "
              f"load {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] in ("--sweep-worker", "--deliver-worker"):
        (sweep_worker if sys.argv[1] == "--sweep-worker" else deliver_worker)(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True, help="PostgreSQL (postgresql+psycopg://...)")
    ap.add_argument("--complaints", type=int, default=20_000)
    ap.add_argument("--due-fraction", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sweepers", type=lambda s: [int(x) for x in s.split(",") if x], default=[1, 2],
                    help="e.g. 1,2,4; empty to skip")
    ap.add_argument("--deliverers", type=lambda s: [int(x) for x in s.split(",") if x], default=[1, 2, 4],
                    help="e.g. 1,2,4; empty to skip")
    ap.add_argument("-n", type=int, default=5000, help="messages for the delivery measurement")
    args = ap.parse_args()
    print(f"PostgreSQL; {args.complaints:,} complaints, due fraction {args.due_fraction}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    if args.sweepers:
        bench_sweepers(args, [])
    if args.deliverers:
        bench_deliverers(args)


if __name__ == "__main__":
    main()
