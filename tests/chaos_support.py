"""The chaos run of issue 18, shared by ``tests/integration/test_chaos.py`` (small, bounded) and ``bench/chaos.py``
(bigger numbers, figures printed).

What it does, on one database (a SQLite file or a PostgreSQL schema):

1. **Data**: ``complaints`` complaints taken in through the import (``import_file``, JSON Lines) in batches over the
   two days before ``T0``, so that at ``T0`` many timers are overdue (a catch-up) and more fall due while the run
   goes on. No sweep has run: the workers reschedule, fire and pack everything.
2. **Workers**: ``sweepers`` + ``deliverers`` processes, each looping over the services the flows run
   (``services.engine.sweep.sweep``; ``services.engine.delivery.deliver_once`` with the flow's sender, retry policy
   from the settings and the operations manager's dead-letter alert). Time is :class:`WarpClock`: ``T0`` plus the
   wall time since the start times ``speed``, the same in every process, so the production retry schedule
   (exponential, 24 h before a dead letter) and the business calendars play out in seconds. Processes are forked
   from a ``multiprocessing`` fork server that has imported closeloop once, so a restart costs milliseconds, not the
   imports; a kill is ``SIGKILL`` of the worker's own process.
3. **Chaos**: ``kills`` times, at seeded random moments, a random worker is killed with ``SIGKILL`` and a new one is
   started in its place. The webhook target is :class:`FlakyReceiver` (a real HTTP server on 127.0.0.1): it answers
   500 sometimes, drops the connection sometimes (before or after it processed the request), refuses a request
   with 404 now and then (a dead letter at once), and is down (port closed) for ``outage_s`` in the middle.
4. **The end**: the workers are killed, the receiver is healthy again; then the tool's own commands (the Typer CLI,
   in process): ``closeloop sweep --now <end>``, ``closeloop deliver`` until nothing is due, the dead letters
   are read (each must have a reason and an error), ``closeloop outbox retry --all-dead``, ``closeloop deliver``.
5. **Checks** (:func:`verify`): every due timer fired, once; every released notification packed into one message;
   every message delivered (the receiver processed its key), dead letters re-sent to delivery; no message and no
   notification under two idempotency keys; duplicates at the receiver only ever repeat one key; every request signed.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import signal
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.receiver import Receiver, Reply

#: Wednesday 5 March 2025, 09:00 in New York (the default calendar opens; the complaints come in over the two
#: working days before): long past, so the CLI's system clock in
#: the final phase finds every retry due.
T0 = datetime(2025, 3, 5, 14, 0, tzinfo=UTC)
SECRET = "chaos-secret"
PRODUCTS = ("Credit reporting", "Mortgage", "Debt collection", "Credit card", "Checking or savings account",
            "Student loan", "Vehicle loan or lease", "Money transfer")


@dataclass(frozen=True)
class ChaosParams:
    """The run's size and faults. ``seconds``: wall time of the chaos phase; ``speed``: simulated seconds per
    wall second; ``lease_wall_s``: a delivery claim's lease in wall seconds (the flow's rule, warped);
    ``max_delay_s``: the receiver answers after a random delay up to this (so kills land on sends in flight);
    ``db_drops``: PostgreSQL only, times every connection of the run is ended server-side (``pg_terminate_backend``,
    what a database restart does to its clients) while the workers go on."""

    complaints: int = 120
    kills: int = 20
    seconds: float = 24.0
    speed: float = 1200.0
    sweepers: int = 2
    deliverers: int = 2
    seed: int = 18
    p_error: float = 0.15
    p_drop_before: float = 0.05
    p_drop_after: float = 0.05
    p_reject: float = 0.02
    outage_s: float = 4.0
    lease_wall_s: float = 3.0
    max_delay_s: float = 0.3
    db_drops: int = 0


#: The counted figures of a run, in the order they are printed.
FIGURES = ("kills", "crashes", "db_drops", "connections_dropped", "dropped_in_transaction", "complaints", "timers_due",
           "fired", "fired_during_chaos", "due_unfired",
           "notifications", "messages", "delivered", "dead_lettered", "retried", "requests", "duplicate_keys",
           "duplicate_deliveries")


@dataclass
class ChaosFigures:
    """A run's figures: ``n`` counts by :data:`FIGURES` name, dead letters by reason, wall seconds, and the
    ``problems`` found (empty when every promise held)."""

    backend: str = ""
    n: Counter = field(default_factory=Counter)
    dead_reasons: dict = field(default_factory=dict)
    wall_s: float = 0.0
    problems: list = field(default_factory=list)
    resumed_s: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"backend": self.backend, **{k: self.n[k] for k in FIGURES}, "dead_reasons": self.dead_reasons,
                "resumed_s": self.resumed_s, "wall_s": self.wall_s, "problems": self.problems}


# ------------------------------------------------------------------ time
class WarpClock:
    """``start`` + (wall time since ``wall0``) x ``speed``: one shared, fast-running instant for every process."""

    def __init__(self, start: datetime, wall0: float, speed: float):
        self.start, self.wall0, self.speed = start, wall0, speed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.wall0) * self.speed)


# ------------------------------------------------------------------ the receiver
@dataclass(frozen=True)
class Drop:
    """Close the connection without an answer; ``processes``: the request was taken before (a lost answer)."""

    processes: bool = False


class FlakyReceiver(Receiver):
    """The test receiver with seeded random faults on every path, and an outage (the port closed) on demand."""

    def __init__(self, params: ChaosParams):
        super().__init__()
        self.params = params
        self.rng = random.Random(params.seed)
        self.faults = True

    def _next(self, path: str):
        p = self.params
        with self._lock:
            if not self.faults:
                return Reply()
            x, delay = self.rng.random(), self.rng.uniform(0, p.max_delay_s)
        for chance, action in ((p.p_error, Reply(500, body=b"busy")), (p.p_drop_before, Drop(False)),
                               (p.p_drop_after, Drop(True)), (p.p_reject, Reply(404, body=b"no such hook"))):
            if x < chance:
                return action
            x -= chance
        return Reply(delay=delay)

    async def _act(self, action, reader, writer) -> bool:
        if isinstance(action, Drop):
            return False
        return await super()._act(action, reader, writer)

    def down(self) -> None:
        async def close():
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result()

    def up(self) -> None:
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=512), self._loop).result()


# ------------------------------------------------------------------ configuration and data
def write_config(directory: Path, hook: str) -> Path:
    """The bundled configuration with every notification (and the dead-letter alert) sent to ``hook``: the
    operations manager and crisis owner to ``hook`` itself, each department to ``hook/<department>``."""
    from importlib import resources

    text = resources.files("closeloop.config").joinpath("default.toml").read_text("utf-8")
    old = 'default_notify = "capture://notifications.jsonl"'
    assert old in text and 'notify = ""' in text, "the bundled configuration changed: update the chaos run"
    text = text.replace(old, f'default_notify = "{hook}"')
    for dept in ("product", "operations", "service", "triage"):
        text = text.replace(f'[departments.{dept}]\n', f'[departments.{dept}]\nnotify = "{hook}/{dept}"\n', 1)
    path = directory / "chaos.toml"
    path.write_text(text.replace('notify = ""\n', ""), encoding="utf-8")
    return path


def load_data(sessions, config, params: ChaosParams, directory: Path) -> int:
    """Take ``params.complaints`` complaints in through the import, in six batches over the working hours of
    the two days before :data:`T0` (each batch at its own instant, so their clocks and timers are spread), with
    no sweep. Returns the complaints created."""
    from closeloop.clock import FixedClock
    from closeloop.services.intake.importing import import_file

    rng = random.Random(params.seed)
    received = sorted(T0 - timedelta(days=rng.choice((1, 2))) + timedelta(hours=rng.uniform(0, 8))
                      for _ in range(params.complaints))
    created, size = 0, -(-len(received) // 6)
    for b in range(0, len(received), size):
        chunk = received[b:b + size]
        path = directory / f"batch-{b}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for i, at in enumerate(chunk, start=b):
                product = rng.choice(PRODUCTS)
                fh.write(json.dumps({"external_ref": f"chaos-{i}", "received_at": at.isoformat(), "source": "chaos",
                                     "product": product, "category": product, "customer_ref": f"cust-{i % 40}",
                                     "text": "charged twice" if i % 3 else "my lawyer will call"}) + "\n")
        created += import_file(sessions, config, FixedClock(chunk[-1]), path).created
    return created


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

    def drop(self, wait_s: float = 10.0) -> None:
        """End every connection of the run (waiting up to ``wait_s`` for the workers to hold one at all)."""
        from sqlalchemy import text

        deadline = time.time() + wait_s
        while True:
            with self.admin.begin() as c:
                rows = c.execute(text("SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE application_name = :n AND pid <> pg_backend_pid()"),
                                 {"n": self.app_name}).all()
            if rows or time.time() > deadline:
                break
            time.sleep(0.05)
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


# ------------------------------------------------------------------ the end: the tool's own commands
def cli(env: dict[str, str], *args: str) -> str:
    """``closeloop ARGS`` in process (Typer's runner) with ``env``; fails on a non-zero exit."""
    from typer.testing import CliRunner

    from closeloop.cli import app

    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, f"closeloop {' '.join(args)}: exit {result.exit_code}: {result.output}"
    return result.output


def drain(env: dict[str, str]) -> None:
    """``closeloop deliver`` until a run claims nothing (every row is due: the system clock is past ``T0``)."""
    for _ in range(50):
        if json.loads(cli(env, "deliver", "--json", "--max-batches", "200"))["claimed"] == 0:
            return
    raise AssertionError("the outbox did not drain in 50 delivery runs")


def dead_letters_now(sessions) -> list[tuple[int, str | None, str | None]]:
    """(id, reason, last error) of every dead letter."""
    from sqlalchemy import select

    from models.tables import Outbox

    with sessions() as s:
        return [tuple(r) for r in s.execute(select(Outbox.id, Outbox.dead_reason, Outbox.last_error)
                                            .where(Outbox.status == "dead").order_by(Outbox.id))]


# ------------------------------------------------------------------ checks
def _check_timers(s, end: datetime, fig: ChaosFigures) -> None:
    from sqlalchemy import func, select

    from models.tables import Notification, Timer

    def n(*where) -> int:
        return s.scalar(select(func.count()).select_from(Timer).where(*where)) or 0

    fig.n["timers_due"] = n(Timer.fire_at <= end, Timer.status != "cancelled")
    fig.n["fired"] = n(Timer.status == "fired")
    fig.n["fired_during_chaos"] = n(Timer.status == "fired", Timer.fired_at < end)
    fig.n["due_unfired"] = n(Timer.status == "pending", Timer.fire_at <= end)
    if fig.n["due_unfired"]:
        fig.problems.append(f"{fig.n['due_unfired']} due timers never fired")
    twice = s.execute(select(Notification.key).group_by(Notification.key).having(func.count() > 1)).all()
    if twice:
        fig.problems.append(f"notifications fired twice: {[k for (k,) in twice][:5]}")


def _check_outbox(s, end: datetime, fig: ChaosFigures) -> dict[int, str]:
    """Every released notification packed into a delivered message; returns the messages' keys by id."""
    from sqlalchemy import select

    from models.tables import Notification, Outbox

    rows = s.execute(select(Outbox.id, Outbox.idempotency_key, Outbox.status, Outbox.requeues)).all()
    fig.n["messages"], fig.n["retried"] = len(rows), sum(1 for r in rows if r.requeues)
    fig.n["delivered"] = sum(1 for r in rows if r.status == "delivered")
    undelivered = [(r.id, r.status) for r in rows if r.status != "delivered"]
    if undelivered:
        fig.problems.append(f"{len(undelivered)} messages not delivered: {undelivered[:5]}")
    notes = s.execute(select(Notification.key, Notification.status, Notification.outbox_id)
                      .where(Notification.release_at <= end)).all()
    fig.n["notifications"] = sum(1 for r in notes if r.status == "packed")
    left = [r.key for r in notes if r.status == "pending" or (r.status == "packed" and r.outbox_id is None)]
    if left:
        fig.problems.append(f"{len(left)} released notifications never packed: {left[:5]}")
    return {r.id: r.idempotency_key for r in rows}


def _check_receiver(hits: list, keys_by_id: dict[int, str], fig: ChaosFigures) -> None:
    """Processed requests against the outbox: one key per message and per notification, every key seen."""
    from integrations.senders import SIGNATURE_HEADER, verify_signature

    fig.n["requests"] = len(hits)
    unsigned = sum(1 for h in hits if not verify_signature(SECRET.encode(), h.body,
                                                           h.headers.get(SIGNATURE_HEADER.lower())))
    if unsigned:
        fig.problems.append(f"{unsigned} requests without a valid signature")
    processed = [h for h in hits if h.action.processes]
    seen = Counter(h.key for h in processed)
    fig.n["duplicate_keys"] = sum(1 for c in seen.values() if c > 1)
    fig.n["duplicate_deliveries"] = sum(c - 1 for c in seen.values())
    keys_of_message: dict[int, set[str]] = defaultdict(set)
    keys_of_notification: dict[str, set[str]] = defaultdict(set)
    for h in processed:
        doc = json.loads(h.body)
        keys_of_message[doc["id"]].add(h.key)
        if doc["idempotency_key"] != h.key or keys_by_id.get(doc["id"]) != h.key:
            fig.problems.append(f"message {doc['id']} arrived under key {h.key}, "
                                f"its key is {keys_by_id.get(doc['id'])}")
        for item in (doc.get("payload") or {}).get("items", []):
            for key in item.get("keys", []):
                keys_of_notification[key].add(h.key)
    for what, groups in (("message", keys_of_message), ("notification", keys_of_notification)):
        two = {k: sorted(v) for k, v in groups.items() if len(v) > 1}
        if two:
            fig.problems.append(f"{len(two)} {what}s delivered under two keys: {list(two.items())[:3]}")
    missing = sorted(set(keys_by_id.values()) - set(seen))
    if missing:
        fig.problems.append(f"{len(missing)} message keys never processed by the receiver: {missing[:5]}")


def verify(sessions, receiver: FlakyReceiver, end: datetime, fig: ChaosFigures) -> ChaosFigures:
    """Fill ``fig`` from the database and the receiver; ``fig.problems`` lists every broken promise."""
    with sessions() as s:
        _check_timers(s, end, fig)
        keys_by_id = _check_outbox(s, end, fig)
    with receiver._lock:
        hits = list(receiver.requests)
    _check_receiver(hits, keys_by_id, fig)
    if fig.n["fired"] == 0 or fig.n["notifications"] == 0:
        fig.problems.append("nothing fired or nothing was sent: the run proves nothing")
    return fig


# ------------------------------------------------------------------ the whole run
def _drops_for(url: str, params: ChaosParams, directory: Path) -> tuple[str, DbDrops | None]:
    """The workers' URL and, when ``params.db_drops`` asks for it on PostgreSQL, the :class:`DbDrops` that ends
    their connections: the workers connect under an ``application_name`` of this run alone."""
    from sqlalchemy import make_url

    if not params.db_drops or not url.startswith("postgresql"):
        return url, None
    name = f"closeloop-chaos-{os.getpid()}"
    worker_url = make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)
    beats = {kind: directory / f"beat-{kind}" for kind in ("sweep", "deliver")}
    return worker_url, DbDrops(url, name, beats)


def _drop_figures(drops: DbDrops, fig: ChaosFigures) -> None:
    drops.poll()
    fig.n["db_drops"], fig.n["connections_dropped"] = drops.drops, drops.dropped
    fig.n["dropped_in_transaction"] = drops.in_transaction
    fig.resumed_s = {kind: round(max(v), 2) if v else None for kind, v in drops.resumed.items()}
    if drops.pending:
        fig.problems.append(f"{len(drops.pending)} drops not followed by a finished pass of "
                            f"{sorted(set().union(*(kinds for _, kinds in drops.pending)))}")
    if drops.dropped < drops.drops:
        fig.problems.append(f"{drops.drops} drops ended only {drops.dropped} connections: a drop hit nothing")


def run_chaos(url: str, params: ChaosParams, directory: Path, backend: str) -> ChaosFigures:
    """Data, chaos, the end (see the module docstring); returns the figures (``problems`` empty when it held)."""
    from sqlalchemy.orm import sessionmaker

    from closeloop.config import load_config
    from models.db import make_engine

    t0 = time.perf_counter()
    fig = ChaosFigures(backend=backend)
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    receiver = FlakyReceiver(params).start()
    try:
        config_path = write_config(directory, receiver.url("/hook"))
        fig.n["complaints"] = load_data(sessions, load_config(config_path), params, directory)
        worker_url, drops = _drops_for(url, params, directory)
        try:
            end, workers = chaos_phase(worker_url, config_path, params, receiver, drops)
        finally:
            if drops is not None:
                _drop_figures(drops, fig)
                drops.close()
        fig.n["kills"], fig.n["crashes"] = workers.kills, workers.crashes
        receiver.faults = False
        env = {"CLOSELOOP_DATABASE_URL": url, "CLOSELOOP_CONFIG": str(config_path),
               "CLOSELOOP_WEBHOOK_SECRET": SECRET, "CLOSELOOP_CAPTURE_DIR": str(directory / "capture")}
        cli(env, "sweep", "--now", end.isoformat())
        drain(env)
        dead = dead_letters_now(sessions)
        fig.n["dead_lettered"] = len(dead)
        fig.dead_reasons = dict(Counter(str(reason) for _, reason, _ in dead))
        fig.problems += [f"dead letter {i} without a reason or an error" for i, reason, error in dead
                         if not reason or not error]
        cli(env, "outbox", "retry", "--all-dead", "--actor", "chaos")
        drain(env)
        verify(sessions, receiver, end, fig)
    finally:
        receiver.stop()
        engine.dispose()
    fig.wall_s = round(time.perf_counter() - t0, 1)
    return fig
