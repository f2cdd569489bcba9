"""The chaos run's workers (forked processes looping over the sweep and delivery services), their kills and the
database connection drops (see the package docstring)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

from tests.chaos_support.base import SECRET, T0, ChaosParams, FlakyReceiver, WarpClock


# ------------------------------------------------------------------ workers (run in forked processes)
def _worker_app(url: str, config_path: str, clock: WarpClock):
    from closeloop.bootstrap import build_app
    from closeloop.settings import Settings

    return build_app(Settings(database_url=url, config=config_path, webhook_secret=SECRET), clock=clock)


def _beat(path: str | None, started: float) -> None:
    """Record a pass that started at ``started`` (wall time) and has just finished: ``path`` holds the start."""
    if path:
        tmp = f"{path}.{os.getpid()}"
        Path(tmp).write_text(repr(started), encoding="utf-8")
        os.replace(tmp, path)


def run_sweeper(url: str, config_path: str, clock: WarpClock, beat: str | None = None) -> None:
    """Sweep at the warped instant, again and again (small batches: a kill lands inside one)."""
    from closeloop.services.engine.sweep import sweep

    app = _worker_app(url, config_path, clock)
    while True:
        started = time.time()
        try:
            sweep(app.sessions, app.config, clock.now(), batch=100)
            _beat(beat, started)
        except Exception as exc:  # noqa: BLE001 - a flow run that failed; the next run goes on (as Prefect would)
            print(f"sweeper {os.getpid()}: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
        time.sleep(0.05)


def run_deliverer(url: str, config_path: str, clock: WarpClock, lease_s: float, beat: str | None = None) -> None:
    """Drain the outbox as ``flows/deliver.py`` does (sender, retry policy from the settings, the operations
    manager's alert), with small batches, again and again."""
    from closeloop.services.engine.delivery import RetryPolicy, deliver_once
    from closeloop.services.engine.notify import dead_letter_alert
    from flows.runinfo import worker_name
    from integrations.senders import open_default_sender

    app = _worker_app(url, config_path, clock)
    policy, alert, name = RetryPolicy.from_settings(app.settings), dead_letter_alert(app.config), worker_name()

    async def forever() -> None:
        async with open_default_sender(secret=SECRET.encode(), deadline_s=2.0, capture_dir="/nonexistent",
                                       apprise=False) as sender:
            while True:
                started = time.time()
                try:
                    await deliver_once(app.sessions, sender, clock, worker=name, batch=20, concurrency=10,
                                       max_batches=5, lease=timedelta(seconds=lease_s), policy=policy, alert=alert)
                    _beat(beat, started)
                except Exception as exc:  # noqa: BLE001 - as above
                    print(f"deliverer {os.getpid()}: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
                await asyncio.sleep(0.05)

    asyncio.run(forever())


def _context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.chaos_support", "closeloop.services.engine.sweep",
                                "closeloop.services.engine.delivery", "integrations.senders", "flows.runinfo",
                                "closeloop.bootstrap"])
    return ctx


class Workers:
    """The worker processes by slot; a slot whose process ended is started again."""

    def __init__(self, ctx, specs: list[tuple]):
        self.ctx, self.specs = ctx, specs
        self.procs: list = [None] * len(specs)
        self.kills = self.crashes = 0

    def start(self, i: int) -> None:
        target, args = self.specs[i]
        self.procs[i] = self.ctx.Process(target=target, args=args, daemon=True)
        self.procs[i].start()

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        self.kills += 1
        self.start(i)

    def revive(self) -> None:
        for i, proc in enumerate(self.procs):
            if proc is not None and not proc.is_alive():
                proc.join()
                self.crashes += 1
                self.start(i)

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
            if proc is not None:
                proc.join()


#: ends the run's backends (``:n``), all of them, once one is busy (not ``idle``) or ``:anyway``; returns their states
_DROP_SQL = ("SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE application_name = :n AND pid <> pg_backend_pid() "
             "AND (:anyway OR EXISTS (SELECT 1 FROM pg_stat_activity b WHERE b.application_name = :n "
             "AND b.pid <> pg_backend_pid() AND b.state <> 'idle'))")


class DbDrops:
    """Ends every connection of the run's workers server-side (``pg_terminate_backend`` on each backend whose
    ``application_name`` is ``app_name``: what a PostgreSQL restart does to its clients; the server and other
    clients are untouched) and measures, per worker kind, the wall seconds from each drop to the end of the first
    pass that started after it (the workers write the start of each finished pass to their kind's beat file)."""

    def __init__(self, admin_url: str, app_name: str, beats: dict[str, Path]):
        from models.db import make_engine

        self.admin = make_engine(admin_url)
        self.app_name, self.beats = app_name, beats
        self.drops = self.dropped = self.in_transaction = 0
        self.pending: list[tuple[float, set[str]]] = []
        self.resumed: dict[str, list[float]] = {kind: [] for kind in beats}

    def drop(self, wait_s: float = 10.0, in_flight_s: float = 3.0) -> None:
        """End every connection of the run. For up to ``in_flight_s`` it waits (polling every 5 ms) for a moment
        when one of them is in a statement or a transaction, so that the drop cuts work in flight, as a restart
        during a busy minute does (dropping only idle pooled connections would test ``pool_pre_ping`` alone);
        after that it ends whatever the workers hold (waiting up to ``wait_s`` in all for them to hold one)."""
        from sqlalchemy import text

        start = time.time()
        while True:
            anyway = time.time() - start > in_flight_s
            with self.admin.begin() as c:  # one statement: the states read and the backends ended are one snapshot
                rows = c.execute(text(_DROP_SQL), {"n": self.app_name, "anyway": anyway}).all()
            if rows or time.time() - start > wait_s:
                break
            time.sleep(0.005 if not anyway else 0.05)
        self.drops += 1
        self.dropped += sum(1 for _, ok in rows if ok)
        self.in_transaction += sum(1 for state, ok in rows if ok and state != "idle")
        self.pending.append((time.time(), set(self.beats)))

    def poll(self) -> None:
        for at, kinds in self.pending:
            for kind in list(kinds):
                path = self.beats[kind]
                try:
                    started, finished = float(path.read_text(encoding="utf-8")), path.stat().st_mtime
                except (OSError, ValueError):
                    continue
                if started > at:
                    self.resumed[kind].append(finished - at)
                    kinds.discard(kind)
        self.pending = [(at, kinds) for at, kinds in self.pending if kinds]

    def close(self) -> None:
        self.admin.dispose()


def _sleep_until(deadline: float, workers: Workers, drops: DbDrops | None = None) -> None:
    while (left := deadline - time.time()) > 0:
        time.sleep(min(left, 0.2))
        workers.revive()
        if drops is not None:
            drops.poll()


def chaos_phase(url: str, config_path: Path, params: ChaosParams, receiver: FlakyReceiver,
                drops: DbDrops | None = None) -> tuple[datetime, Workers]:
    """Run the workers for ``params.seconds`` of wall time, killing one at each seeded moment, closing the
    receiver's port for ``outage_s`` in the middle and (with ``drops``) ending every database connection
    ``params.db_drops`` times; returns the warped instant at the end and the workers."""
    rng = random.Random(params.seed + 1)
    wall0 = time.time()
    clock = WarpClock(T0, wall0, params.speed)
    lease_s = params.lease_wall_s * params.speed
    beats = {kind: str(path) for kind, path in drops.beats.items()} if drops else {}
    specs = ([(run_sweeper, (url, str(config_path), clock, beats.get("sweep")))] * params.sweepers
             + [(run_deliverer, (url, str(config_path), clock, lease_s, beats.get("deliver")))] * params.deliverers)
    workers = Workers(_context(), specs)
    for i in range(len(specs)):
        workers.start(i)
    outage = params.seconds * 0.4
    n_drops = params.db_drops if drops else 0
    events = sorted([(rng.uniform(0.5, params.seconds - 0.5), "kill") for _ in range(params.kills)]
                    + [(outage, "down"), (outage + params.outage_s, "up")]
                    + [(rng.uniform(1.0, params.seconds - 4.0), "drop") for _ in range(n_drops)])
    try:
        for at, what in events:
            _sleep_until(wall0 + at, workers, drops)
            if what == "kill":
                workers.kill(rng.randrange(len(specs)))
            elif what == "drop" and drops is not None:
                drops.drop()
            else:
                getattr(receiver, what)()
        _sleep_until(wall0 + params.seconds, workers, drops)
    finally:
        workers.stop()
    return clock.now(), workers
