"""Senders for outbox messages: signed JSON webhooks (httpx), Apprise URLs, a local capture file.

Every sender implements :class:`~integrations.outbound.Sender` (re-exported here
with :class:`OutgoingMessage` and :class:`SendResult`): ``await send(msg)`` returns
a :class:`SendResult` and does not raise for delivery problems.

Webhook classification (CASES.md C23; httpx's transport ``retries`` only covers
connecting, so retries are the outbox's job, with the same key every time):

==========================================  ============  =========================================
what happened                               outcome       why
==========================================  ============  =========================================
2xx                                         delivered     the receiver accepted it
429, 5xx (``Retry-After`` parsed)           retry         the receiver said "later"
other 4xx, 3xx (redirects are not followed) failed        permanent; the error text is kept
connect error / connect or pool timeout     retry         nothing was sent
read timeout, dropped connection, or the    unknown       the receiver may have it: retried with
total deadline after the request went out                 the SAME ``Idempotency-Key``
==========================================  ============  =========================================

Client layout (``make_webhook_client``): one ``httpx.AsyncClient`` (the httpx API
unchanged) over :class:`integrations.http1.Http1Transport`, a lean HTTP/1.1
keep-alive transport on an ``asyncio.Protocol`` that raises httpx's exceptions as
httpcore does (its table is in that module) and feeds the ``trace`` extension, so
the classification above holds unchanged. httpcore spends most of a small POST in
its anyio/h11 layers and rescans its pool on every request (one stock
``AsyncClient`` with 50 requests in flight delivered fewer POSTs per second than
with 1); :class:`SpreadTransport` (many tiny httpcore pools, least busy first) was
the previous layout and is kept for comparison. ``bench/deliver.py`` prints the figures.

Modules by channel: :mod:`~integrations.senders.webhook`, :mod:`~integrations.senders.capture`,
:mod:`~integrations.senders.apprise`, and :mod:`~integrations.senders.routing` (by channel, and the default sender).
"""

from __future__ import annotations

from integrations.http1 import Http1Transport
from integrations.outbound import OUTCOMES, Outcome, OutgoingMessage, Sender, SendResult
from integrations.senders.apprise import AppriseSender
from integrations.senders.capture import CaptureSender
from integrations.senders.routing import RoutingSender, open_default_sender
from integrations.senders.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_TOLERANCE,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    SpreadTransport,
    WebhookClient,
    WebhookRejected,
    WebhookSender,
    make_webhook_client,
    parse_retry_after,
    sign,
    sign_v1,
    standard_headers,
    verify_signature,
    verify_webhook,
    webhook_body,
)

__all__ = [
    "OUTCOMES", "Outcome", "OutgoingMessage", "SendResult", "Sender",
    "WebhookSender", "CaptureSender", "AppriseSender", "RoutingSender", "SpreadTransport", "WebhookClient",
    "make_webhook_client", "Http1Transport", "open_default_sender", "webhook_body", "sign", "verify_signature",
    "parse_retry_after", "SIGNATURE_HEADER", "WEBHOOK_ID_HEADER", "WEBHOOK_TIMESTAMP_HEADER",
    "WEBHOOK_SIGNATURE_HEADER", "TIMESTAMP_TOLERANCE", "sign_v1", "standard_headers", "verify_webhook",
    "WebhookRejected",
]
