"""Deciding compensation over the API: a rejection says why (``note``, or ``reason``), as on the dashboard."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from closeloop.services.work import compensation
from models.tables import Transition

from .conftest import T0


def _pending(api, complaints) -> int:
    return compensation.add(api.app.sessions, complaints[0], config=api.app.config, kind="refund", amount="100000",
                            actor="api:agent (member@operations)", requester="token:0", at=T0).id


@pytest.mark.parametrize(("body", "field"), [({}, "note"), ({"note": ""}, "note"), ({"note": "   "}, "note"),
                                           ({"reason": " "}, "reason")])
def test_a_rejection_without_a_reason_is_a_422_naming_the_field(api, complaints, body, field):
    entry = _pending(api, complaints)
    r = api.post("manager", f"/compensation/{entry}/reject", body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert api.get("manager", "/compensation").json()[0]["status"] == "pending_approval"


@pytest.mark.parametrize("key", ["note", "reason"])
def test_a_rejection_takes_its_reason_as_note_or_reason(api, complaints, key):
    entry = _pending(api, complaints)
    r = api.post("manager", f"/compensation/{entry}/reject", {key: "over the budget"})
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    with api.app.sessions() as s:
        reasons = s.scalars(select(Transition.reason).where(Transition.entity == "compensation",
                                                            Transition.entity_id == entry)).all()
    assert reasons == ["over the budget"]


def test_note_and_reason_together_are_refused(api, complaints):
    r = api.post("manager", f"/compensation/{_pending(api, complaints)}/reject", {"note": "a", "reason": "b"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason", r.text


def test_an_approval_still_needs_no_note(api, complaints):
    r = api.post("manager", f"/compensation/{_pending(api, complaints)}/approve", {})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text


@pytest.mark.parametrize("amount", ["1e3", "NaN", "inf", "-5", "1_000"])
def test_an_amount_that_is_not_a_plain_decimal_is_a_422_naming_amount(api, complaints, amount):
    r = api.post("manager", f"/complaints/{complaints[0]}/compensation", {"kind": "refund", "amount": amount})
    assert r.status_code == 422 and r.json()["error"]["field"] == "amount", r.text
