"""Sweep flow: one short flow run per sweep, thin over :func:`closeloop.services.sweep.sweep`.

Scheduled every few minutes by ``closeloop serve``; ``closeloop sweep --once`` runs
the same service by hand. The run is tagged with the departments and (up to 20) complaint ids it touched and
publishes a table artifact (``sweep-report``) of what it scheduled and fired.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.context import FlowRunContext

from closeloop.bootstrap import build_app
from closeloop.services.sweep import sweep

ARTIFACT_KEY = "sweep-report"


@flow(name="sweep")
def sweep_flow(now: str | None = None) -> dict:
    """Run one sweep at ``now`` (ISO 8601 with offset) or at the app clock's time."""
    app = build_app()
    try:
        at = datetime.fromisoformat(now) if now else app.clock.now()
        report = sweep(app.sessions, app.config, at)
    finally:
        app.dispose()
    result = report.as_dict()
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        rows = [{"what": k, "count": v} for k, v in result["fired"].items()]
        rows += [{"what": k, "count": result[k]} for k in ("rescheduled", "notifications", "messages", "tasks_created")]
        create_table_artifact(key=ARTIFACT_KEY, table=rows, description=f"closeloop sweep at {at.isoformat()}")
        tags = sorted({f"department:{d}" for d in report.departments})[:30]
        tags += [f"complaint:{c}" for c in sorted(report.complaints)[:20]]  # a manager finds a complaint's runs
        if tags:
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                client.update_flow_run(ctx.flow_run.id, tags=sorted(set(ctx.flow_run.tags) | {"sweep", *tags}))
    return result
