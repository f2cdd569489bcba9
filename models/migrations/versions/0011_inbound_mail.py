"""inbound e-mail: processed messages (unique by Message-ID), quarantine, attachments; outbound Message-IDs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:15:00

``message.mail_id`` is filled from the outbox payloads already sent (``payload.message_id``), so a reply
to a mail sent before this revision threads too. Downgrade deletes the inbound e-mail records, the
quarantined raw messages and the attachment list: ``closeloop db downgrade`` refuses while rows exist
unless ``--allow-data-loss`` (models/migrate.py LOSSES); ``mail_id`` is rebuilt from the outbox.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbound_mail',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('via', sa.String(length=16), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('complaint_id', sa.Integer(), nullable=True),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('processed_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], name=op.f('fk_inbound_mail_complaint_id_complaint')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_mail')),
        sa.UniqueConstraint('key', name=op.f('uq_inbound_mail_key')),
    )
    op.create_index(op.f('ix_inbound_mail_complaint_id'), 'inbound_mail', ['complaint_id'], unique=False)
    op.create_index('ix_inbound_mail_outcome_at', 'inbound_mail', ['outcome', 'processed_at'], unique=False)
    op.create_table(
        'attachment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.Column('inbound_mail_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('declared_type', sa.String(length=100), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=True),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], name=op.f('fk_attachment_complaint_id_complaint')),
        sa.ForeignKeyConstraint(['inbound_mail_id'], ['inbound_mail.id'],
                                name=op.f('fk_attachment_inbound_mail_id_inbound_mail')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attachment')),
    )
    op.create_index(op.f('ix_attachment_complaint_id'), 'attachment', ['complaint_id'], unique=False)
    op.create_index(op.f('ix_attachment_inbound_mail_id'), 'attachment', ['inbound_mail_id'], unique=False)
    op.create_table(
        'mail_quarantine',
        sa.Column('inbound_mail_id', sa.Integer(), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['inbound_mail_id'], ['inbound_mail.id'],
                                name=op.f('fk_mail_quarantine_inbound_mail_id_inbound_mail')),
        sa.PrimaryKeyConstraint('inbound_mail_id', name=op.f('pk_mail_quarantine')),
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mail_id', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_message_mail_id'), ['mail_id'], unique=False)
    _fill_mail_ids()


def _fill_mail_ids() -> None:
    """Outbound messages sent before this revision get their Message-ID from their outbox row's payload."""
    message = sa.table('message', sa.column('id', sa.Integer), sa.column('outbox_id', sa.Integer),
                       sa.column('mail_id', sa.String))
    outbox = sa.table('outbox', sa.column('id', sa.Integer), sa.column('payload', sa.JSON))
    conn = op.get_bind()
    rows = conn.execute(sa.select(message.c.id, outbox.c.payload)
                        .join(outbox, outbox.c.id == message.c.outbox_id)).all()
    params = [{"mid": mid, "v": str(payload["message_id"])[:255]} for mid, payload in rows
              if isinstance(payload, dict) and payload.get("message_id")]
    if params:
        conn.execute(message.update().where(message.c.id == sa.bindparam("mid"))
                     .values(mail_id=sa.bindparam("v")), params)


def downgrade() -> None:
    # inbound records, quarantine and attachments are counted in models/migrate.py LOSSES["0011"]
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_mail_id'))
        batch_op.drop_column('mail_id')
    op.drop_table('mail_quarantine')
    op.drop_index(op.f('ix_attachment_inbound_mail_id'), table_name='attachment')
    op.drop_index(op.f('ix_attachment_complaint_id'), table_name='attachment')
    op.drop_table('attachment')
    op.drop_index('ix_inbound_mail_outcome_at', table_name='inbound_mail')
    op.drop_index(op.f('ix_inbound_mail_complaint_id'), table_name='inbound_mail')
    op.drop_table('inbound_mail')
