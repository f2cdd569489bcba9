"""Process settings from the environment (prefix ``CLOSELOOP_``).

- ``CLOSELOOP_DATABASE_URL``: SQLAlchemy URL; default a SQLite file ``closeloop.db``
  in the working directory. PostgreSQL: ``postgresql+psycopg://user@host/db``.
- ``CLOSELOOP_CONFIG``: path of the TOML configuration; default the bundled one.
- ``CLOSELOOP_IMPORT_BATCH_SIZE``: rows per database batch during import (default 1000).
- ``CLOSELOOP_WEBHOOK_SECRET``: the HMAC-SHA256 key signing outgoing webhooks
  (``X-Closeloop-Signature``); the default ``change-me`` is only for demos.
- ``CLOSELOOP_DELIVERY_DEADLINE_S``: total deadline of one delivery attempt, in seconds (default 10).
- ``CLOSELOOP_CAPTURE_DIR``: where ``capture://name`` targets write JSON Lines (default ``out/capture``).
- ``CLOSELOOP_API_MAX_BODY_BYTES``: the largest request body the API and dashboard accept (default 1 MiB; 413 above).
- ``CLOSELOOP_AUTH_FAILURE_LIMITS``: failed token or sign-in attempts allowed per client address before
  429 (``limits`` notation, windows separated by ``;``; default ``10/minute;100/hour``).
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLOSELOOP_", extra="ignore")

    database_url: str = "sqlite:///closeloop.db"
    config: str | None = None
    import_batch_size: int = Field(1000, ge=1, le=100_000)
    webhook_secret: str = "change-me"
    delivery_deadline_s: float = Field(10.0, gt=0, le=600)
    capture_dir: str = "out/capture"
    api_max_body_bytes: int = Field(1 << 20, ge=1024, le=1 << 30)
    # failed token / sign-in attempts allowed per client address (``limits`` notation, ';' between windows)
    auth_failure_limits: str = "10/minute;100/hour"

    @field_validator("auth_failure_limits")
    @classmethod
    def _limits(cls, value: str) -> str:
        from limits import parse_many

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
