"""Purge flow: retention of the engine's spent rows, thin over :func:`closeloop.services.engine.retention.purge`.

Deployment ``purge`` (``deploy/prefect.yaml``, daily); ``closeloop purge`` runs the same by hand.
``older_than_days`` defaults to ``CLOSELOOP_RETENTION_DAYS`` (90). The run is recorded in ``engine_run``
and named after what it deleted.
"""

from __future__ import annotations

from datetime import timedelta

from prefect import flow

from closeloop.bootstrap import build_app
from closeloop.services.engine.engine_runs import RunKind
from closeloop.services.engine.retention import purge
from flows.runinfo import label_run, timed_run
from flows.schedules import policy


@flow(name="purge", **policy("purge"))
def purge_flow(older_than_days: int | None = None) -> dict:
    """Delete fired timers, packed notifications, delivered outbox rows and engine runs older than the age."""
    app = build_app()
    try:
        days = app.settings.retention_days if older_than_days is None else older_than_days
        with timed_run(app, RunKind.PURGE) as counts:
            report = purge(app.sessions, app.clock.now(), timedelta(days=days))
            counts.update(report.as_dict())
    finally:
        app.dispose()
    label_run(f"purge older than {days} days: {report.total:,} rows", ["purge"])
    return {"older_than_days": days, **report.as_dict()}
