"""partial index on the audit rows the customer step reads by time (issue 16)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 03:30:00

``ix_transition_milestone``: ``transition (at)`` for the rows whose trigger is a customer milestone
(``models.tables.complaints.MILESTONE_TRIGGERS``: await_customer, reopen, resolve, transfer). Every sweep's
customer step (``closeloop.services.customers.milestones``) selects the milestone rows of the last seven days;
without it SQLite walked every complaint and task row of the audit log (``ix_transition_entity``) per sweep.
No data changes; downgrade drops the index.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# the condition as written in models/tables/complaints.py (MILESTONE_WHERE), frozen here
WHERE = "\"trigger\" IN ('await_customer', 'reopen', 'resolve', 'transfer')"


def upgrade() -> None:
    op.create_index('ix_transition_milestone', 'transition', ['at'], unique=False,
                    sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index('ix_transition_milestone', table_name='transition')
