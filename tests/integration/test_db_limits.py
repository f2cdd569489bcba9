"""PostgreSQL server-side limits set on every connection (models/db.py): a runaway statement is cancelled
and a session idle inside a transaction is ended, so a frozen worker cannot hold row locks for ever."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from models.db import PG_IDLE_IN_TRANSACTION_TIMEOUT_S, PG_STATEMENT_TIMEOUT_S, make_engine
from tests.conftest import pg_schema_url


def test_every_connection_carries_the_limits_and_keeps_the_urls_options(pg_engine):
    with pg_engine.connect() as c:
        # PostgreSQL shows whole minutes as "Nmin" (the defaults are 120 s and 300 s)
        assert c.execute(text("SHOW statement_timeout")).scalar() == f"{round(PG_STATEMENT_TIMEOUT_S / 60)}min"
        idle = c.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
        assert idle == f"{round(PG_IDLE_IN_TRANSACTION_TIMEOUT_S / 60)}min"
        assert c.execute(text("SHOW search_path")).scalar().startswith("cl_test_")  # the URL's own option kept


def test_a_statement_over_the_limit_is_cancelled(pg_engine):
    schema_url = pg_schema_url(str(pg_engine.url.query["options"]).split("=")[-1])
    eng = make_engine(schema_url, statement_timeout_s=0.2)
    try:
        with eng.connect() as c, pytest.raises(OperationalError, match="statement timeout"):
            c.execute(text("SELECT pg_sleep(2)"))
    finally:
        eng.dispose()


def test_the_harness_empties_the_schema_even_when_a_leaked_session_holds_a_lock(pg_engine):
    """tests/conftest._truncate_pg: a session left inside a transaction by an earlier test no longer makes
    the next test's TRUNCATE wait out the statement timeout (CI stop 22); the holder is ended instead."""
    from tests.conftest import _truncate_pg

    leaked = pg_engine.connect()
    leaked.begin()
    leaked.execute(text("SELECT count(*) FROM complaint")).scalar()  # ACCESS SHARE until the transaction ends
    _truncate_pg(pg_engine)  # would wait 120 s and fail before
    with pytest.raises(OperationalError):
        leaked.execute(text("SELECT 1"))  # its backend was ended
    leaked.invalidate()
    leaked.close()
