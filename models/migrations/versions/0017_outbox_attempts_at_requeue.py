"""an outbox row keeps its attempts across a manual re-send

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 00:40:00

``outbox.attempts_at_requeue``: ``attempts`` when the row was last re-sent by hand (``closeloop outbox
retry``); the retry budget of the current round counts from there. ``attempts`` itself is no longer reset
by a re-send, so it counts every request that reached the receiver. Existing rows get 0 (their
``attempts`` is already the current round's). Downgrade gives ``attempts`` its old meaning (the current
round's: the attempts before a re-send are forgotten, counted in ``models/migrate.py`` LOSSES), then drops
the column.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('attempts_at_requeue', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.execute("UPDATE outbox SET attempts = attempts - attempts_at_requeue, claims = claims - attempts_at_requeue "
               "WHERE attempts_at_requeue > 0")
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('attempts_at_requeue')
