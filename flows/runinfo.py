"""Readable run names and tags: what a flow run did and how much, set when it ends.

Prefect names runs at random (``sweep/brave-otter``); an operator scanning the UI wants
``sweep: fired 12, 3 messages``. :func:`label_run` renames the current flow run and adds
tags; outside a flow run (``flow.fn(...)`` in tests, the CLI) it does nothing. A failure to
reach the Prefect API is logged, never raised: the work is already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prefect.context import FlowRunContext

# timed_run and worker_name live beside record_run (no Prefect: ``closeloop sweep`` records its runs too)
from closeloop.services.engine.engine_runs import timed_run, worker_name

_log = logging.getLogger(__name__)

__all__ = ["MAX_DEPARTMENT_TAGS", "MAX_ID_TAGS", "id_tags", "label_run", "timed_run", "worker_name"]

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
