"""Issue 14: compensation over the API: the per-complaint cap, approver roles, never one's own."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from closeloop.services.people.tokens import create_token
from models.tables import Complaint, Notification

from .test_search import T0


def _cap(api, cid):
    with api.app.sessions() as s:
        c = s.get(Complaint, cid)
        return api.app.config.model.compensation.cap(c.category, c.severity)


def test_cap_across_entries_and_approval_rules(api, complaints):
    cid = complaints[0]
    cap = _cap(api, cid)
    part = str((cap * Decimal("0.8")).quantize(Decimal("0.01")))
    url = f"/complaints/{cid}/compensation"
    first = api.post("member", url, {"kind": "refund", "amount": part})
    second = api.post("member", url, {"kind": "refund", "amount": part, "note": "again"})
    assert first.status_code == second.status_code == 201, second.text
    assert (first.json()["status"], second.json()["status"]) == ("approved", "pending_approval")
    assert first.json()["approver"] == "policy" and first.json()["amount"] == part
    entry = second.json()["id"]
    with api.app.sessions() as s:
        keys = s.scalars(select(Notification.key).where(Notification.kind == "compensation_pending")).all()
    assert keys == [f"compensation-pending:{entry}"]
    pending = api.get("manager", "/compensation", params={"status": "pending_approval"}).json()
    assert [e["id"] for e in pending] == [entry]
    assert api.post("lead", f"/compensation/{entry}/approve", {}).status_code == 403
    # the same person with a manager token is still the requester
    mine, _ = create_token(api.app.sessions, api.app.config, role="manager", name="member", created_by="t", at=T0)
    own = api.client.post(f"/api/v1/compensation/{entry}/approve", json={},
                          headers={"Authorization": f"Bearer {mine}"})
    assert own.status_code == 422 and own.json()["error"]["field"] == "approver"
    ok = api.post("manager", f"/compensation/{entry}/approve", {"note": "goodwill case"})
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    assert ok.json()["approver"] == "api:manager (manager)"
    again = api.post("admin", f"/compensation/{entry}/reject", {})
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"


def test_bad_compensation_input_names_the_field(api, complaints):
    url = f"/complaints/{complaints[0]}/compensation"
    for body, field in (({"kind": "refund", "amount": "1.234"}, "amount"), ({"kind": "refund", "amount": 5}, "amount"),
                        ({"kind": "cash", "amount": "5"}, "kind"), ({"kind": "refund", "amount": "5",
                                                                    "currency": "E1R"}, "currency")):
        r = api.post("manager", url, body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    assert api.post("manager", "/complaints/999999/compensation", {"kind": "refund", "amount": "5"}).status_code == 404
    assert api.get("manager", "/compensation").json() == []  # nothing half-written
