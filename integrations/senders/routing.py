"""Routing by channel, and the default sender the deliver flow opens (webhook, capture, Apprise, e-mail)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime

from integrations.outbound import OutgoingMessage, Sender, SendResult
from integrations.senders.apprise import AppriseSender
from integrations.senders.capture import CaptureSender
from integrations.senders.webhook import WebhookSender, make_webhook_client
from integrations.webhook_keys import SigningKeys


class RoutingSender:
    """Picks a sender by ``msg.channel`` (``webhook``, ``capture``, ``apprise``, ...)."""

    def __init__(self, senders: Mapping[str, Sender]):
        self.senders = dict(senders)

    async def send(self, msg: OutgoingMessage) -> SendResult:
        sender = self.senders.get(msg.channel)
        if sender is None:
            return SendResult("failed", error=f"no sender for channel {msg.channel!r} "
                                              f"(configured: {', '.join(sorted(self.senders)) or 'none'})")
        return await sender.send(msg)


@asynccontextmanager
async def open_default_sender(*, secret: bytes, deadline_s: float, capture_dir: str | os.PathLike,
                              legacy_secret: bytes | None = None, previous: tuple[bytes, ...] = (),
                              targets: Mapping[str, SigningKeys] | None = None,
                              pools: int = 32, connections_per_pool: int = 2,
                              apprise: bool = True, email: Sender | None = None,
                              clock: Callable[[], datetime] | None = None) -> AsyncIterator[RoutingSender]:
    """A :class:`RoutingSender` over webhook, capture, (when importable) Apprise and, when given, ``email``
    (an :class:`integrations.smtp.SmtpSender`); closes the client. ``clock`` (aware UTC datetimes; the
    delivery's clock) stamps the webhooks' signed ``webhook-timestamp``; default: the system time. ``secret`` keys
    ``webhook-signature``, ``legacy_secret`` (default ``secret``) the deprecated ``X-Closeloop-Signature``,
    ``previous`` (keys being rotated out) further ``webhook-signature`` entries; ``targets`` (by target URL) the
    keys of targets with a secret of their own, instead of those three (:class:`WebhookSender`)."""
    client = make_webhook_client(deadline_s, pools=pools, connections_per_pool=connections_per_pool)
    senders: dict[str, Sender] = {"webhook": WebhookSender(client, secret, deadline_s,
                                                              legacy_secret=legacy_secret, previous=previous,
                                                              targets=targets, clock=clock),
                                  "capture": CaptureSender(capture_dir)}
    if email is not None:
        senders["email"] = email
    if apprise:
        try:
            senders["apprise"] = AppriseSender(deadline_s)
        except ImportError:
            pass
    try:
        yield RoutingSender(senders)
    finally:
        await client.aclose()
