"""the requester of a compensation entry as a stable identity

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10 10:00:00

``compensation.requester_key``: ``user:<id>`` (the requester's token belongs to a user) or ``token:<id>``, so
"never the requester approves" compares identities, not free-text token names (two manager tokens both
named "manager" were refused each other's requests; a CLI request recorded as ``cli:root`` could be approved
by its requester). Existing entries keep None: a pending one can then be rejected, not approved (re-record it
with a token). Downgrade drops the column.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compensation') as batch:
        batch.add_column(sa.Column('requester_key', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compensation') as batch:
        batch.drop_column('requester_key')
