"""What complaints refer to from configuration: departments and the routing-configuration versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..types import UTCDateTime
from .base import Base


class Department(Base):
    """A department from configuration (rows are kept when removed from it: ``active`` false)."""

    __tablename__ = "department"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    lead: Mapped[str] = mapped_column(String(200), default="")
    notify: Mapped[str] = mapped_column(String(500), default="")
    calendar: Mapped[str] = mapped_column(String(64), default="default")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoutingConfig(Base):
    """One version of the configuration text that routed complaints (by SHA-256)."""

    __tablename__ = "routing_config"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
