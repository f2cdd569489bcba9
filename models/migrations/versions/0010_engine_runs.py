"""engine runs: one row per finished sweep, delivery or purge (metrics, readiness)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 13:40:00

Downgrade deletes the engine's run history (durations, counts): ``closeloop db downgrade`` refuses
while rows exist unless ``--allow-data-loss`` (models/migrate.py LOSSES).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'engine_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('worker', sa.String(length=100), nullable=False),
        sa.Column('started_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('duration_s', sa.Float(), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.CheckConstraint("kind IN ('sweep', 'deliver', 'purge')", name=op.f('ck_engine_run_kind')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_engine_run')),
    )
    op.create_index('ix_engine_run_kind_finished_at', 'engine_run', ['kind', 'finished_at'], unique=False)


def downgrade() -> None:
    # run history is counted in models/migrate.py LOSSES["0010"]: refused unless --allow-data-loss
    op.drop_index('ix_engine_run_kind_finished_at', table_name='engine_run')
    op.drop_table('engine_run')
