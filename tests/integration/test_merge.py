"""CASES.md K5 (merge/duplicates) and K7 (concurrency) with their right values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from closeloop.domain.complaint import OPEN_STATES, ComplaintStatus, ComplaintTrigger
from closeloop.domain.complaint import transition as complaint_transition
from closeloop.domain.errors import Conflict, IllegalTransition, MergeRejected
from closeloop.services.uow import translate_conflicts
from closeloop.services.work import complaints as svc
from closeloop.services.work import tasks as task_svc
from models.tables import Complaint, Message, Task, Transition

from .helpers import facts, intake

CST = timezone(timedelta(hours=8))
MON_0900 = datetime(2026, 3, 9, 9, 0, tzinfo=CST)


def _two(sessions, config, product="Debt collection"):
    a, b = intake(sessions, config, MON_0900, [
        facts("A", MON_0900, customer_ref="cust", product=product, text="A: first message"),
        facts("B", MON_0900, customer_ref="cust", product=product, text="B: same problem, refund please"),
    ])
    return a, b


def test_c17_merged_complaint_is_terminal_and_never_escalates(sessions):
    from tests.integration.test_sla_cases import CN, cfg

    config = cfg(CN, "[sla.customer]\nP3 = { resolve = 17 }\nP1 = { resolve = 3 }\n")
    a, b = intake(sessions, config, MON_0900, [
        facts("A", MON_0900, customer_ref="cust", text="A: first message"),
        facts("B", MON_0900, customer_ref="cust", text="B: same problem; my lawyer called the press"),
    ])
    a_due = datetime(2026, 3, 10, 17, 0, tzinfo=CST)
    with sessions() as s:
        assert s.get(Complaint, a).due_at == a_due
        assert (s.get(Complaint, b).severity, s.get(Complaint, b).due_at) == ("P1", datetime(2026, 3, 9, 12, 0,
                                                                                                 tzinfo=CST))
    svc.merge(sessions, b, a, config=config, actor="agent-x", at=datetime(2026, 3, 9, 10, 0, tzinfo=CST),
              reason="same case")
    scan_at = datetime(2026, 3, 9, 13, 0, tzinfo=CST)
    with sessions() as s:
        B, A = s.get(Complaint, b), s.get(Complaint, a)
        assert B.status == "merged" and B.merged_into_id == a and B.due_at is None
        # the overdue scan the sweep uses finds nothing: B is terminal, A is not due yet
        overdue = s.scalar(select(func.count()).select_from(Complaint).where(
            Complaint.due_at < scan_at, Complaint.status.in_(OPEN_STATES)))
        assert overdue == 0
        assert s.scalar(select(func.count()).select_from(Task).where(Task.complaint_id == b)) == 0
        assert A.due_at == a_due.astimezone(UTC)  # unchanged
        # B's duplicate task was cancelled (A has the same one); none is active on B's behalf
        moved = s.scalars(select(Task).where(Task.complaint_id == a)).all()
        active = [t for t in moved if t.status in ("open", "blocked", "acknowledged", "in_progress")]
        assert len(active) == 1 and len(moved) == 2
        assert s.scalar(select(func.count()).select_from(Task).where(
            Task.due_at < scan_at, Task.complaint_id.in_((a, b)))) == 0
    view = svc.show(sessions, a)
    bodies = [e.text for e in view.timeline if e.kind.startswith("message")]
    assert "B: same problem; my lawyer called the press" in bodies and "A: first message" in bodies
    assert any(e.complaint_id == b and "(merge)" in e.text for e in view.timeline)
    assert view.merged_from == [b]
    with pytest.raises(IllegalTransition, match="merged"):  # terminal: it takes no trigger any more
        complaint_transition(ComplaintStatus.MERGED, ComplaintTrigger.REOPEN, at=scan_at, actor="x")


def test_merge_chains_resolve_to_one_root_and_cycles_are_refused(sessions, config):
    ids = intake(sessions, config, MON_0900, [facts(f"K{i}", MON_0900 + timedelta(minutes=i)) for i in range(4)])
    c0, c1, c2, c3 = ids
    at = MON_0900 + timedelta(hours=1)
    svc.merge(sessions, c1, c0, config=config, reason="same", actor="x", at=at)
    svc.merge(sessions, c2, c1, config=config, reason="same", actor="x", at=at)  # c1 is merged: resolves to its root c0
    with sessions() as s:
        assert s.get(Complaint, c2).merged_into_id == c0
    svc.merge(sessions, c0, c3, config=config, reason="same", actor="x", at=at)  # the root itself is merged away
    with sessions() as s:
        for cid in (c0, c1, c2):
            assert s.get(Complaint, cid).merged_into_id == c3  # every chain has length one
        assert s.get(Complaint, c3).merged_into_id is None
    with pytest.raises(MergeRejected, match=f"complaint {c1} is already merged into {c3}"):
        svc.merge(sessions, c3, c1, config=config, reason="same", actor="x", at=at)       # c1's root is c3
    with pytest.raises(MergeRejected, match="already merged"):
        svc.merge(sessions, c1, c3, config=config, reason="same", actor="x", at=at)


def test_c26_opposite_merges_at_the_same_time_one_wins(sessions, config):
    a, b = _two(sessions, config)
    at = MON_0900 + timedelta(hours=1)
    s1, s2 = sessions(), sessions()
    try:
        # both agents have read both complaints (held, so each session keeps what it read)
        seen = [(s.get(Complaint, a), s.get(Complaint, b)) for s in (s1, s2)]
        assert all(c.version == 1 for pair in seen for c in pair)
        svc.merge_in_session(s1, a, b, config=config, actor="agent-x", at=at, reason="same")
        s1.commit()
        with pytest.raises(Conflict), translate_conflicts(s2):
            svc.merge_in_session(s2, b, a, config=config, actor="agent-y", at=at, reason="same")
            s2.commit()
    finally:
        s1.close()
        s2.close()
    with pytest.raises(MergeRejected):  # a later attempt that reads fresh data is refused too
        svc.merge(sessions, b, a, config=config, reason="same", actor="agent-y", at=at)
    with sessions() as s:
        rows = {c.id: c for c in s.scalars(select(Complaint))}
        open_ = [c for c in rows.values() if c.status != "merged"]
        assert len(open_) == 1 and open_[0].id == b
        assert rows[a].merged_into_id == b and rows[b].merged_into_id is None
        merges = s.scalar(select(func.count()).select_from(Transition).where(Transition.trigger == "merge"))
        assert merges == 1


def test_c26_two_agents_finish_the_same_complaint_at_once_exactly_one_resolves(sessions, config):
    (cid,) = intake(sessions, config, MON_0900, [facts("Z", MON_0900, text="x")])
    with sessions() as s:
        (tid,) = s.scalars(select(Task.id).where(Task.complaint_id == cid)).all()
    task_svc.start(sessions, tid, config=config, actor="agent", at=MON_0900)
    at = MON_0900 + timedelta(hours=2)
    s1, s2 = sessions(), sessions()
    try:
        seen = [(s.get(Task, tid), s.get(Complaint, cid)) for s in (s1, s2)]
        assert all(t.status == "in_progress" for t, _ in seen)
        task_svc.complete_in_session(s1, tid, config=config, actor="agent-x", at=at, outcome="refunded",
                                     root_cause="policy_rule")
        s1.commit()
        with pytest.raises(Conflict), translate_conflicts(s2):
            task_svc.complete_in_session(s2, tid, config=config, actor="agent-y", at=at, outcome="refunded again",
                                         root_cause="policy_rule")
            s2.commit()
    finally:
        s1.close()
        s2.close()
    with sessions() as s:
        assert s.get(Complaint, cid).status == "resolved"
        resolves = s.scalar(select(func.count()).select_from(Transition).where(
            Transition.complaint_id == cid, Transition.trigger == "resolve"))
        assert resolves == 1
        assert s.get(Task, tid).outcome == "refunded"


def test_messages_keep_their_origin_after_a_merge(sessions, config):
    a, b = _two(sessions, config)
    svc.merge(sessions, b, a, config=config, reason="same", actor="x", at=MON_0900 + timedelta(hours=1))
    with sessions() as s:
        msgs = s.scalars(select(Message).order_by(Message.id)).all()
        assert [(m.complaint_id, m.original_complaint_id) for m in msgs] == [(a, a), (a, b)]


def test_later_inbound_message_to_a_merged_complaint_lands_on_the_root(sessions, config):
    from closeloop.services.work.messages import add_message

    a, b = _two(sessions, config)
    svc.merge(sessions, b, a, config=config, reason="same", actor="x", at=MON_0900 + timedelta(hours=1))
    msg = add_message(sessions, b, config=config, direction="inbound", body="any news?", author="customer",
                      channel="web", at=MON_0900 + timedelta(hours=2))
    assert (msg.complaint_id, msg.original_complaint_id) == (a, b)
    with sessions() as s:
        assert s.get(Complaint, b).status == "merged"  # the merged record stays terminal
    outbound = add_message(sessions, a, config=config, direction="outbound", body="【回访】您的投诉已处理完毕",
                           author="system", at=MON_0900 + timedelta(hours=3))
    assert outbound.complaint_id == a
    with sessions() as s:
        assert s.get(Complaint, a).status == "triaged"  # an outbound message changes nothing


def test_threads_racing_opposite_merges_leave_exactly_one_open(sessions, config):
    """Two real transactions started together (threads): one merge commits, the other fails cleanly."""
    import threading

    a, b = _two(sessions, config)
    at = MON_0900 + timedelta(hours=1)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def agent(dup, into):
        s = sessions()
        try:
            held = (s.get(Complaint, dup), s.get(Complaint, into))  # noqa: F841 - both read first
            barrier.wait()
            with translate_conflicts(s):
                svc.merge_in_session(s, dup, into, config=config, reason="same", actor=f"agent-{dup}", at=at)
                s.commit()
            outcomes.append("merged")
        except (Conflict, MergeRejected) as exc:
            outcomes.append(type(exc).__name__)
        except Exception:
            barrier.abort()  # the other thread stops waiting (BrokenBarrierError) instead of hanging
            raise
        finally:
            s.close()

    threads = [threading.Thread(target=agent, args=(a, b)), threading.Thread(target=agent, args=(b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2 and outcomes.count("merged") == 1, outcomes
    with sessions() as s:
        statuses = sorted(c.status for c in s.scalars(select(Complaint)))
        assert statuses.count("merged") == 1
        survivor = s.scalar(select(Complaint).where(Complaint.status != "merged"))
        merged = s.scalar(select(Complaint).where(Complaint.status == "merged"))
        assert merged.merged_into_id == survivor.id and survivor.merged_into_id is None


def test_a_moved_task_keeps_its_history_so_its_clocks_and_pages_do_not_restart(sessions, config):
    """A merge moves the duplicate's tasks; their audit rows stay filed under the duplicate. The survivor's clocks
    were computed from no history for them: an acknowledged, paused task got running due instants as if it had
    just opened, and the sweep paged its department for an acknowledgement."""
    from closeloop.services.engine.sweep import sweep
    from models.tables import Notification

    (a,) = intake(sessions, config, MON_0900, [facts("A", MON_0900, product="Mortgage", category="Mortgage")])
    (b,) = intake(sessions, config, MON_0900,
                  [facts("B", MON_0900, product="Debt collection", category="Debt collection")])
    with sessions() as s:
        moved = s.scalar(select(Task.id).where(Task.complaint_id == b, Task.department == "operations"))
    task_svc.acknowledge(sessions, moved, config=config, actor="ops", at=MON_0900 + timedelta(hours=1))
    task_svc.pause(sessions, moved, config=config, actor="ops", at=MON_0900 + timedelta(hours=2),
                   reason="waiting for the bank", until=MON_0900 + timedelta(days=3))
    svc.merge(sessions, b, a, config=config, reason="same", actor="lead", at=MON_0900 + timedelta(hours=3))
    with sessions() as s:
        t = s.get_one(Task, moved)
        assert (t.complaint_id, t.status, t.ack_due_at, t.due_at) == (a, "waiting", None, None)
    sweep(sessions, config, MON_0900 + timedelta(hours=30))
    with sessions() as s:
        pages = s.scalars(select(Notification.key).where(Notification.task_id == moved,
                                                         Notification.kind == "ack_timeout")).all()
    assert pages == []
    task_svc.resume(sessions, moved, config=config, actor="ops", at=MON_0900 + timedelta(hours=31))
    with sessions() as s:  # acknowledged before the merge: only its resolve clock runs again, nothing to acknowledge
        t = s.get_one(Task, moved)
        assert (t.status, t.ack_due_at) == ("in_progress", None) and t.due_at is not None
