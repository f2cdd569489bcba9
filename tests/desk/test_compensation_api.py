"""Issue 14: compensation over the API: the per-complaint cap, approver roles, never one's own."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from closeloop.services.people.tokens import create_token
from models.tables import Compensation, Complaint, Notification

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
    with api.app.sessions() as s:  # the requester as an identity (the member's token, which has no user)
        assert s.get_one(Compensation, entry).requester_key.startswith("token:")
    ok = api.post("manager", f"/compensation/{entry}/approve", {"note": "goodwill case"})
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    assert ok.json()["approver"] == "api:manager (manager)"
    again = api.post("admin", f"/compensation/{entry}/reject", {"note": "too late"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"


def _bearer(api, secret: str, url: str):
    body = {"kind": "refund", "amount": "99999"} if "complaints" in url else {"note": "checked"}
    return api.client.post("/api/v1" + url, json=body,
                           headers={"Authorization": f"Bearer {secret}"})


def test_the_requester_is_a_person_not_a_token_name(api, complaints):
    """Every token of one user is that user: none approves her request; two tokens that share a name (both
    created as "manager", no user) are two people, each may approve the other's request."""
    from closeloop.services.people.users import create_user

    cfg, ses = api.app.config, api.app.sessions
    create_user(ses, cfg, handle="lina", name="Li Na", departments=[], role="manager", actor="t", at=T0)
    li_api, _ = create_token(ses, cfg, role="manager", name="Li Na", user="lina", created_by="t", at=T0)
    li_other, _ = create_token(ses, cfg, role="manager", name="boss", user="lina", created_by="t", at=T0)
    other_manager, _ = create_token(ses, cfg, role="manager", name="manager", created_by="t", at=T0)
    url = f"/complaints/{complaints[0]}/compensation"
    hers, theirs = _bearer(api, li_api, url).json(), api.post("manager", url, {"kind": "refund", "amount": "99999"})
    assert hers["status"] == theirs.json()["status"] == "pending_approval"
    for secret in (li_api, li_other):  # her own tokens, whatever their names
        r = _bearer(api, secret, f"/compensation/{hers['id']}/approve")
        assert r.status_code == 422 and r.json()["error"]["field"] == "approver", r.text
    r = _bearer(api, li_other, f"/compensation/{theirs.json()['id']}/approve")
    assert r.status_code == 200 and r.json()["approver"] == "api:boss (manager)"
    r = _bearer(api, other_manager, f"/compensation/{hers['id']}/approve")  # named like the fixture's "manager"
    assert r.status_code == 200 and r.json()["approver"] == "api:manager (manager)"
    own = api.post("manager", url, {"kind": "refund", "amount": "99999"}).json()
    assert _bearer(api, other_manager, f"/compensation/{own['id']}/reject").status_code == 200


def test_bad_compensation_input_names_the_field(api, complaints):
    url = f"/complaints/{complaints[0]}/compensation"
    for body, field in (({"kind": "refund", "amount": "1.234"}, "amount"), ({"kind": "refund", "amount": 5}, "amount"),
                        ({"kind": "cash", "amount": "5"}, "kind"), ({"kind": "refund", "amount": "5",
                                                                    "currency": "E1R"}, "currency")):
        r = api.post("manager", url, body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    assert api.post("manager", "/complaints/999999/compensation", {"kind": "refund", "amount": "5"}).status_code == 404
    assert api.get("manager", "/compensation").json() == []  # nothing half-written
