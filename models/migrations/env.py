"""Alembic environment for closeloop.

SQLite: migrations run in batch mode (``render_as_batch``) with foreign keys
switched off while tables are rebuilt, then switched on again and checked
with ``PRAGMA foreign_key_check``; any violation aborts with an error naming
the table. PostgreSQL runs them transactionally as usual.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from models.db import make_engine
from models.migrate import include_object
from models.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        if connection.in_transaction():
            connection.commit()
        problems = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        if problems:
            tables = sorted({row[0] for row in problems})
            raise RuntimeError(f"foreign key check failed after migration in tables: {', '.join(tables)}")


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no sqlalchemy.url in the Alembic configuration and no connection passed in")
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():  # pragma: no cover - offline SQL generation
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
