"""Issue 13: the API intake takes the customer's details and contact points (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select

from models.tables import Customer, CustomerContact, Outbox, Transition

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
