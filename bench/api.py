"""REST API benchmark: p50/p95 latency of the queue, overview and search endpoints at 100,000 complaints.

1. Builds the database of ``bench/sweep_data.py`` (bulk Core inserts in the state the engine
   leaves after scheduling: ``--complaints`` open complaints, 3 open tasks each in operations,
   product and service, their audit rows and pending timers; ``--due-fraction`` of them weeks
   old and breached), on a SQLite file or a fresh PostgreSQL schema (``--database-url``), plus one
   search document per complaint (``PHRASES``: English and Chinese text at set shares).
2. Starts the API in its own process (uvicorn, one worker, the clock fixed at the data's "now").
3. From a second process, fires ``--requests`` requests per queue endpoint (``--overview-requests``
   to the overview) with ``--concurrency``
   requests in flight (threads, one keep-alive httpx client each) and prints p50/p95/max
   latency and requests per second per endpoint. Figures only; nothing is asserted.

    python bench/api.py                                    # SQLite, 100,000 complaints
    python bench/api.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, run_worker, schema_url  # noqa: E402
from sweep_data import NOW, build, compute_cohorts  # noqa: E402

ENDPOINTS = {
    "queue": "/api/v1/departments/operations/tasks",
    "queue overdue": "/api/v1/departments/operations/tasks?overdue=true",
    "queue due today": "/api/v1/departments/service/tasks?due_today=true",
    "queue page 100": "/api/v1/departments/product/tasks?offset=5000&limit=50",
    "overview": "/api/v1/overview",
    # search (issue 14): ~10% of the documents hold "refund"; two rarer words; Chinese; a reference
    "search word": "/api/v1/complaints?q=refund&sort=-received_at",
    "search two words": "/api/v1/complaints?q=escrow%20shortage&sort=-received_at",
    "search Chinese": "/api/v1/complaints?q=%E9%80%80%E6%AC%BE",
    "search reference": "/api/v1/complaints?q=S77777",
}
# the customers' text of the search documents: (phrase, share of complaints holding it)
PHRASES = [("I asked for a refund", 0.10), ("escrow shortage on my loan", 0.01), ("我申请退款三次了", 0.05),
           ("the fee was charged twice", 0.2), ("nobody answered my calls", 0.3), ("客服一直没有回复", 0.1),
           ("wrong balance on the credit report", 0.15), ("my card was blocked abroad", 0.05)]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, port: int) -> None:
    """The server process: the app on ``url`` with the clock fixed at the data's instant."""
    import uvicorn

    from closeloop.api.app import create_app
    from closeloop.bootstrap import App
    from closeloop.clock import FixedClock
    from closeloop.config import load_config
    from closeloop.settings import Settings
    from models.db import make_engine, make_sessions

    engine = make_engine(url, **({} if url.startswith("sqlite") else {"pool_size": 20, "max_overflow": 20}))
    app = App(Settings(database_url=url), engine, make_sessions(engine), FixedClock(NOW),
              load_config())
    uvicorn.run(create_app(app), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def fire(base: str, token: str, requests: int, overview_requests: int, concurrency: int,
         search_only: bool = False) -> None:
    """The load process: per endpoint, ``requests`` GETs (``overview_requests`` for the overview) with
    ``concurrency`` in flight; prints JSON."""
    import httpx

    results = {}
    for name, path in ENDPOINTS.items():
        if search_only and not name.startswith("search"):
            continue
        n = overview_requests if name == "overview" else requests
        latencies: list[float] = []
        errors: list[int] = []
        lock = threading.Lock()
        todo = iter(range(n))

        def worker(path=path, lock=lock, todo=todo, latencies=latencies, errors=errors):
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
                c.get(path)  # warm the connection
                while True:
                    with lock:
                        if next(todo, None) is None:
                            return
                    t0 = time.perf_counter()
                    r = c.get(path)
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt)
                        if r.status_code != 200:
                            errors.append(r.status_code)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        q = statistics.quantiles(latencies, n=100)
        results[name] = {"requests": len(latencies), "errors": len(errors), "p50_ms": q[49] * 1000,
                         "p95_ms": q[94] * 1000, "max_ms": max(latencies) * 1000, "rps": len(latencies) / wall}
    print(json.dumps(results))


def build_complaints(engine, config, n: int, seed: int) -> dict:
    """``n`` triaged complaints (received over the 90 days before NOW), no tasks or timers."""
    import random
    from datetime import timedelta

    from sqlalchemy import insert, text
    from sweep_data import _complaint_row, _department_rows

    from models.tables import Complaint, Department

    rnd = random.Random(seed)
    with engine.begin() as conn:
        conn.execute(insert(Department.__table__), _department_rows(config))
        for start in range(1, n + 1, 5000):
            conn.execute(insert(Complaint.__table__), [
                _complaint_row(cid, "P" + rnd.choice("1234"), NOW - timedelta(minutes=rnd.randrange(129_600)), None)
                for cid in range(start, min(start + 5000, n + 1))])
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('complaint', 'id'), "
                              "(SELECT max(id) FROM complaint))"))
    return {"complaints": n, "tasks": 0, "timers": 0}


def add_search_documents(engine, n: int, seed: int) -> None:
    """One search document per complaint (as intake writes it): reference, facts and a text drawn
    from ``PHRASES`` and a 5,000-word synthetic vocabulary."""
    import random

    from sqlalchemy import insert

    from closeloop.domain.search_text import document
    from models.tables import ComplaintSearch

    rnd = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    rows = []
    for cid in range(1, n + 1):
        words = rnd.choices(vocab, k=25) + [p for p, share in PHRASES if rnd.random() < share]
        rows.append({"complaint_id": cid, "doc": document(f"S{cid}", "bench", "billing", "Web", " ".join(words))})
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(insert(ComplaintSearch.__table__), rows[i:i + 5000])


def _database(args, workdir: Path) -> tuple[str, callable]:
    from sqlalchemy import text

    from models.db import make_engine

    if not args.database_url:
        path = workdir / "api.db"
        return f"sqlite:///{path}", lambda: None
    schema = f"cl_bench_api_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.database_url)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return schema_url(args.database_url, schema), drop


def _parse_args() -> argparse.Namespace:
    """The command line (``--serve`` and ``--fire`` are the two inner processes' own)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--complaints", type=int, default=100_000)
    p.add_argument("--due-fraction", type=float, default=0.05)
    p.add_argument("--requests", type=int, default=500, help="per queue endpoint")
    p.add_argument("--overview-requests", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--database-url", default=None, help="PostgreSQL URL (default: a SQLite file)")
    p.add_argument("--search-only", action="store_true",
                   help="only the search endpoints, on complaints without tasks or timers (a much faster build)")
    p.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    p.add_argument("--fire", nargs=2, metavar=("BASE", "TOKEN"), help=argparse.SUPPRESS)
    return p.parse_args()


def main() -> None:
    """Build the database, start the API, fire the load from a second process and print the latencies."""
    args = _parse_args()
    if args.serve:
        return serve(args.serve[0], int(args.serve[1]))
    if args.fire:
        return fire(args.fire[0], args.fire[1], args.requests, args.overview_requests, args.concurrency,
                    args.search_only)

    from closeloop.config import load_config

    config = load_config()
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-api-") as tmp:
        url, drop = _database(args, Path(tmp))
        server = None
        try:
            token = _build_database(url, config, args)
            server, base = _start_server(url)
            _wait_until_up(base)
            _fire_and_print(base, token, args)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            drop()


def _build_database(url: str, config, args: argparse.Namespace) -> str:
    """Migrate ``url``, fill it (see the module docstring), analyze it and print what was built in how many
    seconds; a manager token for the load (the secret)."""
    from sqlalchemy.orm import sessionmaker

    from closeloop.services.people.tokens import create_token
    from models import migrate
    from models.db import make_engine

    engine = make_engine(url)
    migrate.upgrade(engine)
    t0 = time.perf_counter()
    if args.search_only:
        counts = build_complaints(engine, config, args.complaints, args.seed)
    else:
        counts = build(engine, config, args.complaints, args.due_fraction, args.seed, compute_cohorts(config))
    add_search_documents(engine, args.complaints, args.seed)
    # a database in steady state: planner statistics (and PostgreSQL's visibility map, which
    # index-only counts need; autovacuum keeps it in production)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE")
    built = time.perf_counter() - t0
    token, _ = create_token(sessionmaker(engine), config, role="manager", name="bench", created_by="bench", at=NOW)
    engine.dispose()
    print(f"{engine.dialect.name}: {counts['complaints']:,} complaints, {counts['tasks']:,} tasks, "
          f"{counts['timers']:,} timers built in {built:.1f} s")
    return token


def _start_server(url: str) -> tuple[subprocess.Popen, str]:
    """The API on ``url`` in its own process on a free port, and its base URL (see :func:`_wait_until_up`)."""
    port = _port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)], env=env)
    return server, f"http://127.0.0.1:{port}"


def _wait_until_up(base: str) -> None:
    """Return once the API at ``base`` answers (or after about a minute of trying)."""
    import httpx

    for _ in range(300):
        try:
            if httpx.get(base + "/api/v1/openapi.json", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)


def _fire_and_print(base: str, token: str, args: argparse.Namespace) -> None:
    """Run the load process against ``base`` and print its latencies per endpoint (ms) and requests per
    second; raises ``SystemExit`` when the load process failed."""
    res = run_worker([sys.executable, __file__, "--fire", base, token, "--requests", str(args.requests),
                      "--overview-requests", str(args.overview_requests),
                      "--concurrency", str(args.concurrency)]
                     + (["--search-only"] if args.search_only else []), "fire")
    if "error" in res:
        raise SystemExit(f"load process failed: {res['error']}\n{res.get('stderr', '')[-2000:]}")
    print(f"{args.requests} requests per queue endpoint, {args.overview_requests} to the overview, "
          f"{args.concurrency} in flight, from a second process")
    print(f"{'endpoint':<18}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'req/s':>9}{'errors':>8}")
    for name, r in res.items():
        print(f"{name:<18}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['max_ms']:>9.1f}{r['rps']:>9.1f}"
              f"{r['errors']:>8}")


if __name__ == "__main__":
    main()
