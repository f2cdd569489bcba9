"""CASES.md K9: upgrade, downgrade to base and upgrade again, with data, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from closeloop.services.reads.stats import stats
from models import migrate
from models.tables import Base, Complaint
from tests.conftest import ROOT

from .helpers import run_import


def test_round_trip_with_data(engine, sessions, config, clock):
    run_import(sessions, config, clock, ROOT / "examples" / "cfpb_sample.csv")
    assert stats(sessions)["complaints"] > 0
    assert migrate.is_up_to_date(engine)
    with pytest.raises(migrate.DataLossRefused, match="271 complaint rows"):
        migrate.downgrade(engine, "base")
    assert migrate.is_up_to_date(engine)
    migrate.downgrade(engine, "base", allow_data_loss=True)
    assert migrate.current_revision(engine) is None
    left = set(inspect(engine).get_table_names()) & {t.name for t in Base.metadata.sorted_tables}
    assert left == set()
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    assert set(inspect(engine).get_table_names()) >= {t.name for t in Base.metadata.sorted_tables}
    report = run_import(sessions, config, clock, ROOT / "examples" / "cfpb_sample.csv")
    assert report.created == 271
    with sessions() as s:
        assert s.scalar(select(Complaint.received_at).limit(1)).tzinfo is not None


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_sqlite_foreign_keys_are_enforced_after_migrating(engine):
    with engine.connect() as c:
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert c.execute(text("PRAGMA foreign_key_check")).fetchall() == []


def test_schema_matches_the_models(engine):
    """Alembic's autogenerate finds nothing to change: migrations and models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from models.migrate import include_object

    with engine.connect() as c:
        ctx = MigrationContext.configure(c, opts={"compare_type": False, "include_object": include_object})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
