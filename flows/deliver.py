"""Delivery flow: drain the outbox, thin over :func:`closeloop.services.engine.delivery.deliver_once`.

One flow run drains up to ``max_batches`` batches (never one run per message).
The service owns claiming (leases; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
backoff and recording; this flow builds the app and the senders from settings:

- ``CLOSELOOP_WEBHOOK_SECRET`` signs webhooks (HMAC-SHA256; a raw secret or a Standard Webhooks
  ``whsec_<base64>`` one: :mod:`integrations.webhook_keys`; a warning is logged while it is the demo
  default ``change-me``); ``CLOSELOOP_WEBHOOK_SECRET_PREVIOUS`` (secrets being rotated out) adds one
  ``webhook-signature`` entry each; a target of the configuration's ``[webhooks.*]`` is signed with its own
  secret instead (named by ``secret_env``, read when the configuration loads), chosen per row from its target;
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
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from prefect import flow, get_run_logger
from prefect.exceptions import MissingContextError

from closeloop.bootstrap import build_app
from closeloop.services.engine.delivery import DeliveryReport, RetryPolicy, deliver_once
from closeloop.services.engine.engine_runs import RunKind
from closeloop.services.engine.notify import dead_letter_alert
from flows.runinfo import label_run, timed_run, worker_name
from flows.schedules import policy
from integrations.senders import open_default_sender
from integrations.senders.maildir import SCHEME as MAILDIR_SCHEME
from integrations.senders.maildir import MaildirSender, maildir_path
from integrations.smtp import SmtpSender
from integrations.webhook_keys import previous_keys, webhook_keys

_T = TypeVar("_T")

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


def _run(coro_factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine from sync code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    box: dict[str, Any] = {}

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


def email_sender(settings):
    """The e-mail sender from ``CLOSELOOP_SMTP_URL`` / ``CLOSELOOP_SMTP_FROM``: an SMTP relay, a local Maildir
    (``maildir://``, :mod:`integrations.senders.maildir`), or None when nothing is set (e-mail rows are then
    dead-lettered). Raises ``ValueError`` naming the setting for a URL it cannot use."""
    if not settings.smtp_url:
        return None
    if settings.smtp_url.startswith(MAILDIR_SCHEME):
        return MaildirSender(maildir_path(settings.smtp_url), settings.smtp_from)
    return SmtpSender(settings.smtp_url, settings.smtp_from, settings.delivery_deadline_s)


def describe_email(settings) -> str:
    """One line on where e-mail to customers goes under ``settings`` (``closeloop serve`` prints it when it
    starts). Raises ``ValueError`` naming ``CLOSELOOP_SMTP_URL`` for a URL it cannot use, as delivery would."""
    sender = email_sender(settings)
    if sender is None:
        return ("e-mail to customers: not sent (CLOSELOOP_SMTP_URL is not set; e-mail rows are dead-lettered "
                "and raise an operations alert; for a trial: CLOSELOOP_SMTP_URL=maildir://out/mail)")
    if isinstance(sender, MaildirSender):
        return f"e-mail to customers: written to the Maildir {sender.directory} (nothing leaves this machine)"
    return f"e-mail to customers: through the SMTP relay {sender.relay.host}:{sender.relay.port}"


@flow(name="deliver-outbox", **policy("deliver-outbox"))
def deliver_outbox(max_batches: int = 50) -> dict:
    """Deliver what is due in the outbox: up to ``max_batches`` batches of 200, 50 in flight.

    Returns :meth:`DeliveryReport.as_dict` (counts by outcome, a sample of errors).
    """
    log = _logger()
    app = build_app()
    settings = app.settings
    worker = worker_name()

    async def drain() -> DeliveryReport:
        async with open_default_sender(secret=keys.v1, legacy_secret=keys.legacy,
                                       previous=previous_keys(settings.webhook_secret_previous), targets=targets,
                                       deadline_s=settings.delivery_deadline_s,
                                       capture_dir=settings.capture_dir, email=email_sender(settings),
                                       clock=app.clock.now) as sender:
            return await deliver_once(app.sessions, sender, app.clock, worker=worker, batch=BATCH,
                                      concurrency=CONCURRENCY, max_batches=max_batches,
                                      lease=lease_for(settings.delivery_deadline_s), policy=retry_policy,
                                      alert=alert)

    try:
        with timed_run(app, RunKind.DELIVER, worker) as counts:
            # read in the run: a startup failure (an unset [webhooks.*] secret variable) is a failed deliver run,
            # counted in /metrics as a sweep's is
            retry_policy, alert = RetryPolicy.from_settings(settings), dead_letter_alert(app.config)
            keys, targets = webhook_keys(settings.webhook_secret), app.config.webhook_keys()
            report = _run(drain)
            counts.update({k: v for k, v in report.as_dict().items() if isinstance(v, int)})
    finally:
        app.dispose()
    if settings.webhook_secret == DEFAULT_SECRET and report.signed:  # said when a webhook was signed: not idle,
        # not for e-mail, capture or chat rows, which carry no signature
        log.warning("CLOSELOOP_WEBHOOK_SECRET is the demo default; receivers cannot trust the signatures")
    for line in report.errors[:20]:
        log.warning("%s", line)
    log.info("worker %s: %d batches, %d claimed, %d delivered, %d to retry, %d unknown (resent with the same "
             "key), %d dead letters (%d rejected, %d after the last attempt, %d abandoned; %d alerts), %d stale",
             worker, report.batches, report.claimed, report.delivered, report.retried, report.unknown, report.dead,
             report.rejected, report.gave_up, report.abandoned, report.alerts, report.stale)
    if report.dead:
        log.error("%d outbox messages were dead-lettered: `closeloop outbox --status dead`, then "
                  "`closeloop outbox retry`", report.dead)
    label_run(f"deliver: {report.delivered} delivered, {report.retried} to retry, {report.dead} dead-lettered"
              f" of {report.claimed}", ["deliver", *_outcome_tags(report)])
    return report.as_dict()


def _outcome_tags(report: DeliveryReport) -> list[str]:
    """``outcome:<name>`` for every outcome that occurred (filter failing runs in the UI)."""
    counts = {"delivered": report.delivered, "retried": report.retried, "unknown": report.unknown,
              "dead": report.dead, "stale": report.stale}
    return [f"outcome:{k}" for k, v in counts.items() if v]
