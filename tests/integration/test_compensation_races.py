"""Compensation under real concurrency: threads, each with its own session, on a file SQLite database and on
PostgreSQL. Each "read then decide then write" path of the ledger takes turns: the cap holds per complaint
however many entries arrive at once, and an entry is decided once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from closeloop.domain.errors import IllegalTransition
from closeloop.services.work import compensation as svc
from models.tables import Compensation, Complaint

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: how long a thread that read waits for the others to have read too; with the fix they cannot (they wait
#: for its transaction), so the barrier breaks after this and it goes on alone
OVERLAP_S = 1.0


def _complaint(sessions, config, ref):
    (cid,) = intake(sessions, config, T0, [facts(ref, T0, customer_ref=f"cust-{ref}")])
    with sessions() as s:
        c = s.get_one(Complaint, cid)
        return cid, config.model.compensation.cap(c.category, c.severity)


def _after(fn, barrier: threading.Barrier):
    """``fn`` that waits (at most :data:`OVERLAP_S`) after its call for the other threads to reach the same point:
    every thread has read before any writes, unless the reads take turns."""

    def wrapped(*args, **kwargs):
        result = fn(*args, **kwargs)
        try:
            barrier.wait(OVERLAP_S)
        except threading.BrokenBarrierError:
            pass
        return result

    return wrapped


def _run(targets) -> list:
    outcomes: list = []

    def run(target):
        try:
            outcomes.append(target())
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return outcomes


def test_parallel_entries_never_exceed_the_cap_together(sessions, config, monkeypatch):
    """Six entries of 60% of the cap at once on one complaint: exactly one approved by policy."""
    cid, cap = _complaint(sessions, config, "R1")
    part = (cap * Decimal("0.6")).quantize(Decimal("0.01"))
    n = 6
    monkeypatch.setattr(svc, "committed", _after(svc.committed, threading.Barrier(n)))
    outcomes = _run([lambda i=i: svc.add(sessions, cid, config=config, kind="refund", amount=part,
                                         actor=f"agent-{i}", requester=f"token:{i}", at=T0)
                     for i in range(n)])
    assert all(isinstance(o, Compensation) for o in outcomes), outcomes
    assert sorted(o.status for o in outcomes) == ["approved"] + ["pending_approval"] * (n - 1)
    with sessions() as s:
        approved = s.scalars(select(Compensation.amount).where(Compensation.complaint_id == cid,
                                                               Compensation.status == "approved")).all()
    assert sum(approved) == part <= cap


def test_parallel_decisions_decide_an_entry_once(sessions, config, monkeypatch):
    """One approver approves while another rejects the same entry: one decision wins, the other is refused."""
    cid, cap = _complaint(sessions, config, "R2")
    entry = svc.add(sessions, cid, config=config, kind="refund", amount=cap + 1, actor="agent", requester="token:1",
                    at=T0)
    monkeypatch.setattr(svc, "apply", _after(svc.apply, threading.Barrier(2)))
    outcomes = _run([lambda: svc.decide(sessions, entry.id, approve=True, actor="boss-a", by="token:2",
                                        role="manager", at=T0),
                     lambda: svc.decide(sessions, entry.id, approve=False, note="no", actor="boss-b", by="token:3",
                                        role="manager", at=T0)])
    decided = [o for o in outcomes if isinstance(o, Compensation)]
    assert len(decided) == 1 and isinstance(next(o for o in outcomes if o not in decided), IllegalTransition), outcomes
    with sessions() as s:
        row = s.get_one(Compensation, entry.id)
        assert (row.status, row.approver) == (decided[0].status, decided[0].approver)
