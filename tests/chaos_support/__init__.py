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

import os
import time
from collections import Counter
from pathlib import Path

from tests.chaos_support.base import (
    FIGURES,
    PRODUCTS,
    SECRET,
    T0,
    ChaosFigures,
    ChaosParams,
    FlakyReceiver,
    WarpClock,
    load_data,
    write_config,
)
from tests.chaos_support.checks import cli, dead_letters_now, drain, verify
from tests.chaos_support.workers import DbDrops, chaos_phase


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
    from closeloop.config import load_config
    from models.db import make_engine, make_sessions

    t0 = time.perf_counter()
    fig = ChaosFigures(backend=backend)
    engine = make_engine(url)
    sessions = make_sessions(engine)
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


__all__ = ["FIGURES", "PRODUCTS", "SECRET", "T0", "ChaosFigures", "ChaosParams", "FlakyReceiver", "WarpClock",
           "load_data", "write_config", "run_chaos"]
