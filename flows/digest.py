"""Daily overdue digest flow, thin over :func:`closeloop.services.engine.digest.overdue_digest`."""

from __future__ import annotations

from prefect import flow

from closeloop.bootstrap import build_app
from closeloop.services.engine.digest import overdue_digest
from flows.runinfo import label_run
from flows.schedules import policy


@flow(name="overdue-digest", **policy("overdue-digest"))
def overdue_digest_flow() -> int | None:
    """Write today's overdue digest; returns its outbox id, or None when today's was already written."""
    app = build_app()
    try:
        oid = overdue_digest(app.sessions, app.config, app.clock.now())
    finally:
        app.dispose()
    label_run("overdue digest: already written today" if oid is None else f"overdue digest: outbox {oid}",
              ["digest"])
    return oid
