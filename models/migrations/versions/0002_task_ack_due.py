"""task.ack_due_at and due-date indexes for set-based sweeps

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.add_column(sa.Column("ack_due_at", models.types.UTCDateTime(timezone=True), nullable=True))
        batch.create_index("ix_task_due_at", ["due_at"])
        batch.create_index("ix_task_ack_due_at", ["ack_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.drop_index("ix_task_ack_due_at")
        batch.drop_index("ix_task_due_at")
        batch.drop_column("ack_due_at")
