"""The declarative base of every table: one :class:`Base`, one ``MetaData`` with the constraint naming convention."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import CheckConstraint, MetaData, Table
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # every model here is mapped to a Table (no mapping to a select or join): Core insert/update take it
    __table__: ClassVar[Table]


def one_of(column: str, values: Iterable[StrEnum]) -> CheckConstraint:
    """A portable CHECK constraint (SQLite and PostgreSQL) that keeps ``column`` to the values of a typed
    enum of the domain, named ``ck_<table>_<column>`` by :data:`NAMING`. The migration that adds it
    (0012) lists the values as they were then; ``tests/integration/test_status_checks.py`` fails when an
    enum gains a value no migration added to the database's constraint."""
    listed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)
