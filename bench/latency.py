"""End-to-end latency on PostgreSQL: from a timer falling due to its notification reaching a local webhook receiver.

Complaints come in through the import (``tests/chaos_support.load_data``: received over the two days before a fixed
Wednesday ``T0``), one sweep and a delivery drain take care of everything due before ``T0``; then a **sweep process**
runs every ``--sweep-every`` wall seconds and a **delivery process** every ``--deliver-every`` (defaults: the deployed
schedules of ``deploy/prefect.yaml``, 300 and 60; each at a random phase, as Prefect's interval anchors are), each
calling the service its flow calls (``sweep``; ``deliver_once`` with the flow's sender). Time runs ``--speed`` times
faster than the wall for the engine (so that enough timers fall due in a short run), but latency is measured in wall
seconds: a timer due at simulated ``fire_at`` falls due at wall ``wall0 + (fire_at - T0) / speed``, and arrives when
the receiver reads the first request whose digest lists its key. Every calendar is open all week (no quiet hours).

Only timers falling due early enough to be delivered before the end (``--seconds`` minus one sweep interval, one
delivery interval and a margin) are counted; each must have arrived. Prefect's own run start (13-20 s per run on a
process worker, issue 15) is not included: the loops are plain processes.

    python bench/latency.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/latency.py --database-url ... --sweep-every 30 --deliver-every 6 --seconds 150   # tight schedules

Prints p50, p95 and max latency, the runs' durations, CPU seconds of the two processes and the load average.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECRET = "latency-secret"


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True, help="PostgreSQL URL (a fresh schema is made and dropped)")
    ap.add_argument("--complaints", type=int, default=400)
    ap.add_argument("--speed", type=float, default=600.0, help="simulated seconds per wall second")
    ap.add_argument("--sweep-every", type=float, default=300.0)
    ap.add_argument("--deliver-every", type=float, default=60.0)
    ap.add_argument("--seconds", type=float, default=900.0, help="wall seconds of the measured phase")
    ap.add_argument("--seed", type=int, default=15)
    return ap.parse_args()


def _app(url: str, config_path: str, clock):
    from closeloop.bootstrap import build_app
    from closeloop.settings import Settings

    return build_app(Settings(database_url=url, config=config_path, webhook_secret=SECRET), clock=clock)


def _every(interval: float, phase: float, until: float):
    """Wall instants ``phase + k * interval`` up to ``until``, sleeping until each."""
    at = phase
    while at < until:
        time.sleep(max(0.0, at - time.time()))
        yield at
        at += interval


def sweeper(url: str, config_path: str, clock, interval: float, phase: float, until: float, out) -> None:
    from closeloop.services.engine.sweep import sweep

    app = _app(url, config_path, clock)
    for _ in _every(interval, phase, until):
        t0 = time.perf_counter()
        report = sweep(app.sessions, app.config, clock.now())
        out.put(("sweep", time.perf_counter() - t0, sum(report.fired.values())))


def deliverer(url: str, config_path: str, clock, interval: float, phase: float, until: float, out) -> None:
    import asyncio

    from closeloop.services.engine.delivery import RetryPolicy, deliver_once
    from integrations.senders import open_default_sender

    app = _app(url, config_path, clock)

    async def loop() -> None:
        async with open_default_sender(secret=SECRET.encode(), deadline_s=10.0, capture_dir="/nonexistent",
                                       apprise=False) as sender:
            for _ in _every(interval, phase, until):
                t0 = time.perf_counter()
                report = await deliver_once(app.sessions, sender, clock, worker="latency",
                                            policy=RetryPolicy.from_settings(app.settings))
                out.put(("deliver", time.perf_counter() - t0, report.delivered))

    asyncio.run(loop())


def _prepare(url: str, args, directory: Path, receiver) -> tuple[Path, object]:
    """Data in, everything due before ``T0`` swept and delivered; returns the configuration path and sessions."""
    import asyncio

    from closeloop.clock import FixedClock
    from closeloop.config import load_config
    from closeloop.services.engine.delivery import deliver_once
    from closeloop.services.engine.sweep import sweep
    from integrations.senders import open_default_sender
    from models.db import make_engine, make_sessions
    from tests.chaos_support import T0, ChaosParams, load_data, write_config

    config_path = write_config(directory, receiver.url("/hook"))
    text = config_path.read_text(encoding="utf-8")
    assert 'hours = "mon-fri 09:00-17:00"' in text, "the bundled calendar changed: update bench/latency.py"
    config_path.write_text(text.replace('hours = "mon-fri 09:00-17:00"', 'hours = "mon-sun 00:00-23:59"'), "utf-8")
    sessions = make_sessions(make_engine(url))
    config = load_config(config_path)
    load_data(sessions, config, ChaosParams(complaints=args.complaints, seed=args.seed), directory)
    sweep(sessions, config, T0)

    async def drain() -> None:
        async with open_default_sender(secret=SECRET.encode(), deadline_s=10.0, capture_dir="/nonexistent",
                                       apprise=False) as sender:
            while (await deliver_once(sessions, sender, FixedClock(T0), worker="prepare")).claimed:
                pass

    asyncio.run(drain())
    return config_path, sessions


def _latencies(sessions, receiver, wall0: float, speed: float, window_end: float) -> tuple[list[float], int]:
    """Wall seconds from due to arrival of every timer due in [wall0, window_end]; and how many never arrived."""
    from sqlalchemy import select

    from models.tables import Timer
    from tests.chaos_support import T0

    arrived: dict[str, float] = {}
    for hit in sorted(receiver.requests, key=lambda h: h.at):
        if not hit.action.processes:
            continue
        for item in (json.loads(hit.body).get("payload") or {}).get("items", []):
            for key in item.get("keys", []):
                arrived.setdefault(key, hit.at)
    with sessions() as s:
        rows = s.execute(select(Timer.key, Timer.fire_at).where(
            Timer.fire_at > T0, Timer.fire_at <= T0 + timedelta(seconds=(window_end - wall0) * speed),
            Timer.status == "fired")).all()
    lat, missing = [], 0
    for key, fire_at in rows:
        if key not in arrived:
            missing += 1  # fired without a notification of that key (e.g. a closing notice): not counted
            continue
        lat.append(arrived[key] - (wall0 + (fire_at - T0).total_seconds() / speed))
    return lat, missing


def _run(url: str, config_path: Path, args, out) -> tuple[float, float]:
    """The measured phase: the two processes on their schedules; returns (wall0, end)."""
    from tests.chaos_support import T0, WarpClock

    rng = random.Random(args.seed)
    ctx = multiprocessing.get_context("spawn")
    wall0 = time.time() + 5.0  # the processes' imports happen before the clock starts
    end = wall0 + args.seconds
    clock = WarpClock(T0, wall0, args.speed)
    procs = [ctx.Process(target=sweeper, args=(url, str(config_path), clock, args.sweep_every,
                                               wall0 + rng.uniform(0, args.sweep_every), end, out)),
             ctx.Process(target=deliverer, args=(url, str(config_path), clock, args.deliver_every,
                                                 wall0 + rng.uniform(0, args.deliver_every), end, out))]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return wall0, end


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    from bench.deliver import fresh_database
    from tests.integration.receiver import Receiver

    args = _args()
    engine, _sessions, cleanup = fresh_database(args.database_url)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    receiver = Receiver().start()
    out = multiprocessing.get_context("spawn").Queue()
    try:
        with tempfile.TemporaryDirectory(prefix="closeloop-latency-") as tmp:
            config_path, sessions = _prepare(url, args, Path(tmp), receiver)
            load0, cpu0 = os.getloadavg()[0], resource.getrusage(resource.RUSAGE_CHILDREN)
            wall0, end = _run(url, config_path, args, out)
            cpu1, load1 = resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg()[0]
            window_end = end - args.sweep_every - args.deliver_every - 10.0
            lat, missing = _latencies(sessions, receiver, wall0, args.speed, window_end)
    finally:
        receiver.stop()
        cleanup()
    runs: dict[str, list[tuple[float, int]]] = {"sweep": [], "deliver": []}
    while not out.empty():
        kind, seconds, n = out.get()
        runs[kind].append((seconds, n))
    _print(args, lat, missing, runs, (load0, load1), cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime)
    return 0


def _print(args, lat, missing, runs, loads, cpu_s) -> None:
    print(f"PostgreSQL, {args.complaints} complaints, sweep every {args.sweep_every:g} s, delivery every "
          f"{args.deliver_every:g} s, {args.seconds:g} s wall, engine time x{args.speed:g}")
    if lat:
        print(f"  latency due -> receiver: {len(lat)} timers, p50 {_pct(lat, 50):.1f} s, p95 {_pct(lat, 95):.1f} s, "
              f"max {max(lat):.1f} s, min {min(lat):.1f} s")
    print(f"  fired without a notification under the timer's key (not counted): {missing}")
    for kind, rows in runs.items():
        if rows:
            secs = [s for s, _ in rows]
            print(f"  {kind} runs: {len(rows)}, {sum(n for _, n in rows)} {'fired' if kind == 'sweep' else 'delivered'}"
                  f", duration mean {statistics.mean(secs):.2f} s, max {max(secs):.2f} s")
    print(f"  CPU seconds of the two processes: {cpu_s:.1f}; load average (1 min) {loads[0]:.1f} -> {loads[1]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
