"""The engine's run history (table ``engine_run``): what each sweep, delivery and purge did, and how long it took.

Written once per finished run by the flows, and once per failed run (``error``: the exception's class name);
read by the metrics (:mod:`closeloop.services.reads.health`, served at ``/metrics``). Counts only: never names,
addresses or texts.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select

from closeloop.services.uow import unit_of_work
from models.tables import EngineRun

_log = logging.getLogger(__name__)


class RunKind(StrEnum):
    """What ran (the CHECK constraint ``ck_engine_run_kind`` lists the same values)."""

    SWEEP = "sweep"
    DELIVER = "deliver"
    PURGE = "purge"


def record_run(sessions, kind: RunKind, *, worker: str, started_at: datetime, finished_at: datetime,
               duration_s: float, counts: dict[str, int], error: str | None = None) -> int:
    """Store one finished run; ``started_at``/``finished_at`` UTC-aware, ``duration_s`` wall seconds;
    ``error``: the exception class name of a run that failed (at most 200 characters), None when it finished.

    Returns the row id. Raises ``ValueError`` for a negative duration or a non-integer count.
    """
    if duration_s < 0:
        raise ValueError(f"duration_s: must be >= 0, got {duration_s}")
    bad = {k: v for k, v in counts.items() if not isinstance(v, int)}
    if bad:
        raise ValueError(f"counts: values must be integers, got {bad}")
    with unit_of_work(sessions) as s:
        row = EngineRun(kind=RunKind(kind).value, worker=worker[:100], started_at=started_at,
                        finished_at=finished_at, duration_s=duration_s, counts=dict(counts),
                        error=None if error is None else error[:200])
        s.add(row)
        s.flush()
        return row.id


def worker_name() -> str:
    """``host:pid:suffix``: unique per run, readable in ``outbox.claimed_by`` and ``engine_run.worker``."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def timed_run(app, kind, worker: str | None = None):
    """Time the block (``app``: the flows' or the CLI's app; its ``clock`` and ``sessions`` are used) and store
    it as an ``engine_run`` row (``kind``: a ``RunKind``) when it ends; a block that raises is stored with
    ``error`` (the exception's class name) and the exception goes on (a failure to store that row is logged,
    never raised over the run's own error).

    Yields a dict; the block puts the run's integer counts into it. The row's instants come from
    ``app.clock``, the duration from ``time.perf_counter`` (wall seconds).
    """

    counts: dict[str, int] = {}
    started_at, t0 = app.clock.now(), time.perf_counter()

    def store(error: str | None = None) -> None:
        record_run(app.sessions, kind, worker=worker or worker_name(), started_at=started_at,
                   finished_at=app.clock.now(), duration_s=time.perf_counter() - t0, counts=counts, error=error)

    try:
        yield counts
    except Exception as exc:
        try:
            store(type(exc).__name__)
        except Exception as record_exc:  # noqa: BLE001 - the database may be what failed; the run's error wins
            _log.warning("could not record the failed %s run: %s", kind, type(record_exc).__name__)
        raise
    store()


@dataclass(frozen=True)
class RunStats:
    """Runs of one kind that finished in a window: number, total and largest duration (s), summed counts;
    ``failed``: runs that failed in the window (not in the other figures); the last finish and failure ever."""

    runs: int
    duration_sum_s: float
    duration_max_s: float
    counts: dict[str, int]
    last_finished_at: datetime | None
    failed: int = 0
    last_failed_at: datetime | None = None


def run_stats(sessions, kind: RunKind, now: datetime, window: timedelta) -> RunStats:
    """Statistics of ``kind`` runs ended in ``(now - window, now]``; ``last_finished_at``/``last_failed_at``
    over all time."""
    of_kind = EngineRun.kind == RunKind(kind).value
    with unit_of_work(sessions) as s:
        rows = s.execute(select(EngineRun.duration_s, EngineRun.counts).where(
            of_kind, EngineRun.error.is_(None), EngineRun.finished_at > now - window,
            EngineRun.finished_at <= now)).all()
        last = s.scalar(select(func.max(EngineRun.finished_at)).where(of_kind, EngineRun.error.is_(None)))
        failed, last_failed = s.execute(select(
            func.count().filter(EngineRun.finished_at > now - window, EngineRun.finished_at <= now),
            func.max(EngineRun.finished_at)).where(of_kind, EngineRun.error.is_not(None))).one()
    counts: dict[str, int] = {}
    for _, c in rows:
        for k, v in (c or {}).items():
            if isinstance(v, int):
                counts[k] = counts.get(k, 0) + v
    durations = [d for d, _ in rows]
    return RunStats(len(rows), sum(durations), max(durations, default=0.0), counts, last, int(failed or 0),
                    last_failed)
