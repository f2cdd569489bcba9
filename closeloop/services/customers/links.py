"""Signed, expiring links in the follow-up mail: "solved" / "not solved" (issue 13 §6).

A link is ``{public_url}/api/v1/follow-up/{task}/{verdict}?e={expires}&s={signature}``: ``expires`` is
a Unix time (seconds, UTC), ``signature`` the HMAC-SHA256 (hex) of ``"{task}:{verdict}:{expires}"``
under ``CLOSELOOP_LINK_SECRET`` (falls back to ``CLOSELOOP_WEBHOOK_SECRET``; then a link signed under one of
``CLOSELOOP_WEBHOOK_SECRET_PREVIOUS`` still verifies, so rotating the webhook secret does not break the links
already mailed to customers). Opening a link shows a
confirmation page; only its POST records the verdict, so mail scanners that fetch every link record
nothing. A link past ``expires`` or with a wrong signature records nothing (410 / 403).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from closeloop.domain.errors import DomainError
from integrations.webhook_keys import previous_secrets


class Verdict(StrEnum):
    SOLVED = "solved"
    NOT_SOLVED = "not-solved"


class LinkRefused(DomainError):
    """A verdict link that does not verify: ``expired`` True when only its time has passed."""

    def __init__(self, problem: str, expired: bool = False):
        super().__init__(problem)
        self.expired = expired


@dataclass(frozen=True)
class VerdictLinks:
    """Signs and checks verdict links. ``ttl``: how long a link works (calendar time); ``previous``: keys
    being rotated out, accepted by :meth:`check`, never used to sign."""

    secret: bytes
    public_url: str
    ttl: timedelta = timedelta(days=14)
    previous: tuple[bytes, ...] = ()

    @classmethod
    def from_settings(cls, settings, days: int) -> VerdictLinks:
        own = settings.link_secret  # a link secret of its own is not rotated with the webhook secret
        previous = () if own else previous_secrets(settings.webhook_secret_previous)
        return cls((own or settings.webhook_secret).encode("utf-8"), settings.public_url.rstrip("/"),
                   timedelta(days=days), tuple(secret.encode("utf-8") for secret in previous))

    def signature(self, task_id: int, verdict: Verdict, expires: int, key: bytes | None = None) -> str:
        msg = f"{task_id}:{Verdict(verdict).value}:{expires}".encode()
        return hmac.new(self.secret if key is None else key, msg, hashlib.sha256).hexdigest()

    def url(self, task_id: int, verdict: Verdict, now: datetime) -> tuple[str, datetime]:
        """The link and the instant it expires (UTC)."""
        expires = int((now + self.ttl).timestamp())
        sig = self.signature(task_id, verdict, expires)
        return (f"{self.public_url}/api/v1/follow-up/{task_id}/{Verdict(verdict).value}?e={expires}&s={sig}",
                datetime.fromtimestamp(expires, UTC))

    def check(self, task_id: int, verdict: str, expires: int, signature: str, now: datetime) -> Verdict:
        """The verdict of a genuine, unexpired link; raises :class:`LinkRefused` otherwise."""
        try:
            v = Verdict(verdict)
        except ValueError:
            raise LinkRefused(f"unknown verdict {verdict!r}") from None
        given = (signature or "").encode("utf-8", "replace")  # any text: compare_digest takes ASCII str only
        if not any(hmac.compare_digest(self.signature(task_id, v, expires, key).encode("ascii"), given)
                   for key in (self.secret, *self.previous)):
            raise LinkRefused("the link's signature does not match")
        if now.timestamp() > expires:
            raise LinkRefused("the link has expired", expired=True)
        return v


#: A verdict link's signed query (``?e=...&s=...``), whole or cut short, after its path.
_SIGNED = re.compile(r"(/api/v1/follow-up/\d+/(?:" + "|".join(v.value for v in Verdict) + r"))\?[^\s<>\"']*")
WITHHELD = "?[link withheld]"


def redact(text: str) -> str:
    """``text`` with the signed query of every verdict link replaced by :data:`WITHHELD` (the path stays): the
    staff views (the complaint's timeline on the dashboard, the API, the exports) show that the mail carried the
    links, never a link that records the customer's verdict."""
    return _SIGNED.sub(lambda m: m.group(1) + WITHHELD, text)
