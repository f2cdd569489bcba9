"""``closeloop serve``: the scheduled flows, served by Prefect (no home-made scheduler).

On the local temporary server by default, or on a Prefect server when
``PREFECT_API_URL`` is set. Stopping it pauses the schedules; the next sweep
catches up on whatever fell due meanwhile (timers are rows).
"""

from __future__ import annotations

import os


def deployments(config):
    """The three deployments with their schedules (see ``flows/schedules.py``)."""
    from prefect.schedules import Cron, Interval

    from flows.deliver import deliver_outbox
    from flows.digest import overdue_digest_flow
    from flows.sweep import sweep_flow

    from .schedules import DELIVER_INTERVAL_SECONDS, OVERDUE_DIGEST_CRON, SWEEP_INTERVAL_SECONDS

    manager_zone = str(config.calendar(config.model.escalation.operations_manager.calendar).zone)
    return [
        sweep_flow.to_deployment("sweep", schedules=[Interval(SWEEP_INTERVAL_SECONDS)], tags=["closeloop", "sweep"],
                                 concurrency_limit=1),
        deliver_outbox.to_deployment("deliver", schedules=[Interval(DELIVER_INTERVAL_SECONDS)],
                                     tags=["closeloop", "deliver"]),
        overdue_digest_flow.to_deployment("overdue-digest",
                                          schedules=[Cron(OVERDUE_DIGEST_CRON, timezone=manager_zone)],
                                          tags=["closeloop", "digest"]),
    ]


def serve_all(config) -> None:  # pragma: no cover - runs until stopped
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect import serve

    serve(*deployments(config))
