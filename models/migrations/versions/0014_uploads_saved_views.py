"""staff uploads (attachments without an inbound mail, on a task or a note, with the uploader) and saved views

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 20:00:00

Downgrade deletes the attachments uploaded by staff (their files stay on disk, content-addressed) and the
saved views: ``closeloop db downgrade`` refuses while rows exist unless ``--allow-data-loss``
(models/migrate.py LOSSES).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attachment') as batch:
        batch.alter_column('inbound_mail_id', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('task_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('uploaded_by', sa.String(length=200), nullable=True))
        batch.create_foreign_key(op.f('fk_attachment_task_id_task'), 'task', ['task_id'], ['id'])
        batch.create_foreign_key(op.f('fk_attachment_message_id_message'), 'message', ['message_id'], ['id'])
        batch.create_index(op.f('ix_attachment_task_id'), ['task_id'], unique=False)
    op.create_table(
        'saved_view',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('query', sa.String(length=1000), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_saved_view_user_id_app_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_view')),
        sa.UniqueConstraint('user_id', 'name', name='uq_saved_view_user_name'),
    )


def downgrade() -> None:
    op.drop_table('saved_view')
    op.execute("DELETE FROM attachment WHERE inbound_mail_id IS NULL")
    with op.batch_alter_table('attachment') as batch:
        batch.drop_index(op.f('ix_attachment_task_id'))
        batch.drop_constraint(op.f('fk_attachment_message_id_message'), type_='foreignkey')
        batch.drop_constraint(op.f('fk_attachment_task_id_task'), type_='foreignkey')
        batch.drop_column('uploaded_by')
        batch.drop_column('message_id')
        batch.drop_column('task_id')
        batch.alter_column('inbound_mail_id', existing_type=sa.Integer(), nullable=False)
