"""when an inbound e-mail arrived, kept apart from when it was last processed

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 01:00:00

``inbound_mail.received_at``: the instant closeloop first took the message in (poll or webhook). Reprocessing
a quarantined message updates its ``processed_at``, so ``closeloop mail quarantined`` showed the last attempt,
not the arrival. Existing rows get their ``processed_at`` (for a row reprocessed before this revision that is
the last attempt: its arrival was not kept). Nullable, so the column is added without rewriting the table;
every row written since has it. Downgrade drops the column.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound_mail') as batch:
        batch.add_column(sa.Column('received_at', models.types.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE inbound_mail SET received_at = processed_at")


def downgrade() -> None:
    with op.batch_alter_table('inbound_mail') as batch:
        batch.drop_column('received_at')
