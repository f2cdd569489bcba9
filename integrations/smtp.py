"""Outbound e-mail through an SMTP relay (standard library ``smtplib`` and ``email``).

Target of an outbox row on channel ``email``: the recipient's address. The relay comes from the
settings (``CLOSELOOP_SMTP_URL``)::

    smtp://host:25                      plain SMTP (a local relay)
    smtp://user:password@host:587       STARTTLS (always for a relay with a login) and AUTH
    smtp://host:587?starttls=true       STARTTLS without a login
    smtps://user:password@host:465      implicit TLS

Each message is ``multipart/alternative``: the row's body as ``text/plain`` and ``payload["html"]``
(already escaped by the renderer) as ``text/html``. ``Message-ID`` is ``payload["message_id"]`` (stable
per idempotency key, so a resend after an ``unknown`` outcome carries the same id and threads as one);
``Auto-Submitted`` (RFC 3834) marks automatic notices so that well-behaved auto-responders stay quiet.

Outcomes (:class:`~integrations.outbound.SendResult`): refused connection, 4xx replies and a dropped
connection before the DATA command finished sending -> ``retry``; 5xx replies -> ``failed``; no answer
after the message data was sent -> ``unknown``. A relay that lacks what the URL asks for (no STARTTLS,
which a login requires; no AUTH for the login) is a configuration error, not a passing failure ->
``failed`` (the row is dead-lettered ``rejected`` with the reason; fix ``CLOSELOOP_SMTP_URL`` or the
relay, then ``closeloop outbox retry``). Error texts name the SMTP code, never an address.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from .outbound import Outcome, OutgoingMessage, SendResult

__all__ = ["SmtpRelay", "SmtpSender", "build_email"]


@dataclass(frozen=True)
class SmtpRelay:
    """Where and how to hand mail over: parsed from an ``smtp://`` or ``smtps://`` URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    starttls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpRelay:
        """Raises ``ValueError`` naming the problem (the password is never echoed)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("CLOSELOOP_SMTP_URL must start with smtp:// or smtps:// (a relay), or maildir:// "
                             "(a local Maildir, for trials)")
        if not parts.hostname:
            raise ValueError("CLOSELOOP_SMTP_URL has no host")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        user = unquote(parts.username) if parts.username else None
        starttls = not implicit and (query.get("starttls") in ("1", "true", "yes") or user is not None)
        if query.get("starttls") in ("0", "false", "no") and user is not None:
            raise ValueError("CLOSELOOP_SMTP_URL: a login without TLS is refused (remove starttls=false)")
        return cls(parts.hostname, parts.port or (465 if implicit else 25), user,
                   unquote(parts.password) if parts.password else None, implicit, starttls)


def build_email(msg: OutgoingMessage, sender: str) -> EmailMessage:
    """The MIME message for one outbox row (text part, HTML part when the payload has one)."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = msg.target
    mail["Subject"] = msg.subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = msg.payload.get("message_id") or f"<outbox-{msg.id}@closeloop.invalid>"
    auto = msg.payload.get("auto_submitted")
    if auto and auto != "no":
        mail["Auto-Submitted"] = auto
    for name in ("In-Reply-To", "References"):
        if value := msg.payload.get(name.lower().replace("-", "_")):
            mail[name] = value
    mail.set_content(msg.body)
    if html := msg.payload.get("html"):
        mail.add_alternative(html, subtype="html")
    return mail


class SmtpSender:
    """Sends outbox rows of channel ``email`` through one relay; ``smtplib`` runs in a worker thread
    under ``deadline_s`` (seconds, per attempt)."""

    def __init__(self, relay: SmtpRelay | str, sender: str, deadline_s: float = 30.0):
        self.relay = SmtpRelay.from_url(relay) if isinstance(relay, str) else relay
        self.sender = sender
        self.deadline_s = deadline_s

    def _connect(self) -> smtplib.SMTP:
        r = self.relay
        if r.implicit_tls:
            return smtplib.SMTP_SSL(r.host, r.port, timeout=self.deadline_s, context=ssl.create_default_context())
        client = smtplib.SMTP(r.host, r.port, timeout=self.deadline_s)
        if r.starttls:
            client.starttls(context=ssl.create_default_context())
        return client

    def _send(self, msg: OutgoingMessage) -> SendResult:
        stage = "connect"
        try:
            with self._connect() as client:
                if self.relay.username:
                    stage = "login"
                    client.login(self.relay.username, self.relay.password or "")
                stage = "data"
                refused = client.send_message(build_email(msg, self.sender))
                if refused:
                    return SendResult("failed", error=f"SMTP relay refused the recipient ({_codes(refused)})")
                stage = "quit"
            return SendResult("delivered")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            return SendResult("retry" if all(400 <= c < 500 for c in codes) else "failed",
                              error=f"SMTP relay refused the recipient ({_codes(exc.recipients)})")
        except smtplib.SMTPNotSupportedError:
            return SendResult("failed", error=_unsupported(stage, self.relay))
        except smtplib.SMTPResponseException as exc:
            outcome: Outcome = "retry" if 400 <= exc.smtp_code < 500 else "failed"
            return SendResult(outcome, error=f"SMTP {exc.smtp_code} at {stage}")
        except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as exc:
            if stage == "quit":
                return SendResult("delivered")  # the relay accepted the data; only QUIT failed
            outcome_: Outcome = "unknown" if stage == "data" else "retry"
            return SendResult(outcome_, error=f"SMTP {type(exc).__name__} at {stage}")

    async def send(self, msg: OutgoingMessage) -> SendResult:
        refused = refuse_non_address(msg)
        if refused is not None:
            return refused
        try:
            async with asyncio.timeout(self.deadline_s + 1):
                return await asyncio.to_thread(self._send, msg)
        except TimeoutError:
            return SendResult("unknown", error=f"SMTP did not finish within {self.deadline_s:g} s")


def refuse_non_address(msg: OutgoingMessage) -> SendResult | None:
    """The ``failed`` result for an e-mail row whose target is not an address (no ``@``: a retry cannot fix
    it), else None; shared by every e-mail sender (SMTP, Maildir)."""
    return None if "@" in msg.target else SendResult("failed", error="e-mail target is not an address")


def _unsupported(stage: str, relay: SmtpRelay) -> str:
    """The configuration error behind an ``SMTPNotSupportedError`` (no address, no password)."""
    if stage == "connect":
        why = "a login requires it" if relay.username else "the URL asks for it (starttls=true)"
        return (f"SMTP relay {relay.host}:{relay.port} does not offer STARTTLS, and {why}: "
                "configuration error, not retried (fix CLOSELOOP_SMTP_URL or the relay)")
    return (f"SMTP relay {relay.host}:{relay.port} does not offer AUTH at {stage}: configuration error, "
            "not retried (fix CLOSELOOP_SMTP_URL or the relay)")


def _codes(refused: dict) -> str:
    return ", ".join(sorted({str(code) for code, _ in refused.values()}))
