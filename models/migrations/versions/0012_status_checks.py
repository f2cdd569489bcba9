"""typed vocabulary in the database: CHECK constraints on every status and kind column of a domain enum

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 19:40:00

Issue 11: every status and kind is a typed enum in ``closeloop.domain``; the database now refuses any
other value (``ck_<table>_<column>``, portable CHECK constraints on SQLite and PostgreSQL). The values
are listed here as they are at this revision (a migration is a snapshot; a later enum value needs a
later revision: ``tests/integration/test_status_checks.py`` fails until one exists). Before adding a
constraint the upgrade looks for rows it would refuse and stops naming the table, column and values,
so nothing is half-migrated. The downgrade drops the constraints and keeps every row.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

CHECKS: list[tuple[str, str, tuple[str, ...]]] = [
    ('complaint', 'status', ('received', 'triaged', 'in_progress', 'awaiting_customer', 'resolved', 'closed',
                             'reopened', 'merged', 'rejected')),
    ('task', 'status', ('open', 'acknowledged', 'in_progress', 'blocked', 'waiting', 'done', 'transferred',
                        'cancelled')),
    ('message', 'direction', ('inbound', 'outbound', 'internal')),
    ('customer_contact', 'kind', ('email', 'phone', 'chat')),
    ('promise', 'status', ('open', 'kept', 'broken', 'cancelled')),
    ('attachment', 'status', ('stored', 'refused')),
    ('timer', 'status', ('pending', 'fired', 'cancelled')),
    ('timer', 'kind', ('reminder', 'manual_reminder', 'ack_timeout', 'escalation', 'promise', 'transfers',
                       'ping_pong', 'pause_expired', 'task_pause_expired', 'follow_up', 'effectiveness')),
    ('notification', 'status', ('pending', 'packed', 'dropped')),
    ('improvement', 'status', ('proposed', 'approved', 'in_progress', 'implemented', 'verifying', 'effective',
                               'ineffective', 'rejected')),
    ('compensation', 'status', ('approved', 'pending_approval', 'rejected')),
]


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _refuse_strays() -> None:
    bind = op.get_bind()
    strays = []
    for table, column, values in CHECKS:
        found = bind.execute(sa.text(f"SELECT DISTINCT {column} FROM {table} "
                                     f"WHERE {column} NOT IN ({_listed(values)})")).scalars().all()
        if found:
            strays.append(f"{table}.{column}: {', '.join(sorted(map(repr, found)))}")
    if strays:
        raise RuntimeError("rows with values outside the domain's enums; fix them before this migration: "
                           + "; ".join(strays))


def upgrade() -> None:
    _refuse_strays()
    tables: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for table, column, values in CHECKS:
        tables.setdefault(table, []).append((column, values))
    for table, checks in tables.items():  # one rebuild per table on SQLite
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, values in checks:
                batch_op.create_check_constraint(column, f"{column} IN ({_listed(values)})")


def downgrade() -> None:
    tables: dict[str, list[str]] = {}
    for table, column, _ in CHECKS:
        tables.setdefault(table, []).append(column)
    for table, columns in tables.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f'ck_{table}_{column}'), type_='check')
