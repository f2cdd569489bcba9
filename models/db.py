"""Engine construction with the per-backend settings closeloop relies on."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

#: Seconds a SQLite writer waits for another writer's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 60.0
#: PostgreSQL: the longest statement (a runaway query is cancelled, its transaction rolled back) and the
#: longest a session may sit idle inside a transaction (a worker frozen mid-transaction releases its row
#: locks, so the others are not blocked behind it), in seconds.
PG_STATEMENT_TIMEOUT_S = 120.0
PG_IDLE_IN_TRANSACTION_TIMEOUT_S = 300.0


class CloseloopSession(Session):
    """The sessions closeloop works in (:func:`make_sessions`). Its own session events listen on this class, not
    on SQLAlchemy's :class:`~sqlalchemy.orm.Session`, so they never fire for another library's sessions in the
    same process (e.g. the bulk audit insert, :mod:`closeloop.services.audit`)."""


def make_sessions(engine: Engine, *, expire_on_commit: bool = False) -> sessionmaker[Session]:
    """closeloop's session factory on ``engine``: :class:`CloseloopSession`, objects kept loaded after a commit
    unless ``expire_on_commit``. Typed as a factory of plain sessions, as the services take it (a
    ``sessionmaker`` is invariant in its session class)."""
    factory = sessionmaker(engine, class_=CloseloopSession, expire_on_commit=expire_on_commit)
    return cast("sessionmaker[Session]", factory)


def make_engine(url: str, *, statement_timeout_s: float = PG_STATEMENT_TIMEOUT_S,
                idle_in_transaction_timeout_s: float = PG_IDLE_IN_TRANSACTION_TIMEOUT_S, scratch: bool = False,
                **kwargs) -> Engine:
    """An engine for ``url``.

    SQLite (the single-machine default) gets foreign keys on, WAL (readers never wait for the
    writer) and writers that queue instead of failing: a busy timeout of
    :data:`SQLITE_BUSY_TIMEOUT_S` seconds, and every write transaction opened with
    ``BEGIN IMMEDIATE`` (pysqlite opens it lazily at the first write, as before): the write lock
    is taken up front, where SQLite's busy handler waits for it, never half-way through a
    transaction, where WAL answers SQLITE_BUSY at once. A transaction that starts with a
    SAVEPOINT (``Session.begin_nested()`` before any write) is opened ``BEGIN IMMEDIATE`` too:
    SQLite would otherwise start it deferred, read a snapshot, and fail "database is locked"
    without waiting when its first write finds that another writer committed meanwhile. The
    services keep transactions short (batches), so a sweep and a delivery take turns. Commits are
    durable (SQLite's default ``synchronous=FULL``: each commit is on disk before it returns), except
    on a ``scratch`` database (a replay's ``replay.db``, rebuilt on every run), where
    ``synchronous=OFF`` skips the fsync of every commit; a power loss may then lose or damage it.

    PostgreSQL gets server-side limits per connection: ``statement_timeout_s`` (a statement running
    longer is cancelled) and ``idle_in_transaction_timeout_s`` (a session idle inside a transaction,
    e.g. a frozen worker holding row locks, is ended); both in seconds, defaults
    :data:`PG_STATEMENT_TIMEOUT_S` and :data:`PG_IDLE_IN_TRANSACTION_TIMEOUT_S`.
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_S})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = "IMMEDIATE"  # the implicit BEGIN before the first write
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            if scratch:
                cur.execute("PRAGMA synchronous=OFF")
            cur.close()

        @event.listens_for(engine, "savepoint")
        def _begin_immediate_before_savepoint(conn, _name):
            begin_write(conn)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql"):
        options = (f"-c statement_timeout={round(statement_timeout_s * 1000)} "
                   f"-c idle_in_transaction_session_timeout={round(idle_in_transaction_timeout_s * 1000)}")
        given = make_url(url).query.get("options")  # e.g. a search_path in the URL: kept, ours added
        if given:
            options = " ".join([*(given if isinstance(given, tuple) else (given,)), options])
        kwargs.setdefault("connect_args", {"options": options})
    return create_engine(url, **kwargs)


def begin_write(conn: Connection) -> None:
    """SQLite: open the write transaction now (``BEGIN IMMEDIATE``) unless one is open, so that the reads
    which decide a write (is every prerequisite done?) see the last commit and no writer commits between
    them and the write. pysqlite would otherwise run those reads outside any transaction and begin only at
    the first write. A no-op on other databases (they lock rows: ``SELECT ... FOR UPDATE``)."""
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")
