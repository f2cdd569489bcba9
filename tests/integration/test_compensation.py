"""The compensation ledger (issue 5 item 6): caps per category and severity, manager approval above."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from closeloop.domain.errors import IllegalTransition, InvalidInput
from closeloop.services.work import compensation as svc

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_within_cap_is_approved_above_waits_for_another_manager(sessions, config):
    (cid,) = intake(sessions, config, T0, [facts("K1", T0, customer_ref="cust-7")])
    with sessions() as s:
        from models.tables import Complaint

        c = s.get(Complaint, cid)
    cap = config.model.compensation.cap(c.category, c.severity)
    ok = svc.add(sessions, cid, config=config, kind="refund", amount="19.99", actor="agent", at=T0)
    assert (ok.status, ok.approver, ok.amount, ok.cap) == ("approved", "policy", Decimal("19.99"), cap)
    big = svc.add(sessions, cid, config=config, kind="goodwill", amount=str(cap - Decimal("19.99") + 1),
                  actor="agent", requester="user:1", at=T0)  # over the cap only together with the first
    assert big.status == "pending_approval" and big.approver is None and big.requester_key == "user:1"
    with pytest.raises(InvalidInput, match="approver"):
        svc.decide(sessions, big.id, approve=True, actor="agent", by="user:1", role="manager", at=T0)
    done = svc.decide(sessions, big.id, approve=True, actor="ops-manager", by="user:2", role="manager",
                      at=T0 + timedelta(hours=1))
    assert (done.status, done.approver) == ("approved", "ops-manager")
    with pytest.raises(IllegalTransition, match="approved"):
        svc.decide(sessions, big.id, approve=False, note="no", actor="ops-manager", by="user:2", role="manager", at=T0)
    other_currency = svc.add(sessions, cid, config=config, kind="refund", amount="1", currency="eur", actor="a",
                             requester="token:9", at=T0)
    assert other_currency.status == "pending_approval" and other_currency.currency == "EUR"


@pytest.mark.parametrize("amount,problem", [(1.5, "float"), ("0", "positive"), ("1.234", "two decimal"),
                                            ("abc", "not a plain decimal"), ("1e3", "not a plain decimal"),
                                            ("NaN", "not a plain decimal"), ("inf", "not a plain decimal"),
                                            ("-5", "not a plain decimal"), ("1_000", "not a plain decimal")])
def test_bad_amounts_name_the_field(sessions, config, amount, problem):
    (cid,) = intake(sessions, config, T0, [facts("K2", T0)])
    with pytest.raises(InvalidInput, match=f"amount.*{problem}"):
        svc.add(sessions, cid, config=config, kind="refund", amount=amount, actor="a", at=T0)


def test_triage_sees_the_customers_earlier_compensation(sessions, config):
    first, other = intake(sessions, config, T0, [facts("K3", T0, customer_ref="cust-9"),
                                                 facts("K4", T0, customer_ref="cust-1")])
    svc.add(sessions, first, config=config, kind="voucher", amount="25", actor="a", at=T0)
    svc.add(sessions, other, config=config, kind="voucher", amount="5", actor="a", at=T0)
    (second,) = intake(sessions, config, T0 + timedelta(days=30),
                       [facts("K5", T0 + timedelta(days=30), customer_ref="cust-9")])
    with sessions() as s:
        history = svc.customer_history(s, second)
        assert [(h.complaint_id, h.amount) for h in history] == [(first, Decimal("25.00"))]
        assert svc.customer_history(s, first) == []  # its own entries are not "earlier"
    with pytest.raises(InvalidInput, match="kind"):
        svc.add(sessions, first, config=config, kind="cash-in-envelope", amount="1", actor="a", at=T0)


def _cid_and_cap(sessions, config, ref):
    from models.tables import Complaint

    (cid,) = intake(sessions, config, T0, [facts(ref, T0, customer_ref=f"cust-{ref}")])
    with sessions() as s:
        c = s.get(Complaint, cid)
        return cid, config.model.compensation.cap(c.category, c.severity)


def test_the_cap_holds_across_a_complaints_entries(sessions, config):
    """Issue 14: two refunds of 80% of the cap: the first is approved, the second waits (it was approved)."""
    cid, cap = _cid_and_cap(sessions, config, "K6")
    part = (cap * Decimal("0.8")).quantize(Decimal("0.01"))
    first = svc.add(sessions, cid, config=config, kind="refund", amount=part, actor="agent", at=T0)
    second = svc.add(sessions, cid, config=config, kind="refund", amount=part, actor="agent", requester="token:1",
                     at=T0)
    assert (first.status, second.status) == ("approved", "pending_approval")
    rest = svc.add(sessions, cid, config=config, kind="voucher", amount="0.01", actor="agent", requester="token:1",
                   at=T0)
    assert rest.status == "pending_approval"  # the pending one counts too: it may still be approved
    svc.decide(sessions, second.id, approve=False, note="no", actor="boss", by="token:2", role="manager", at=T0)
    svc.decide(sessions, rest.id, approve=False, note="no", actor="boss", by="token:2", role="manager", at=T0)
    fill = svc.add(sessions, cid, config=config, kind="voucher", amount=cap - part, actor="agent", at=T0)
    assert fill.status == "approved"  # rejected entries do not count: exactly up to the cap
    with sessions() as s:
        assert svc.committed(s, cid, config.model.compensation.currency) == cap
    other = svc.add(sessions, cid, config=config, kind="refund", amount="1", currency="EUR", actor="agent",
                    requester="token:1", at=T0)
    assert other.status == "pending_approval"  # another currency has no cap


def test_only_approver_roles_decide_and_never_the_requester_whatever_the_name(sessions, config):
    """The requester is an identity (user, else token), not a display name: another name does not make the
    requester someone else, and the same name does not make someone else the requester."""
    from closeloop.domain.errors import NotPermitted

    cid, cap = _cid_and_cap(sessions, config, "K7")
    e = svc.add(sessions, cid, config=config, kind="refund", amount=cap + 1, actor="cli:root", requester="user:7",
                at=T0)
    for role in ("member", "lead", "random-intern"):
        with pytest.raises(NotPermitted, match="may not approve"):
            svc.decide(sessions, e.id, approve=True, actor="api:boss (manager)", by="user:8", role=role, at=T0)
    for name in ("cli:Li Na (manager)", "web:someone else (admin)", "policy"):  # her own identity, any name
        with pytest.raises(InvalidInput, match="approver"):
            svc.decide(sessions, e.id, approve=True, actor=name, by="user:7", role="manager", at=T0)
        with pytest.raises(InvalidInput, match="approver"):
            svc.decide(sessions, e.id, approve=False, note="no", actor=name, by="user:7", role="manager", at=T0)
    done = svc.decide(sessions, e.id, approve=True, actor="cli:root", by="token:7", role="admin", at=T0)
    assert (done.status, done.approver) == ("approved", "cli:root")  # same name, another person (token 7)


def test_above_the_cap_needs_an_identified_requester(sessions, config):
    """Without an identity (the CLI without a token) nobody could be shown not to be the requester: an entry
    above the cap is refused, one within it is approved by policy (no person decides)."""
    from sqlalchemy import select

    from models.tables import Compensation

    cid, cap = _cid_and_cap(sessions, config, "K9")
    with pytest.raises(InvalidInput, match="requester"):
        svc.add(sessions, cid, config=config, kind="refund", amount=cap + 1, actor="cli:root", at=T0)
    ok = svc.add(sessions, cid, config=config, kind="refund", amount=cap, actor="cli:root", at=T0)
    assert (ok.status, ok.requester_key) == ("approved", None)
    with sessions() as s:
        assert [r.id for r in s.scalars(select(Compensation))] == [ok.id]  # nothing of the refused one


def test_an_entry_recorded_before_identities_is_rejected_not_approved(sessions, config):
    """A pending entry without a requester identity (recorded before migration 0016): approving it is refused
    (naming ``requester``), rejecting it is allowed."""
    from models.tables import Compensation

    cid, cap = _cid_and_cap(sessions, config, "K10")
    legacy = [svc.add(sessions, cid, config=config, kind="refund", amount=cap + 1, actor="cli:root",
                      requester="token:1", at=T0) for _ in range(2)]
    with sessions.begin() as s:
        for e in legacy:
            s.get_one(Compensation, e.id).requester_key = None
    with pytest.raises(InvalidInput, match="requester"):
        svc.decide(sessions, legacy[0].id, approve=True, actor="boss", by="user:2", role="manager", at=T0)
    assert svc.decide(sessions, legacy[1].id, approve=False, note="no", actor="boss", by="user:2", role="manager",
                      at=T0).status == "rejected"


def test_the_approver_is_notified_once_through_the_outbox(sessions, config):
    from sqlalchemy import select

    from closeloop.services.engine.sweep import sweep
    from models.tables import Notification, Outbox

    cid, cap = _cid_and_cap(sessions, config, "K8")
    svc.add(sessions, cid, config=config, kind="refund", amount="1", actor="agent", at=T0)  # within: no notice
    e = svc.add(sessions, cid, config=config, kind="refund", amount=cap, actor="agent", requester="token:1", at=T0)
    with sessions() as s:
        notes = s.scalars(select(Notification).where(Notification.kind == "compensation_pending")).all()
        assert [(n.key, n.role) for n in notes] == [(f"compensation-pending:{e.id}", "operations_manager")]
        release = notes[0].release_at
    sweep(sessions, config, now=max(release, T0) + timedelta(minutes=1))
    with sessions() as s:
        bodies = [o.body for o in s.scalars(select(Outbox)).all()]
    assert any(f"compensation {e.id} on complaint {cid} waits for approval" in b for b in bodies), bodies


def test_a_decided_entrys_approval_notice_is_not_sent(sessions, config):
    """The approval notice is held until the operations manager's working hours; an entry approved or rejected
    meanwhile needs no approval: its notice is dropped (no longer waiting), a still pending one is sent."""
    from sqlalchemy import select

    from closeloop.domain.notices import DropReason, Subject, still_applies
    from closeloop.services.engine.sweep import sweep
    from models.tables import Notification, Outbox

    assert still_applies("compensation_pending", Subject(entry_status="pending_approval")) is None
    for decided in ("approved", "rejected"):
        assert still_applies("compensation_pending", Subject(entry_status=decided)) == \
            DropReason.NO_LONGER_WAITING
    cid, cap = _cid_and_cap(sessions, config, "K11")
    approved, rejected, waiting = (svc.add(sessions, cid, config=config, kind="refund", amount=cap + 1, actor="agent",
                                           requester="token:1", at=T0) for _ in range(3))
    svc.decide(sessions, approved.id, approve=True, actor="boss", by="token:2", role="manager", at=T0)
    svc.decide(sessions, rejected.id, approve=False, note="no", actor="boss", by="token:2", role="manager", at=T0)
    with sessions() as s:
        release = max(s.scalars(select(Notification.release_at)).all())
    sweep(sessions, config, now=max(release, T0) + timedelta(minutes=1))
    with sessions() as s:
        notes = {n.key: (n.status, n.dropped_reason) for n in s.scalars(select(Notification))}
        bodies = " ".join(o.body for o in s.scalars(select(Outbox)).all())
    assert notes == {f"compensation-pending:{approved.id}": ("dropped", "no_longer_waiting"),
                     f"compensation-pending:{rejected.id}": ("dropped", "no_longer_waiting"),
                     f"compensation-pending:{waiting.id}": ("packed", None)}
    assert f"compensation {waiting.id} on complaint {cid} waits" in bodies
    assert f"compensation {approved.id} " not in bodies and f"compensation {rejected.id} " not in bodies


@pytest.mark.parametrize("note", ["", "   \n"])
def test_a_rejection_needs_a_note_in_the_service_itself(sessions, config, note):
    """The API and the CLI asked for a note; the service did not, so any other caller rejected silently."""
    cid, cap = _cid_and_cap(sessions, config, "K-note")
    e = svc.add(sessions, cid, config=config, kind="refund", amount=cap + 1, actor="a", requester="token:1", at=T0)
    with pytest.raises(InvalidInput) as caught:
        svc.decide(sessions, e.id, approve=False, actor="boss", by="user:2", role="manager", at=T0, note=note)
    assert caught.value.field == "note"
    with pytest.raises(InvalidInput) as caught:  # one limit: the API's
        svc.decide(sessions, e.id, approve=False, actor="boss", by="user:2", role="manager", at=T0,
                   note="x" * (svc.NOTE_MAX_CHARS + 1))
    assert caught.value.field == "note"
    long = "why " * (svc.NOTE_MAX_CHARS // 4)
    done = svc.decide(sessions, e.id, approve=False, actor="boss", by="user:2", role="manager", at=T0, note=long)
    assert done.status == "rejected"
