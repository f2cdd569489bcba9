"""Process settings from the environment (prefix ``CLOSELOOP_``).

- ``CLOSELOOP_DATABASE_URL``: SQLAlchemy URL; default a SQLite file ``closeloop.db``
  in the working directory. PostgreSQL: ``postgresql+psycopg://user@host/db``.
- ``CLOSELOOP_CONFIG``: path of the TOML configuration; default the bundled one.
- ``CLOSELOOP_IMPORT_BATCH_SIZE``: rows per database batch during import (default 1000).
- ``CLOSELOOP_WEBHOOK_SECRET``: the secret signing outgoing webhooks with HMAC-SHA256 (Standard Webhooks
  ``webhook-id``/``webhook-timestamp``/``webhook-signature``, and the deprecated body-only
  ``X-Closeloop-Signature``; README "Receiving webhooks"). ``whsec_<base64>`` (``closeloop webhooks secret``
  prints a fresh one) is the Standard Webhooks form: ``webhook-signature`` is keyed by the decoded bytes, and a
  value whose base64 does not decode (or gives under 24 or over 64 bytes) is refused at startup; any other value
  is a raw key, its UTF-8 bytes (as before). ``X-Closeloop-Signature`` is keyed by the UTF-8 bytes of the value
  as written in both cases (:mod:`integrations.webhook_keys`). The default ``change-me`` is only for demos.
  A target of the configuration's ``[webhooks.<name>]`` is signed with the secret in the variable its
  ``secret_env`` names instead (read and checked when the configuration loads: :mod:`closeloop.config`).
- ``CLOSELOOP_WEBHOOK_SECRET_PREVIOUS``: secrets being rotated out (``;`` between them, ``\\;`` a ``;`` inside
  one; default none), each read like ``CLOSELOOP_WEBHOOK_SECRET``: each adds its own ``v1,`` entry to
  ``webhook-signature``, so receivers still holding an old secret keep verifying until they are moved (README
  "Rotating the secret").
- ``CLOSELOOP_DELIVERY_DEADLINE_S``: total deadline of one delivery attempt, in seconds (default 10).
- ``CLOSELOOP_DELIVERY_RETRY_BASE_S`` (60), ``CLOSELOOP_DELIVERY_RETRY_CAP_S`` (14400) and
  ``CLOSELOOP_DELIVERY_MAX_ATTEMPTS`` (20): the retry schedule (exponential from the base, capped; the
  schedule must span at least 24 hours before a message is dead-lettered; see ``services/engine/delivery.py``).
- ``CLOSELOOP_CAPTURE_DIR``: where ``capture://name`` targets write JSON Lines (default ``out/capture``).
- ``CLOSELOOP_SMTP_URL``: the SMTP relay for e-mail to customers (``smtp://host:25``,
  ``smtp://user:password@host:587`` with STARTTLS, ``smtps://...:465``), or a local Maildir for trials
  (``maildir://out/mail``, ``maildir:///abs/dir``: nothing leaves the machine); empty: e-mail is not sent (its
  rows are dead-lettered).
- ``CLOSELOOP_SMTP_FROM``: the From address of e-mail to customers (default ``closeloop@localhost``).
- ``CLOSELOOP_IMAP_URL``: the mailbox inbound e-mail is polled from (``imap://user:password@host:143/INBOX``
  with STARTTLS, ``...?starttls=false`` for a server on loopback, ``imaps://...:993/INBOX``); empty: no polling.
- ``CLOSELOOP_IMAP_BATCH_SIZE``: messages fetched and processed per transaction (default 100).
- ``CLOSELOOP_ATTACHMENT_DIR``: where attachments of inbound e-mail are stored, content-addressed
  (default ``data/attachments`` in the working directory).
- ``CLOSELOOP_ATTACHMENT_MAX_BYTES``: the largest attachment stored (default 10 MiB; a larger one is
  listed as refused, the message is still processed).
- ``CLOSELOOP_LOG_FORMAT``: ``json`` (default; one JSON object per line, ids and figures only) or ``text``,
  for ``closeloop api`` and ``closeloop serve``.
- ``CLOSELOOP_RETENTION_DAYS``: age in days after which ``closeloop purge`` (and the ``purge`` deployment)
  deletes fired/cancelled timers, packed notifications, delivered outbox rows and engine runs (default 90).
- ``CLOSELOOP_PUBLIC_URL``: where customers reach the API (the follow-up mail's verdict links); default
  ``http://127.0.0.1:8000``.
- ``CLOSELOOP_LINK_SECRET``: the HMAC key of those links (default: the webhook secret).
- ``CLOSELOOP_API_MAX_BODY_BYTES``: the largest request body the API and dashboard accept (default 1 MiB; 413 above).
- ``CLOSELOOP_AUTH_FAILURE_LIMITS``: failed token or sign-in attempts allowed per client address before
  429 (``limits`` notation, windows separated by ``;``; default ``10/minute;100/hour``).
- ``CLOSELOOP_CLOCK_AT``: an ISO 8601 instant with an offset (``2026-03-02T09:00:00+08:00``): every app built
  from these settings (CLI, flows, API) runs as of that instant (a ``FixedClock``), for tests, demos and re-running
  a flow as of a past moment; empty (default): the system clock. A value without an offset is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from limits import parse_many
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from integrations.webhook_keys import previous_keys, webhook_keys


class Settings(BaseSettings):
    # hide_input_in_errors: a refused value is never echoed (secrets, URLs with passwords) in a log or traceback
    model_config = SettingsConfigDict(env_prefix="CLOSELOOP_", extra="ignore", hide_input_in_errors=True)

    database_url: str = "sqlite:///closeloop.db"
    config: str | None = None
    import_batch_size: int = Field(1000, ge=1, le=100_000)
    webhook_secret: str = "change-me"
    # secrets being rotated out, ';' between them: each signs one more webhook-signature entry until removed
    webhook_secret_previous: str = ""
    delivery_deadline_s: float = Field(10.0, gt=0, le=600)
    delivery_retry_base_s: float = Field(60.0, gt=0, le=86_400)
    delivery_retry_cap_s: float = Field(14_400.0, gt=0, le=7 * 86_400)
    delivery_max_attempts: int = Field(20, ge=1, le=1000)
    capture_dir: str = "out/capture"
    api_max_body_bytes: int = Field(1 << 20, ge=1024, le=1 << 30)
    smtp_url: str = ""
    smtp_from: str = "closeloop@localhost"
    imap_url: str = ""
    imap_batch_size: int = Field(100, ge=1, le=10_000)
    attachment_dir: str = "data/attachments"
    attachment_max_bytes: int = Field(10 * 1024 * 1024, ge=1, le=1 << 31)
    log_format: Literal["json", "text"] = "json"
    retention_days: int = Field(90, ge=0, le=36_500)
    public_url: str = "http://127.0.0.1:8000"
    link_secret: str = ""
    # failed token / sign-in attempts allowed per client address (``limits`` notation, ';' between windows)
    auth_failure_limits: str = "10/minute;100/hour"
    clock_at: datetime | None = None

    @field_validator("clock_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("an instant with an offset is required (2026-03-02T09:00:00+08:00 or ...Z)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str) -> str:
        webhook_keys(value)  # a whsec_ value that does not decode: WebhookSecretError naming the variable
        return value

    @field_validator("webhook_secret_previous")
    @classmethod
    def _webhook_secret_previous(cls, value: str) -> str:
        previous_keys(value)  # the same check for each, naming CLOSELOOP_WEBHOOK_SECRET_PREVIOUS
        return value

    @field_validator("auth_failure_limits")
    @classmethod
    def _limits(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit such as '10/minute;100/hour': {exc}") from None
        return value


def normalize_database_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
