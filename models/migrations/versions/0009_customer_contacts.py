"""customers in the loop: display name, language, time zone, contact points; outbound messages link their outbox row; promises

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-03 13:20:00

Downgrade refuses while any customer has personal fields or contact points, or a message is linked
to an outbox row: dropping them would lose what the customer told us (run ``customers forget`` or
export first).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('display_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('erased_at', models.types.UTCDateTime(timezone=True), nullable=True))
    op.create_table('customer_contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=254), nullable=False),
    sa.Column('consent', sa.Boolean(), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('updated_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_customer_contact_customer_id_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_contact')),
    sa.UniqueConstraint('customer_id', 'kind', 'value', name='uq_customer_contact_point')
    )
    with op.batch_alter_table('customer_contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_contact_customer_id'), ['customer_id'], unique=False)
    op.create_table('promise',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=64), nullable=False),
    sa.Column('person', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('due_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('made_by', sa.String(length=200), nullable=False),
    sa.Column('made_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reminded_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('broken_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('kept_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('kept_by_message_id', sa.Integer(), nullable=True),
    sa.Column('kept_by_task_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], name=op.f('fk_promise_complaint_id_complaint')),
    sa.ForeignKeyConstraint(['department'], ['department.name'], name=op.f('fk_promise_department_department')),
    sa.ForeignKeyConstraint(['kept_by_message_id'], ['message.id'], name=op.f('fk_promise_kept_by_message_id_message')),
    sa.ForeignKeyConstraint(['kept_by_task_id'], ['task.id'], name=op.f('fk_promise_kept_by_task_id_task')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promise'))
    )
    with op.batch_alter_table('promise', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promise_complaint_id'), ['complaint_id'], unique=False)
        batch_op.create_index('ix_promise_status_due', ['status', 'due_at'], unique=False)
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outbox_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_message_outbox_id'), ['outbox_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_message_outbox_id_outbox'), 'outbox', ['outbox_id'], ['id'])


def downgrade() -> None:
    # what this step deletes is counted in models/migrate.py LOSSES["0009"]: refused unless --allow-data-loss
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_message_outbox_id_outbox'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_message_outbox_id'))
        batch_op.drop_column('outbox_id')
    with op.batch_alter_table('promise', schema=None) as batch_op:
        batch_op.drop_index('ix_promise_status_due')
        batch_op.drop_index(batch_op.f('ix_promise_complaint_id'))
    op.drop_table('promise')
    with op.batch_alter_table('customer_contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_contact_customer_id'))
    op.drop_table('customer_contact')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('time_zone')
        batch_op.drop_column('language')
        batch_op.drop_column('display_name')
