"""``sync_departments`` runs with every intake: it writes a department only when the configuration changed it
(before, every intake rewrote every department row), and still records each change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from closeloop.config import load_config, parse_config
from closeloop.services.departments import sync_departments
from models.tables import Department

from .helpers import sent_statements

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _rows(sessions) -> dict[str, tuple]:
    with sessions() as s:
        return {d.name: (d.lead, d.active, d.updated_at) for d in s.scalars(select(Department))}


def _sync(sessions, config, at) -> list[str]:
    """Sync in one transaction; the department UPDATE/INSERT statements it sent."""
    with sent_statements(sessions.kw["bind"]) as sent, sessions.begin() as s:
        sync_departments(s, config, at)
    return [stmt for stmt, _ in sent
            if stmt.split(" ", 1)[0] in ("UPDATE", "INSERT") and "department" in stmt.split("(")[0]]


def test_an_unchanged_configuration_writes_no_department(sessions):
    config = load_config()
    assert _sync(sessions, config, T0)  # the first sync creates them
    first = _rows(sessions)
    assert set(first) == set(config.departments)
    assert _sync(sessions, config, T0 + timedelta(hours=1)) == []
    assert _rows(sessions) == first


def test_a_changed_lead_and_a_removed_department_are_written_with_their_instant(sessions):
    config = load_config()
    with_legal = parse_config(config.text + '\n[departments.legal]\ndisplay_name = "Legal"\n')
    _sync(sessions, with_legal, T0)
    changed = parse_config(config.text.replace('lead = "product-lead"', 'lead = "new-product-lead"'))
    later = T0 + timedelta(days=1)
    assert len(_sync(sessions, changed, later)) == 2  # product's lead, legal's deactivation
    rows = _rows(sessions)
    assert rows["product"] == ("new-product-lead", True, later)
    assert rows["legal"][1:] == (False, later)  # no longer configured: inactive, never deleted
    assert rows["service"][2] == T0  # untouched
