"""Issue 13: the API intake takes the customer's details and contact points (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from models.tables import Customer, CustomerContact, Message, Outbox, Promise, Transition
from tests.integration.helpers import facts, intake

from .conftest import T0

BODY = {"external_ref": "API-C1", "received_at": "2026-03-02T01:00:00Z", "category": "billing",
        "customer_ref": "cust-api",
        "customer": {"display_name": "<script>alert(1)</script>", "language": "zh", "time_zone": "Asia/Shanghai",
                     "contacts": [{"kind": "email", "value": "Li@Example.com", "consent": True, "verified": True},
                                  {"kind": "chat", "value": "@li", "consent": True}]}}


def test_api_intake_stores_contacts_and_queues_the_acknowledgement(api):
    r = api.post("manager", "/complaints", json=BODY)
    assert r.status_code == 201, r.text
    cid = r.json()["complaint"]["id"]
    assert "customer" not in r.json()["complaint"]  # personal data is not echoed in the complaint
    with api.app.sessions() as s:
        cust = s.scalar(select(Customer).where(Customer.ref == "cust-api"))
        assert cust.display_name == "<script>alert(1)</script>" and cust.language == "zh"
        assert {(c.kind, c.value, c.verified) for c in s.scalars(select(CustomerContact))} == {
            ("email", "li@example.com", True), ("chat", "@li", False)}
        ack = s.scalar(select(Outbox).where(Outbox.idempotency_key == f"customer:acknowledged:{cid}"))
        assert ack.target == "li@example.com" and "&lt;script&gt;" in ack.payload["html"]
        assert "<script>" not in ack.payload["html"]
        for data, reason in s.execute(select(Transition.data, Transition.reason)):
            assert "example.com" not in f"{data}{reason}" and "script" not in f"{data}{reason}"
    again = api.post("manager", "/complaints", json=BODY)
    assert again.status_code == 200
    with api.app.sessions() as s:
        assert len(s.scalars(select(Outbox)).all()) == 1


def test_api_intake_refuses_bad_customer_details_naming_the_field(api):
    bad_mail = {**BODY, "external_ref": "API-C2",
                "customer": {"contacts": [{"kind": "email", "value": "nobody", "consent": True}]}}
    r = api.post("manager", "/complaints", json=bad_mail)
    assert r.status_code == 422 and "contacts.email" in r.text
    bad_zone = {**BODY, "external_ref": "API-C3", "customer": {"time_zone": "Nowhere/Land"}}
    r = api.post("manager", "/complaints", json=bad_zone)
    assert r.status_code == 422 and "customer.time_zone" in r.text
    no_ref = {**BODY, "external_ref": "API-C4", "customer_ref": None}
    r = api.post("manager", "/complaints", json=no_ref)
    assert r.status_code == 422 and "customer_ref" in r.text
    bad_kind = {**BODY, "external_ref": "API-C5", "customer": {"contacts": [{"kind": "fax", "value": "1"}]}}
    assert api.post("manager", "/complaints", json=bad_kind).status_code == 422
    with api.app.sessions() as s:
        assert s.scalars(select(Customer)).all() == []


def test_promises_through_the_api_made_listed_kept_with_a_contact(api, complaints):
    ops = complaints[0]  # a credit-reporting complaint: operations and service hold tasks
    r = api.post("member", f"/complaints/{ops}/promises",
                 json={"department": "operations", "kind": "call_back", "business_hours": 8, "person": "Wang Li"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    (lending,) = intake(api.app.sessions, api.app.config, T0, [facts("PD-1", T0, product="Payday loan",
                                                                     category="Payday loan")])
    assert api.post("member", f"/complaints/{lending}/promises",
                    json={"department": "operations", "kind": "refund", "business_hours": 8}).status_code == 403
    bad = api.post("member", f"/complaints/{ops}/promises", json={"department": "operations", "kind": "refund"})
    assert bad.status_code == 422 and "due" in bad.text
    listed = api.get("member", f"/complaints/{ops}/promises").json()
    assert [(p["id"], p["status"], p["person"]) for p in listed] == [(pid, "open", "Wang Li")]
    none = api.post("member", f"/promises/{pid}/keep", json={})
    assert none.status_code == 422 and "evidence" in none.text
    kept = api.post("member", f"/promises/{pid}/keep", json={"contact": "called back, refund confirmed"})
    assert kept.status_code == 200 and kept.json()["status"] == "kept" and kept.json()["kept_by_message_id"]
    assert api.post("member", f"/promises/{pid}/keep", json={"contact": "again"}).status_code == 409


def test_keeping_a_promise_takes_the_contact_channels_the_cli_takes_and_names_the_field_otherwise(api, complaints):
    """``channel`` was free text (any 64 characters stored on the contact message); it is now the CLI's
    ``promises keep --channel`` choice (:class:`ContactKind`): another value is a 422 naming the field and the
    values allowed, and nothing is recorded."""
    ops = complaints[0]
    made = [api.post("member", f"/complaints/{ops}/promises",
                     json={"department": "operations", "kind": "call_back", "business_hours": 8}).json()["id"]
            for _ in range(2)]
    with api.app.sessions() as s:
        messages = len(s.scalars(select(Message)).all())
    bad = api.post("member", f"/promises/{made[0]}/keep", json={"contact": "called back", "channel": "carrier pigeon"})
    assert bad.status_code == 422, bad.text
    error = bad.json()["error"]
    assert error["field"] == "channel" and all(k in error["message"] + str(error["details"])
                                               for k in ("email", "phone", "chat")), error
    with api.app.sessions() as s:
        assert len(s.scalars(select(Message)).all()) == messages
        assert s.get_one(Promise, made[0]).status == "open"
    kept = api.post("member", f"/promises/{made[0]}/keep", json={"contact": "wrote back", "channel": "email"})
    assert kept.status_code == 200, kept.text
    default = api.post("member", f"/promises/{made[1]}/keep", json={"contact": "called back"})
    assert default.status_code == 200, default.text
    with api.app.sessions() as s:
        assert [s.get_one(Message, r.json()["kept_by_message_id"]).channel for r in (kept, default)] == [
            "email", "phone"]
