"""timers notifications outbox

Revision ID: 0003
Revises: 0002

"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timers_dirty', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.create_index(batch_op.f('ix_complaint_timers_dirty'), ['timers_dirty'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=500), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('lease_until', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_idempotency_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_ready', ['status', 'next_attempt_at'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=500), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=True),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('fired_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('release_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], name=op.f('fk_notification_complaint_id_complaint')),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_notification_outbox_id_outbox')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_notification_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('key', name=op.f('uq_notification_key'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_complaint_id'), ['complaint_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_outbox_id'), ['outbox_id'], unique=False)
        batch_op.create_index('ix_notification_pending', ['status', 'release_at'], unique=False)

    op.create_table('timer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('fire_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fired_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], name=op.f('fk_timer_complaint_id_complaint')),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_timer_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timer')),
    sa.UniqueConstraint('key', name=op.f('uq_timer_key'))
    )
    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timer_complaint_id'), ['complaint_id'], unique=False)
        batch_op.create_index('ix_timer_pending', ['status', 'fire_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_timer_task_id'), ['task_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('timer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timer_task_id'))
        batch_op.drop_index('ix_timer_pending')
        batch_op.drop_index(batch_op.f('ix_timer_complaint_id'))

    op.drop_table('timer')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_pending')
        batch_op.drop_index(batch_op.f('ix_notification_outbox_id'))
        batch_op.drop_index(batch_op.f('ix_notification_complaint_id'))

    op.drop_table('notification')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_ready')

    op.drop_table('outbox')
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_timers_dirty'))
        batch_op.drop_column('timers_dirty')
