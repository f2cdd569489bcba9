"""Operations endpoints beside ``/api/v1``: ``/healthz``, ``/readyz``, ``/metrics``; request latency and JSON
access log.

- ``GET /healthz``: liveness, 200 ``{"status": "ok"}`` while the process serves; touches nothing else.
- ``GET /readyz``: 200 when the database answers, the schema is at Alembic's head and the configuration
  loads; otherwise 503 ``{"status": "not ready", "checks": {name: reason}}``.
- ``GET /metrics``: Prometheus text format (``prometheus-client``): the engine's gauges read from the
  database at scrape time (outbox backlog by status, oldest pending message age, due-timer lag, sweep
  and delivery durations and deliveries by outcome over the last hour) and this process's API latency.
  ``closeloop_database_up`` is 1 when that read succeeded; while the database cannot be read the answer
  is still 200 (the exporter convention, as ``mysql_up``/``pg_up``): ``closeloop_database_up 0``, the
  API latency, and none of the engine's gauges (no stale or made-up values).

No token is needed (load balancers and Prometheus call them; keep them on the internal network);
none of them returns personal data. Each request is logged as one line with method, route
template (``/api/v1/tasks/{task_id}``), status, duration and the complaint/task id of the path.
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from closeloop.services.reads.health import engine_gauges, readiness

from .auth import get_app

router = APIRouter(tags=["operations"])
_log = logging.getLogger("closeloop.api.access")
_metrics_log = logging.getLogger("closeloop.api.metrics")

#: Path parameters copied into the access log (ids only).
ID_PARAMS = {"complaint_id": "complaint_id", "task_id": "task_id", "improvement_id": "improvement_id"}


class Health(BaseModel):
    status: str


class ReadyState(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=ReadyState, summary="Readiness: database, migrations, configuration",
            responses={503: {"model": ReadyState, "description": "a check failed; `checks` names why"}})
def readyz(request: Request):
    r = readiness(get_app(request))
    body = ReadyState(status="ready" if r.ok else "not ready", checks=r.checks)
    return body if r.ok else JSONResponse(body.model_dump(), status_code=503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format; "
                                   "`closeloop_database_up 0` (and no engine gauges) while the database "
                                   "cannot be read"}})
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


class EngineCollector:
    """Reads :func:`engine_gauges` at scrape time (one collector per API app)."""

    def __init__(self, api):
        self.api = api

    def describe(self):  # no pre-registration scrape against the database
        return []

    def collect(self):
        app = self.api.state.closeloop
        up = GaugeMetricFamily("closeloop_database_up",
                               "1 when the engine's gauges were read from the database at this scrape, else 0")
        try:
            g = engine_gauges(app.sessions, app.clock.now())
        except SQLAlchemyError as exc:  # database down or unreadable: say so, never a 500 for the scrape
            _metrics_log.warning("metrics: database unreadable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        backlog = GaugeMetricFamily("closeloop_outbox_messages", "Outbox messages by status", labels=["status"])
        for status, n in g.outbox_by_status.items():
            backlog.add_metric([status], n)
        yield backlog
        yield GaugeMetricFamily("closeloop_outbox_oldest_pending_age_seconds",
                                "Age of the oldest due outbox message not yet delivered",
                                value=g.oldest_pending_message_age_s)
        yield GaugeMetricFamily("closeloop_notification_oldest_released_age_seconds",
                                "Age of the oldest notification past its quiet hours, not yet packed",
                                value=g.oldest_released_notification_age_s)
        yield GaugeMetricFamily("closeloop_due_timer_lag_seconds", "Now minus the oldest due pending timer",
                                value=g.due_timer_lag_s)
        yield GaugeMetricFamily("closeloop_due_timers", "Pending timers already due", value=g.due_timers)
        yield from _run_families(g.runs, app.clock.now())
        yield from _inbound_families(g)


def _inbound_families(g):
    """Inbound e-mail: the last hour's messages by outcome, and by outcome and reason (which loop or
    quarantine reason, how a reply was threaded); the quarantine waiting for ``mail reprocess``."""
    totals: dict[str, int] = {}
    reasons = GaugeMetricFamily("closeloop_inbound_mail_by_reason_last_hour",
                                "Inbound e-mail processed in the last hour by outcome and reason",
                                labels=["outcome", "reason"])
    for (outcome, reason), n in sorted(g.inbound_last_hour.items()):
        totals[outcome] = totals.get(outcome, 0) + n
        if reason:
            reasons.add_metric([outcome, reason], n)
    fam = GaugeMetricFamily("closeloop_inbound_mail_last_hour",
                            "Inbound e-mail processed in the last hour by outcome (complaint, reply, ignored, "
                            "quarantined)", labels=["outcome"])
    for outcome, n in sorted(totals.items()):
        fam.add_metric([outcome], n)
    yield fam
    yield reasons
    yield GaugeMetricFamily("closeloop_mail_quarantine_messages",
                            "Unreadable messages kept in quarantine (closeloop mail reprocess)", value=g.quarantined)


def _run_families(runs: dict, now):
    specs = (("closeloop_engine_runs_last_hour", "Runs finished in the last hour", lambda s: s.runs),
             ("closeloop_engine_run_seconds_sum_last_hour", "Total run time in the last hour",
              lambda s: s.duration_sum_s),
             ("closeloop_engine_run_seconds_max_last_hour", "Longest run in the last hour", lambda s: s.duration_max_s),
             ("closeloop_engine_last_run_age_seconds", "Seconds since the last run finished (-1: never)",
              lambda s: (now - s.last_finished_at).total_seconds() if s.last_finished_at else -1.0),
             ("closeloop_engine_runs_failed_last_hour", "Runs that failed in the last hour (not in the other "
              "run figures)", lambda s: s.failed),
             ("closeloop_engine_last_failure_age_seconds", "Seconds since the last run failed (-1: never)",
              lambda s: (now - s.last_failed_at).total_seconds() if s.last_failed_at else -1.0))
    for name, doc, get in specs:
        fam = GaugeMetricFamily(name, doc, labels=["kind"])
        for kind, stats in runs.items():
            fam.add_metric([kind], get(stats))
        yield fam
    outcomes = GaugeMetricFamily("closeloop_deliveries_last_hour", "Delivery attempts in the last hour by outcome",
                                 labels=["outcome"])
    for outcome in ("delivered", "retried", "unknown", "failed", "stale"):
        outcomes.add_metric([outcome], runs["deliver"].counts.get(outcome, 0))
    yield outcomes


def _route_template(request: Request) -> str:
    """The matched path with its parameters as ``{name}`` (bounded label values); ``unmatched`` for a 404 path."""
    if request.scope.get("route") is None:
        return "unmatched"
    by_value = {str(v): k for k, v in request.path_params.items()}
    return "/".join(f"{{{by_value[seg]}}}" if seg in by_value else seg for seg in request.url.path.split("/"))


def install(api) -> None:
    """Add the registry, the engine collector and the latency/access-log middleware to ``api``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(api))
    latency = Histogram("closeloop_api_request_duration_seconds", "API request latency",
                        ["method", "route", "status"], registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    api.state.metrics_registry = registry

    @api.middleware("http")
    async def _observe(request: Request, call_next):
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(request)
            latency.labels(request.method, route, str(status)).observe(elapsed)
            ids = {v: int(p) if str(p).isascii() and str(p).isdigit() else p for k, v in ID_PARAMS.items()
                   if (p := request.path_params.get(k)) is not None}
            _log.info("%s %s %s", request.method, route, status,
                      extra={"method": request.method, "route": route, "status": status,
                             "duration_ms": round(elapsed * 1000, 1), **ids})
