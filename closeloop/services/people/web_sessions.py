"""Dashboard sessions (issue 14): sign-in opens one, sign-out revokes it server-side.

The browser's cookie holds a session secret (``cls_`` + 256 random bits; only its SHA-256 is
stored in ``web_session``), never the API token pasted at sign-in: signing out ends that browser's
session and leaves the token (and its other sessions) alone. A session lasts ``ttl`` (calendar
time) from sign-in; revoking the token ends every session opened with it.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from closeloop.services.bulk import rowcount
from closeloop.services.people.tokens import TokenInfo, hash_secret, verify_token
from closeloop.services.uow import unit_of_work
from models.tables import ApiToken, WebSession

SESSION_PREFIX = "cls_"


def start(sessions, token_secret: str, *, at: datetime, ttl: timedelta) -> tuple[str, TokenInfo] | None:
    """Open a session for a live API token: ``(session secret, token)``, or None for an unknown or
    revoked token."""
    info = verify_token(sessions, token_secret, at=at)
    if info is None:
        return None
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work(sessions) as s:
        s.add(WebSession(secret_hash=hash_secret(secret), token_id=info.id, created_at=at, expires_at=at + ttl))
    return secret, info


def resolve(sessions, secret: str | None, *, at: datetime) -> TokenInfo | None:
    """The token behind a live session (not signed out, not expired at ``at``, token not revoked)."""
    if not secret or not secret.startswith(SESSION_PREFIX) or len(secret) > 200:
        return None
    with unit_of_work(sessions) as s:
        row = s.scalar(select(ApiToken).join(WebSession, WebSession.token_id == ApiToken.id).where(
            WebSession.secret_hash == hash_secret(secret), WebSession.revoked_at.is_(None),
            WebSession.expires_at > at, ApiToken.revoked_at.is_(None)))
        return TokenInfo.of(row) if row is not None else None


def end(sessions, secret: str | None, *, at: datetime) -> bool:
    """Sign out: revoke the session (idempotent). True when a live session was ended."""
    if not secret or not secret.startswith(SESSION_PREFIX):
        return False
    with unit_of_work(sessions) as s:
        res = s.execute(update(WebSession).where(WebSession.secret_hash == hash_secret(secret),
                                                 WebSession.revoked_at.is_(None)).values(revoked_at=at))
        return rowcount(res) > 0
