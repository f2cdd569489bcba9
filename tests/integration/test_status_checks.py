"""Issue 11: every status and kind column of a domain enum carries a CHECK constraint in the migrated
database, listing exactly the enum's values (an enum value no migration added fails here, not in
production), and the database refuses a value outside it on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from closeloop.services.engine.sweep import sweep
from models.tables import Base

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _model_checks() -> dict[tuple[str, str], set[str]]:
    out = {}
    for table in Base.metadata.sorted_tables:
        for con in table.constraints:
            sql = str(getattr(con, "sqltext", ""))
            m = re.fullmatch(r"(\w+) IN \((.*)\)", sql)
            if m:
                out[(table.name, m.group(1))] = set(re.findall(r"'([^']*)'", m.group(2)))
    return out


def test_every_enum_check_of_the_models_is_in_the_migrated_database(engine):
    wanted = _model_checks()
    assert {("complaint", "status"), ("task", "status"), ("timer", "kind"), ("promise", "status"),
            ("compensation", "status"), ("improvement", "status")} <= set(wanted)
    insp = inspect(engine)
    for (table, column), values in sorted(wanted.items()):
        found = [c["sqltext"] for c in insp.get_check_constraints(table) if c["name"] == f"ck_{table}_{column}"]
        assert found, f"{table}.{column}: no CHECK constraint in the database (a migration is missing)"
        in_db = set(re.findall(r"'([^']*)'", str(found[0])))
        assert in_db == values, (f"{table}.{column}: the database allows {sorted(in_db)}, the enum has "
                                 f"{sorted(values)}; add a migration")


@pytest.mark.parametrize("table,column", [("complaint", "status"), ("task", "status"), ("timer", "kind")])
def test_the_database_refuses_a_value_outside_the_enum(engine, sessions, config, table, column):
    intake(sessions, config, T0, [facts("CHK1", T0, product="Debt collection")])
    sweep(sessions, config, T0)  # timers
    with engine.connect() as c:
        (row_id,) = c.execute(text(f"SELECT id FROM {table} ORDER BY id LIMIT 1")).one()
    with pytest.raises(IntegrityError), engine.begin() as c:  # a near miss: capitalised, trailing space
        c.execute(text(f"UPDATE {table} SET {column} = 'Resolved ' WHERE id = :id"), {"id": row_id})
