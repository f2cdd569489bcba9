"""people: users (app_user), token owners, task assignees as users, mentions in notes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:30:00

Downgrade deletes the users and the mentions and forgets which user a token or a task belongs to (the
free-text ``task.assignee`` stays): ``closeloop db downgrade`` refuses while rows exist unless
``--allow-data-loss`` (models/migrate.py LOSSES).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'app_user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('handle', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('departments', sa.JSON(), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('calendar', sa.String(length=64), nullable=True),
        sa.Column('notify', sa.String(length=500), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
        sa.UniqueConstraint('handle', name=op.f('uq_app_user_handle')),
    )
    op.create_table(
        'mention',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.Column('author', sa.String(length=200), nullable=False),
        sa.Column('at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_mention_message_id_message')),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_mention_user_id_app_user')),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], name=op.f('fk_mention_complaint_id_complaint')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mention')),
        sa.UniqueConstraint('message_id', 'user_id', name='uq_mention_message_user'),
    )
    op.create_index(op.f('ix_mention_complaint_id'), 'mention', ['complaint_id'], unique=False)
    op.create_index('ix_mention_user_at', 'mention', ['user_id', 'at'], unique=False)
    with op.batch_alter_table('api_token') as batch:
        batch.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_api_token_user_id_app_user'), 'app_user', ['user_id'], ['id'])
        batch.create_index(op.f('ix_api_token_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('task') as batch:
        batch.add_column(sa.Column('assignee_user_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_task_assignee_user_id_app_user'), 'app_user', ['assignee_user_id'], ['id'])
        batch.create_index(op.f('ix_task_assignee_user_id'), ['assignee_user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task') as batch:
        batch.drop_index(op.f('ix_task_assignee_user_id'))
        batch.drop_constraint(op.f('fk_task_assignee_user_id_app_user'), type_='foreignkey')
        batch.drop_column('assignee_user_id')
    with op.batch_alter_table('api_token') as batch:
        batch.drop_index(op.f('ix_api_token_user_id'))
        batch.drop_constraint(op.f('fk_api_token_user_id_app_user'), type_='foreignkey')
        batch.drop_column('user_id')
    op.drop_index('ix_mention_user_at', table_name='mention')
    op.drop_index(op.f('ix_mention_complaint_id'), table_name='mention')
    op.drop_table('mention')
    op.drop_table('app_user')
