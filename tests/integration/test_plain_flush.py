"""A status change's flush and clock read on SQLite without the ORM's per-row work (issue 17): the row updates are
plain statements with the ORM's optimistic lock, and a completion reads its complaint's audit rows in its one
joined read; what is stored, the conflicts and the rollbacks are those of the ORM's own flush."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from closeloop.domain.errors import Conflict
from closeloop.domain.task import TaskTrigger
from closeloop.services.bulk import select_rows
from closeloop.services.engine import ledger
from closeloop.services.transitions import apply, record_event
from closeloop.services.uow import unit_of_work
from closeloop.services.work import tasks as svc
from closeloop.services.work.task_reads import load_with_siblings
from models.tables import Complaint, Department, Task

from .helpers import sent_statements
from .test_tasks_service import T0, _assert_dues_as_flushed, _debt


def test_a_completion_reads_the_audit_rows_in_its_one_read(sessions, config, engine):
    """SQLite: the clock refresh of a completion takes the complaint's audit rows from the completion's joined
    read (its one SELECT, of the task, its complaint, their tasks and the audit rows: no second one for the
    clocks), and stores what a refresh from the flushed rows stores."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the joined read is SQLite's")
    cid, t = _debt(sessions, config)
    svc.acknowledge(sessions, t["investigate"], config=config, actor="ops-1", at=T0 + timedelta(minutes=5))
    at = T0 + timedelta(hours=3)
    with sent_statements(engine) as sent:
        svc.complete(sessions, t["investigate"], config=config, actor="ops-1", at=at, outcome="done")
    reads = [stmt for stmt, _ in sent if stmt.lstrip().startswith("SELECT")]
    assert len(reads) == 1 and "FROM transition" in reads[0]
    _assert_dues_as_flushed(sessions, config, cid, at)


def test_the_audit_rows_of_the_joined_read_are_those_of_the_ledger_read(sessions, config, engine):
    """``ledger.stored_audit`` of ``audit_json`` gives the rows, values and order of the ledger's own SELECT
    (reasons with quotes and non-ASCII text, JSON data, NULL states, rows of one instant)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("json_group_array is SQLite's")
    cid, t = _debt(sessions, config)
    with unit_of_work(sessions) as s:
        complaint = s.get_one(Complaint, cid)
        record_event(s, complaint, "note", at=T0, actor="a", reason='say "hi", ça va\n', data={"x": [1, "é"]})
        record_event(s, complaint, "note", at=T0, actor="a", reason=None)  # same instant: by id
    with sessions() as s:
        expected = select_rows(s, ledger._TRANSITIONS, {"ids": [cid]})
        text = s.execute(select(ledger.audit_json(Complaint.id)).where(Complaint.id == cid)).scalar_one()
        got = ledger.stored_audit(s, text)
    assert len(expected) >= 5
    assert got == expected


def test_a_row_changed_since_it_was_read_is_a_conflict(sessions, config):
    """The plain UPDATE keeps the ORM's optimistic lock: a change written by another session since this one read
    the task fails the commit (``Conflict``) and stores nothing of it."""
    cid, t = _debt(sessions, config)
    with pytest.raises(Conflict), unit_of_work(sessions) as s:
        task = s.get_one(Task, t["investigate"])
        svc.acknowledge(sessions, t["investigate"], config=config, actor="other", at=T0 + timedelta(minutes=1))
        apply(s, task, TaskTrigger.ACKNOWLEDGE, at=T0 + timedelta(minutes=2), actor="late")
    with sessions() as s:
        task = s.get_one(Task, t["investigate"])
        assert (task.status, task.assignee, task.version) == ("acknowledged", "other", 2)
        assert task.updated_at == T0 + timedelta(minutes=1)


def test_a_rolled_back_savepoint_takes_its_plain_updates_back(sessions, config):
    """Rows written by a flush inside a savepoint are registered with it: its rollback restores them (the loaded
    objects are expired and read again), as after the ORM's own flush."""
    cid, t = _debt(sessions, config)
    with unit_of_work(sessions) as s:
        task = s.get_one(Task, t["investigate"])
        nested = s.begin_nested()
        apply(s, task, TaskTrigger.ACKNOWLEDGE, at=T0 + timedelta(minutes=2), actor="ops")
        s.flush()
        assert (task.status, task.version) == ("acknowledged", 2)
        assert not s.dirty
        nested.rollback()
        assert (task.status, task.version) == ("open", 1)
        apply(s, task, TaskTrigger.ACKNOWLEDGE, at=T0 + timedelta(minutes=3), actor="ops-2")
    with sessions() as s:
        task = s.get_one(Task, t["investigate"])
        assert (task.status, task.version, task.updated_at) == ("acknowledged", 2, T0 + timedelta(minutes=3))


def test_row_updates_are_plain_statements_on_sqlite_only_for_tasks_and_complaints(sessions, config, engine):
    """SQLite: a status change's UPDATEs are sent as plain statements (no compiled ORM statement), each row once
    with its version bumped; a flush that also changes another kind of row is left to the ORM (PostgreSQL: always
    the ORM)."""
    cid, t = _debt(sessions, config)
    plain: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE"):
            plain.append(("plain " if context.compiled is None else "orm ") + statement.split()[1])

    event.listen(engine, "before_cursor_execute", note)
    try:
        svc.acknowledge(sessions, t["investigate"], config=config, actor="ops-1", at=T0 + timedelta(minutes=5))
        sqlite = engine.dialect.name == "sqlite"
        assert sorted(plain) == (["plain complaint", "plain task"] if sqlite else ["orm complaint", "orm task"])
        plain.clear()
        with unit_of_work(sessions) as s:  # a row of another kind changed too: the ORM writes the flush
            task = s.get_one(Task, t["investigate"])
            department = s.get_one(Department, task.department)
            task.outcome = "noted"
            department.display_name = "renamed"
        assert sorted(plain) == ["orm department", "orm task"]
    finally:
        event.remove(engine, "before_cursor_execute", note)
    with sessions() as s:
        task = s.get_one(Task, t["investigate"])
        assert (task.outcome, task.version) == ("noted", 3)  # created, acknowledged, the outcome


def test_the_audit_rows_read_are_not_used_after_a_flush(sessions, config, engine):
    """The audit rows of a completion's joined read stand for the stored ones only while nothing is flushed: a
    flush since (it writes audit rows) makes the refresh read them again."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the joined read is SQLite's")
    cid, t = _debt(sessions, config)
    with unit_of_work(sessions) as s:
        svc._lock_complaint_of(s, t["investigate"])
        task, _complaint, siblings = load_with_siblings(s, t["investigate"])
        assert siblings is not None and siblings.audit_if_current(s) == siblings.audit
        assert [r[6] for r in siblings.audit].count("create") == len(t)  # its tasks' creation rows
        apply(s, task, TaskTrigger.ACKNOWLEDGE, at=T0 + timedelta(minutes=2), actor="ops")
        assert siblings.audit_if_current(s) == siblings.audit  # pending, not written
        s.flush()
        assert siblings.audit_if_current(s) is None


def test_only_closeloops_sessions_count_flushes_so_a_plain_session_never_reuses_a_read(sessions, config, engine):
    """The flush counter that tells a completion its joined read's audit rows are still current counts the
    flushes of closeloop's sessions only (the hook listens on ``CloseloopSession``): in a plain SQLAlchemy
    session it is None, so a completion there reads the audit rows again instead of trusting an old read, and
    stores what a refresh from the flushed rows stores."""
    from sqlalchemy.orm import Session, sessionmaker

    from closeloop.services.audit import audit_dict
    from closeloop.services.plain_flush import flushes
    from models.tables import Transition

    with Session(engine) as plain:
        assert flushes(plain) is None
    with sessions() as ours:
        before = flushes(ours)
        ours.add(Transition(**audit_dict("improvement", 1, None, None, "proposed", "create", "probe", T0)))
        ours.flush()
        assert before is not None and flushes(ours) == before + 1
        ours.rollback()
    cid, t = _debt(sessions, config)
    plain_sessions = sessionmaker(engine, expire_on_commit=False)
    svc.acknowledge(plain_sessions, t["investigate"], config=config, actor="ops-1", at=T0 + timedelta(minutes=5))
    at = T0 + timedelta(hours=3)
    svc.complete(plain_sessions, t["investigate"], config=config, actor="ops-1", at=at, outcome="done")
    _assert_dues_as_flushed(sessions, config, cid, at)
