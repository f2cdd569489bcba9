"""Shared fixtures: a database per test on SQLite and, when configured, PostgreSQL.

- SQLite: the schema is built once by Alembic into a template file, copied per test.
- PostgreSQL (``CLOSELOOP_TEST_PG_URL``): one schema per xdist worker, built by
  Alembic, emptied between tests. In CI (``CI`` set) a missing or unreachable
  PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

os.environ.setdefault("COLUMNS", "250")  # Rich tables unwrapped in CLI output captured by tests
from sqlalchemy import text  # noqa: E402

from closeloop.clock import FixedClock
from closeloop.config import load_config
from models import migrate
from models.db import make_engine, make_sessions
from models.tables import Base

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CLOSELOOP_SHARED_DATA") or ROOT.parent / "shared" / "data")
PG_URL = os.environ.get("CLOSELOOP_TEST_PG_URL")
IN_CI = bool(os.environ.get("CI"))


def pytest_sessionstart(session):
    if IN_CI and not PG_URL:
        pytest.exit("CI requires CLOSELOOP_TEST_PG_URL (PostgreSQL) to be set", returncode=3)


def pytest_sessionfinish(session):
    """Collect what the tests left, then freeze the survivors, so a worker ends in well under a second.

    An xdist worker holds millions of objects by the end and each full collection of them takes over a second;
    pytest's last unraisable-exception check collects again after the worker reported (and so do allocations),
    and execnet sends a worker that has not ended 5 s after it was told to a SIGINT. The KeyboardInterrupt then
    lands in the first Python code after the collection, Hypothesis's ``gc_callback``, and comes out as a stray
    ``PytestUnraisableExceptionWarning``. Collecting here (before the worker reports: xdist wraps this hook)
    still reports what the last tests' garbage raises; the frozen survivors are never walked again."""
    gc.collect()
    gc.freeze()


def shared_file(rel: str) -> Path:
    """A file under ../shared/data; skips (outside CI) or fails (in CI) when absent."""
    path = SHARED / rel
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing; CI must have ../shared/data")
        pytest.skip(f"{path} not present (a fresh clone has no ../shared/data)")
    return path


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw_main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_engine():
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set CLOSELOOP_TEST_PG_URL (CI does)")
    # one schema per worker *process*: two suites running at once on one server never share one
    schema = f"cl_test_{_worker()}_{os.getpid()}"
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as c:
            _drop_orphan_schemas(c)
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_URL} unusable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} unusable: {exc}")
    engine = make_engine(pg_schema_url(schema))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _drop_orphan_schemas(conn) -> None:
    """Drop test schemas left by killed runs on this machine (their process is gone)."""
    for (name,) in conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'cl_test_%'")):
        pid = name.rsplit("_", 1)[-1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


def _truncate_pg(engine) -> None:
    """Empty every table of this worker's schema. TRUNCATE needs every table to itself, so a session an
    earlier test leaked inside a transaction (or a child process it left frozen) would make it wait for
    the server's idle limit (300 s) and fail the next tests with a statement timeout: leaked sessions
    are collected first, and any other backend still holding a lock in this schema is ended and named
    on stderr, so the leak shows instead of failing an innocent test.

    The collection runs only when a leak can be there: a connection of this engine still checked out, or
    another backend holding a lock in the schema. A full collection walks every object of the worker
    (millions by the end of a run: over a second each); collecting before every PostgreSQL test took minutes
    of a full run."""
    if engine.pool.checkedout():
        gc.collect()
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.connect() as c:
        held = c.execute(text(_HOLDERS)).first() is not None
    if held:
        gc.collect()  # a leaked session of another engine (an app's own) rolls back and lets go
    with engine.begin() as c:
        for pid, app, state, query in c.execute(text(_HOLDERS)) if held else ():
            print(f"tests: ending backend {pid} ({app}, {state}) that still holds a lock in this schema; "
                  f"last statement: {query[:200]}", file=sys.stderr)
            c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with engine.begin() as c:
        c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


#: Other backends holding a lock on a relation of the current schema (the worker's own search_path).
_HOLDERS = """
SELECT DISTINCT a.pid, a.application_name, a.state, a.query
FROM pg_locks l
JOIN pg_class r ON r.oid = l.relation
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE r.relnamespace = current_schema()::regnamespace AND l.pid <> pg_backend_pid()
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path, sqlite_template):
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine")
        _truncate_pg(eng)
        yield eng


@pytest.fixture
def sessions(engine):
    return make_sessions(engine)


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def config():
    return load_config()


@pytest.fixture(scope="session")
def nyc_config():
    return load_config(ROOT / "examples" / "nyc311.toml")
