"""failed engine runs are recorded

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 00:45:00

``engine_run.error``: None for a run that finished; the exception's class name for one that failed (a
purge refused by a foreign key used to leave no row, so ``/metrics`` could not tell a failing engine from
one that never ran). Downgrade deletes the failed runs (counted in ``models/migrate.py`` LOSSES: the older
schema would read them as finished), then drops the column.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('engine_run') as batch:
        batch.add_column(sa.Column('error', sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM engine_run WHERE error IS NOT NULL")
    with op.batch_alter_table('engine_run') as batch:
        batch.drop_column('error')
