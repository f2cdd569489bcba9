"""The cheaper reads of each operation (issues 16 and 17) give what the reads they replace gave, on SQLite and
PostgreSQL: the user a take-up names, the complaints a History takes from the session, an audit row's data
decoded when read, and the customer step's milestone rows through the partial index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select

from closeloop.domain.customer import ContactPoint, CustomerProfile
from closeloop.services.customers.milestones import LOOKBACK, _changes
from closeloop.services.engine.ledger import History
from closeloop.services.people.users import match_assignee
from closeloop.services.work import tasks as task_svc
from models.tables import Complaint, Task, Transition, User

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York


def _users(sessions, *pairs: tuple[str, str]) -> None:
    with sessions.begin() as s:
        for handle, name in pairs:
            s.add(User(handle=handle, name=name, departments=["service"], role="member", created_at=T0,
                       created_by="t"))


def test_a_handle_wins_over_a_name_and_a_name_must_name_one_user(sessions):
    _users(sessions, ("sam", "Kim"), ("kim", "Sam"), ("max.a", "Max"), ("max.b", "Max"), ("jo", "Jo Ann"))
    with sessions() as s:
        def who(text):
            user = match_assignee(s, text)
            return user.handle if user is not None else None

        assert who("sam") == "sam"  # the handle, though "kim" is named Sam
        assert who("KIM") == "kim"
        assert who("jo ann") == "jo"  # a name (not handle-shaped): its one user
        assert who("max") is None  # handle-shaped, no such handle, two users of that name
        assert who("nobody") is None


def test_history_takes_the_sessions_complaints_and_reads_expired_ones_again(sessions, config):
    (cid,) = intake(sessions, config, T0, [facts("H-1", T0)])
    with sessions() as s:
        c = s.get_one(Complaint, cid)
        c.severity = "P1"  # unflushed: the History sees the session's row
        h = History.load(s, [cid])
        assert h.complaints[cid] is c and h.complaints[cid].severity == "P1"
        s.rollback()  # expires it: the History reads the stored row again
        assert History.load(s, [cid]).complaints[cid].severity != "P1"
        assert History.load(s, [cid + 1000]).complaints == {}  # a missing id is left out, as before


def test_audit_row_data_is_decoded_when_read(sessions, config):
    (cid,) = intake(sessions, config, T0, [facts("H-2", T0)])
    with sessions() as s:
        tid = s.scalars(select(Task.id).where(Task.complaint_id == cid).order_by(Task.id)).first()
    until = T0 + timedelta(days=3)
    task_svc.acknowledge(sessions, tid, config=config, actor="t", at=T0 + timedelta(minutes=30))
    task_svc.pause(sessions, tid, config=config, reason="parts ordered", actor="t", at=T0 + timedelta(hours=1),
                   until=until)
    with sessions() as s:
        changes = History.load(s, [cid]).changes_of[("task", tid)]
    assert changes[-1].trigger == "pause" and changes[-1].data == {"until": until.isoformat(), "system_reason": None}
    assert changes[0].trigger == "create" and changes[0].data["department"]
    assert changes[1].trigger == "acknowledge" and changes[1].data == {}


def _audit(s, cid, entity, trigger, at):
    s.add(Transition(entity=entity, entity_id=cid, complaint_id=cid, from_state="x", to_state="y", trigger=trigger,
                     actor="t", at=at, data={}))


def test_the_milestone_rows_of_the_lookback_come_through_the_partial_index(sessions, engine, config):
    customer = CustomerProfile("Ann", "en", "America/New_York", (ContactPoint("email", "a@example.com", consent=True),))
    (cid,) = intake(sessions, config, T0, [facts("M-1", T0, customer_ref="m1", customer=customer)])
    now = T0 + timedelta(days=20)
    with sessions.begin() as s:
        _audit(s, cid, "complaint", "resolve", now - timedelta(days=1))  # a milestone: in
        _audit(s, cid, "complaint", "resolve", now - LOOKBACK - timedelta(hours=1))  # too old
        _audit(s, cid, "task", "reopen", now - timedelta(hours=2))  # in the index, not a milestone
        _audit(s, cid, "task", "transfer", now - timedelta(hours=3))  # a milestone: in
        _audit(s, cid, "complaint", "transfer", now - timedelta(hours=4))  # no complaint trigger of that name
    seen: list[tuple[str, object]] = []

    def _capture(conn, cursor, statement, params, context, executemany):
        if "FROM transition JOIN complaint" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", _capture)
    try:
        with sessions() as s:
            rows = _changes(s, set(config.model.customers.milestones), now, LOOKBACK)
    finally:
        event.remove(engine, "before_cursor_execute", _capture)
    assert sorted((r.entity, r.trigger) for r in rows if r.complaint_id == cid) == [("complaint", "resolve"),
                                                                                   ("task", "transfer")]
    if engine.dialect.name == "sqlite":
        ((statement, params),) = seen
        with engine.connect() as c:
            plan = " / ".join(str(r[-1]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
        assert "USING INDEX ix_transition_milestone" in plan, plan
