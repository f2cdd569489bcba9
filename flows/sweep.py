"""Sweep flow: one short flow run per sweep, thin over :func:`closeloop.services.engine.sweep.sweep`.

Deployment ``sweep`` (``deploy/prefect.yaml``, every 5 minutes; ``closeloop serve`` serves the
same); ``closeloop sweep --once`` runs the same service by hand. The run is named after what it
did (``sweep: fired 12, 3 messages``), tagged with the departments (up to 30) and complaint ids (up to 50)
its fired timers touched (a task's department; for a complaint's own timer, such as its promise, the
departments of its tasks), and publishes a table artifact (``sweep-report``) of what it scheduled and fired.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.context import FlowRunContext

from closeloop.bootstrap import build_app
from closeloop.services.engine.engine_runs import RunKind
from closeloop.services.engine.sweep import sweep
from flows.runinfo import MAX_DEPARTMENT_TAGS, id_tags, label_run, timed_run
from flows.schedules import policy

ARTIFACT_KEY = "sweep-report"


@flow(name="sweep", **policy("sweep"))
def sweep_flow(now: str | None = None) -> dict:
    """Run one sweep at ``now`` (ISO 8601 with offset) or at the app clock's time."""
    app = build_app()
    try:
        at = datetime.fromisoformat(now) if now else app.clock.now()
        with timed_run(app, RunKind.SWEEP) as counts:
            report = sweep(app.sessions, app.config, at)
            counts.update(report.run_counts())
    finally:
        app.dispose()
    result = report.as_dict()
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        rows = [{"what": k, "count": v} for k, v in result["fired"].items()]
        rows += [{"what": k, "count": result[k]} for k in ("rescheduled", "notifications", "messages", "tasks_created")]
        create_table_artifact(key=ARTIFACT_KEY, table=rows, description=f"closeloop sweep at {at.isoformat()}")
        fired = sum(result["fired"].values())
        tags = (id_tags("department", report.departments, MAX_DEPARTMENT_TAGS)
                + id_tags("complaint", report.complaints))
        label_run(f"sweep: fired {fired}, rescheduled {result['rescheduled']}, {result['messages']} messages",
                  ["sweep", *tags])
    return result
