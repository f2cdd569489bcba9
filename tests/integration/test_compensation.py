"""The compensation ledger (issue 5 item 6): caps per category and severity, manager approval above."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from closeloop.domain.errors import IllegalTransition, InvalidInput
from closeloop.services import compensation as svc

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def test_within_cap_is_approved_above_waits_for_another_manager(sessions, config):
    (cid,) = intake(sessions, config, T0, [facts("K1", T0, customer_ref="cust-7")])
    with sessions() as s:
        from models.tables import Complaint

        c = s.get(Complaint, cid)
    cap = config.model.compensation.cap(c.category, c.severity)
    ok = svc.add(sessions, cid, config=config, kind="refund", amount="19.99", actor="agent", at=T0)
    assert (ok.status, ok.approver, ok.amount, ok.cap) == ("approved", "policy", Decimal("19.99"), cap)
    big = svc.add(sessions, cid, config=config, kind="goodwill", amount=str(cap + 1), actor="agent", at=T0)
    assert big.status == "pending_approval" and big.approver is None
    with pytest.raises(InvalidInput, match="approver"):
        svc.decide(sessions, big.id, approve=True, actor="agent", at=T0)
    done = svc.decide(sessions, big.id, approve=True, actor="ops-manager", at=T0 + timedelta(hours=1))
    assert (done.status, done.approver) == ("approved", "ops-manager")
    with pytest.raises(IllegalTransition, match="approved"):
        svc.decide(sessions, big.id, approve=False, actor="ops-manager", at=T0)
    other_currency = svc.add(sessions, cid, config=config, kind="refund", amount="1", currency="eur", actor="a",
                             at=T0)
    assert other_currency.status == "pending_approval" and other_currency.currency == "EUR"


@pytest.mark.parametrize("amount,problem", [(1.5, "float"), ("0", "positive"), ("1.234", "two decimal"),
                                            ("abc", "not a number")])
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
