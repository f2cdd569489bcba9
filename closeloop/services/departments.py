"""Keep the department table and the routing-config versions in step with the configuration."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from closeloop.config import Config
from models.tables import Department, RoutingConfig


def sync_departments(session: Session, config: Config, now: datetime) -> None:
    """Upsert the configured departments; departments no longer configured become inactive (never deleted)."""
    existing = {d.name: d for d in session.scalars(select(Department))}
    for name, dep in config.departments.items():
        row = existing.get(name)
        if row is None:
            row = Department(name=name)
            session.add(row)
        row.display_name, row.lead, row.notify, row.calendar = dep.display_name, dep.lead, dep.notify, dep.calendar
        row.active = True
        row.updated_at = now
    for name, row in existing.items():
        if name not in config.departments and row.active:
            row.active = False
            row.updated_at = now
    session.flush()


def routing_config_id(session: Session, config: Config, now: datetime) -> int:
    """The id of this configuration's version row, created on first use."""
    found = session.scalar(select(RoutingConfig.id).where(RoutingConfig.sha256 == config.version_hash))
    if found is not None:
        return found
    row = RoutingConfig(sha256=config.version_hash, source=config.source, text=config.text, loaded_at=now)
    session.add(row)
    session.flush()
    return row.id
