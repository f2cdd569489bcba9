"""notification.dropped_reason: why a released notice was not sent (issue 12, K12)

Revision ID: 0007
Revises: 0005

Downgrade refuses while a notification is dropped (the older code knows no such status and the
reason would be lost); delete or re-pend those rows first.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("dropped_reason", sa.String(32), nullable=True))


def downgrade() -> None:
    # dropped notices' reasons are counted in models/migrate.py LOSSES["0007"]: refused unless --allow-data-loss
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("dropped_reason")
