"""Process settings from the environment (prefix ``CLOSELOOP_``).

- ``CLOSELOOP_DATABASE_URL``: SQLAlchemy URL; default a SQLite file ``closeloop.db``
  in the working directory. PostgreSQL: ``postgresql+psycopg://user@host/db``.
- ``CLOSELOOP_CONFIG``: path of the TOML configuration; default the bundled one.
- ``CLOSELOOP_IMPORT_BATCH_SIZE``: rows per database batch during import (default 1000).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLOSELOOP_", extra="ignore")

    database_url: str = "sqlite:///closeloop.db"
    config: str | None = None
    import_batch_size: int = Field(1000, ge=1, le=100_000)


def normalize_database_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
