"""complaint search index; dashboard sessions (issue 14)

One row per complaint in ``complaint_search`` (its search terms, see
``closeloop.domain.search_text``), indexed per backend: SQLite FTS5 (external content
table ``complaint_fts`` kept in step by triggers), PostgreSQL a GIN index over the terms as a
``tsvector``. Existing complaints are indexed here. Downgrade drops the index tables only
(derived data: rebuilt from the complaints by upgrading again).

Two indexes on ``complaint``: ``external_ref`` (a reference looked up alone) and ``received_at``
(the newest-first list).

``web_session``: dashboard sign-ins, revoked server-side at sign-out. Downgrade drops it, which
signs every browser out (the API tokens they were opened with are kept).

Revision ID: 0008
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types
from closeloop.domain.search_text import document

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_FIELDS = ("external_ref", "source", "category", "subcategory", "product", "sub_product", "issue", "sub_issue",
           "company", "region", "channel")
_CHUNK = 5000

_SQLITE = [
    "CREATE VIRTUAL TABLE complaint_fts USING fts5(doc, content='complaint_search', content_rowid='complaint_id', "
    "tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER complaint_search_ai AFTER INSERT ON complaint_search BEGIN "
    "INSERT INTO complaint_fts(rowid, doc) VALUES (new.complaint_id, new.doc); END",
    "CREATE TRIGGER complaint_search_ad AFTER DELETE ON complaint_search BEGIN "
    "INSERT INTO complaint_fts(complaint_fts, rowid, doc) VALUES ('delete', old.complaint_id, old.doc); END",
    "CREATE TRIGGER complaint_search_au AFTER UPDATE ON complaint_search BEGIN "
    "INSERT INTO complaint_fts(complaint_fts, rowid, doc) VALUES ('delete', old.complaint_id, old.doc); "
    "INSERT INTO complaint_fts(rowid, doc) VALUES (new.complaint_id, new.doc); END",
]
_PG = ["CREATE INDEX ix_complaint_search_terms ON complaint_search "
       "USING gin (array_to_tsvector(string_to_array(doc, ' ')))"]


def upgrade() -> None:
    op.create_table('complaint_search',
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('doc', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], name=op.f('fk_complaint_search_complaint_id_complaint'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('complaint_id', name=op.f('pk_complaint_search'))
    )
    op.create_table('web_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['token_id'], ['api_token.id'], name=op.f('fk_web_session_token_id_api_token')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_session')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_web_session_secret_hash'))
    )
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_session_token_id'), ['token_id'], unique=False)
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.create_index('ix_complaint_external_ref', ['external_ref'], unique=False)
        batch_op.create_index('ix_complaint_received_at', ['received_at'], unique=False)
    bind = op.get_bind()
    for ddl in (_SQLITE if bind.dialect.name == "sqlite" else _PG):
        op.execute(ddl)
    _backfill(bind)


def _backfill(bind) -> None:
    cols = ", ".join(f"c.{f}" for f in _FIELDS)
    rows = bind.execute(sa.text(
        f"SELECT c.id, {cols}, c.tags, cu.ref, "
        "(SELECT m.body FROM message m WHERE m.original_complaint_id = c.id AND m.direction = 'inbound' "
        " ORDER BY m.id LIMIT 1) FROM complaint c LEFT JOIN customer cu ON cu.id = c.customer_id ORDER BY c.id")).fetchall()
    table = sa.table('complaint_search', sa.column('complaint_id'), sa.column('doc'))
    batch = []
    for row in rows:
        tags = str(row[len(_FIELDS) + 1] or "")  # a JSON list (text on SQLite): its brackets separate terms
        batch.append({"complaint_id": row[0], "doc": document(*row[1:len(_FIELDS) + 1], tags, *row[-2:])})
        if len(batch) >= _CHUNK:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_index('ix_complaint_received_at')
        batch_op.drop_index('ix_complaint_external_ref')
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_session_token_id'))
    op.drop_table('web_session')
    if op.get_bind().dialect.name == "sqlite":
        for name in ("complaint_search_ai", "complaint_search_ad", "complaint_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS complaint_fts")
    op.drop_table('complaint_search')
