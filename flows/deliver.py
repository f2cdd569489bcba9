"""Delivery flow: drain the outbox, thin over :func:`closeloop.services.delivery.deliver_once`.

One flow run drains up to ``max_batches`` batches (never one run per message).
The service owns claiming (leases; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
backoff and recording; this flow builds the app and the senders from settings:

- ``CLOSELOOP_WEBHOOK_SECRET`` signs webhooks (HMAC-SHA256; a warning is logged
  while it is the demo default ``change-me``);
- ``CLOSELOOP_DELIVERY_DEADLINE_S`` is every attempt's total deadline;
- ``CLOSELOOP_CAPTURE_DIR`` receives ``capture://`` targets.

Each run is a distinct worker (host, process, random suffix), so two runs at
once, or a run overlapping a crashed one, never record over each other.
``deliver_outbox.fn(...)`` runs the same logic without a Prefect API (tests).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from datetime import timedelta

from prefect import flow, get_run_logger
from prefect.exceptions import MissingContextError

from closeloop.bootstrap import build_app
from closeloop.services.delivery import DeliveryReport, deliver_once
from closeloop.services.engine_runs import RunKind
from flows.runinfo import label_run, timed_run, worker_name
from flows.schedules import policy
from integrations.senders import open_default_sender

BATCH = 200
CONCURRENCY = 50
DEFAULT_SECRET = "change-me"

_fallback_logger = logging.getLogger(__name__)


def _logger():
    try:
        return get_run_logger()
    except MissingContextError:
        return _fallback_logger


def lease_for(deadline_s: float, batch: int = BATCH, concurrency: int = CONCURRENCY) -> timedelta:
    """Twice the worst time a batch can take (rounds of the deadline), and at least 5 minutes."""
    rounds = math.ceil(batch / concurrency)
    return timedelta(seconds=max(300.0, 2 * rounds * deadline_s + 60))


def _run(coro_factory):
    """Run a coroutine from sync code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(coro_factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="closeloop-deliver")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@flow(name="deliver-outbox", **policy("deliver-outbox"))
def deliver_outbox(max_batches: int = 50) -> dict:
    """Deliver what is due in the outbox: up to ``max_batches`` batches of 200, 50 in flight.

    Returns :meth:`DeliveryReport.as_dict` (counts by outcome, a sample of errors).
    """
    log = _logger()
    app = build_app()
    settings = app.settings
    if settings.webhook_secret == DEFAULT_SECRET:
        log.warning("CLOSELOOP_WEBHOOK_SECRET is the demo default; receivers cannot trust the signatures")
    worker = worker_name()

    async def drain() -> DeliveryReport:
        async with open_default_sender(secret=settings.webhook_secret.encode("utf-8"),
                                       deadline_s=settings.delivery_deadline_s,
                                       capture_dir=settings.capture_dir) as sender:
            return await deliver_once(app.sessions, sender, app.clock, worker=worker, batch=BATCH,
                                      concurrency=CONCURRENCY, max_batches=max_batches,
                                      lease=lease_for(settings.delivery_deadline_s))

    try:
        with timed_run(app, RunKind.DELIVER, worker) as counts:
            report = _run(drain)
            counts.update({k: v for k, v in report.as_dict().items() if isinstance(v, int)})
    finally:
        app.dispose()
    for line in report.errors[:20]:
        log.warning("%s", line)
    log.info("worker %s: %d batches, %d claimed, %d delivered, %d to retry, %d unknown (resent with the same "
             "key), %d failed (%d after the last attempt), %d stale", worker, report.batches, report.claimed,
             report.delivered, report.retried, report.unknown, report.failed, report.gave_up, report.stale)
    label_run(f"deliver: {report.delivered} delivered, {report.retried} to retry, {report.failed} failed"
              f" of {report.claimed}", ["deliver", *_outcome_tags(report)])
    return report.as_dict()


def _outcome_tags(report: DeliveryReport) -> list[str]:
    """``outcome:<name>`` for every outcome that occurred (filter failing runs in the UI)."""
    counts = {"delivered": report.delivered, "retried": report.retried, "unknown": report.unknown,
              "failed": report.failed, "stale": report.stale}
    return [f"outcome:{k}" for k, v in counts.items() if v]
