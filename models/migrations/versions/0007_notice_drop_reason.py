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
    n = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM notification WHERE dropped_reason IS NOT NULL OR status = 'dropped'")).scalar()
    if n:
        raise RuntimeError(f"cannot downgrade below 0007: {n} dropped notification(s) would lose their reason; "
                           "delete them (or set them back to pending) first")
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("dropped_reason")
