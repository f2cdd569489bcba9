"""outbox dead letters: honest attempt counting (claims apart from attempts), dead status, manual re-sends

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:15:00

``failed`` rows become ``dead`` (reason ``exhausted`` when the last error says the
schedule gave up, ``rejected`` otherwise). The downgrade keeps every row: ``dead``
goes back to ``failed`` with the reason and the number of manual re-sends written
into ``last_error`` (the only place the older schema has for them); ``claims`` is a
fence for running claims and carries no history.
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

import models.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

STATUSES = "('pending', 'sending', 'unknown', 'delivered', 'dead')"
OLD_STATUSES = "('pending', 'sending', 'unknown', 'delivered', 'failed')"


_FOLDED = re.compile(r"dead letter \((exhausted|rejected|abandoned)(?:, re-sent by hand (\d+) times)?\): (.*)",
                     re.DOTALL)


def _dead_letter(error: str | None) -> dict:
    """Reason, re-sends and error of a ``failed`` row: unfolded when this revision's downgrade wrote it."""
    m = _FOLDED.fullmatch(error or "")
    if m:
        return {"reason": m.group(1), "requeues": int(m.group(2) or 0), "error": m.group(3) or None}
    reason = "exhausted" if (error or "").startswith("gave up after") else "rejected"
    return {"reason": reason, "requeues": 0, "error": error}


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claims', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('requeues', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('dead_reason', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('dead_at', models.types.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE outbox SET claims = attempts")
    bind = op.get_bind()
    failed = bind.execute(sa.text("SELECT id, last_error FROM outbox WHERE status = 'failed'")).all()
    if failed:
        bind.execute(sa.text("UPDATE outbox SET status = 'dead', dead_reason = :reason, requeues = :requeues, "
                             "last_error = :error, dead_at = COALESCE(lease_until, next_attempt_at) WHERE id = :id"),
                     [{"id": i, **_dead_letter(error)} for i, error in failed])
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_check_constraint('status', f"status IN {STATUSES}")
        batch_op.create_check_constraint('dead_reason',
                                         "dead_reason IS NULL OR dead_reason IN ('exhausted', 'rejected', 'abandoned')")


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_dead_reason'), type_='check')
        batch_op.drop_constraint(op.f('ck_outbox_status'), type_='check')
    op.execute("UPDATE outbox SET status = 'failed', last_error = 'dead letter (' || dead_reason || "
               "CASE WHEN requeues > 0 THEN ', re-sent by hand ' || CAST(requeues AS VARCHAR(12)) || ' times' "
               "ELSE '' END || '): ' || COALESCE(last_error, '') WHERE status = 'dead'")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('dead_at')
        batch_op.drop_column('dead_reason')
        batch_op.drop_column('requeues')
        batch_op.drop_column('claims')
