"""Readable run names and tags: what a flow run did and how much, set when it ends.

Prefect names runs at random (``sweep/brave-otter``); an operator scanning the UI wants
``sweep: fired 12, 3 messages``. :func:`label_run` renames the current flow run and adds
tags; outside a flow run (``flow.fn(...)`` in tests, the CLI) it does nothing. A failure to
reach the Prefect API is logged, never raised: the work is already committed.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager

from prefect.context import FlowRunContext

from closeloop.services.engine.engine_runs import record_run

_log = logging.getLogger(__name__)

#: Prefect keeps every tag; a sweep touching thousands of complaints tags at most this many ids.
MAX_ID_TAGS = 50
#: Likewise for department names (a configuration has a handful; the bound keeps a large one readable).
MAX_DEPARTMENT_TAGS = 30


def label_run(name: str, tags: Iterable[str] = ()) -> None:
    """Rename the current flow run to ``name`` (at most 120 characters) and add ``tags``."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    # deferred: the engine's workers import runinfo outside a flow run; the client only inside one
    from prefect.client.orchestration import get_client

    merged = sorted(set(ctx.flow_run.tags) | set(tags))
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(ctx.flow_run.id, name=name[:120], tags=merged)
    except Exception as exc:  # noqa: BLE001 - labelling is cosmetic; the run's work is committed
        _log.warning("could not label flow run %s: %s", ctx.flow_run.id, exc)


def id_tags(prefix: str, ids: Iterable[int] | Iterable[str], limit: int = MAX_ID_TAGS) -> list[str]:
    """``prefix:id`` tags for the first ``limit`` ids (or names) in ascending order, plus ``prefix:+N more``."""
    ordered = sorted(ids)
    tags = [f"{prefix}:{i}" for i in ordered[:limit]]
    if len(ordered) > limit:
        tags.append(f"{prefix}:+{len(ordered) - limit} more")
    return tags


def worker_name() -> str:
    """``host:pid:suffix``: unique per run, readable in ``outbox.claimed_by`` and ``engine_run.worker``."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def timed_run(app, kind, worker: str | None = None):
    """Time the block and store it as an ``engine_run`` row (``kind``: a ``RunKind``) when it ends; a block
    that raises is stored with ``error`` (the exception's class name) and the exception goes on (a failure to
    store that row is logged, never raised over the run's own error).

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
