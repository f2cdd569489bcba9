"""Improvement records through the API: list, detail, link complaints, transitions, access."""

from __future__ import annotations

from closeloop.services.capa import improvement as svc

from .conftest import T0


def _record(api, complaints, owner="operations"):
    rec = svc.create(api.app.sessions, config=api.app.config, title="Credit report disputes", owner_department=owner,
                     actor="test", at=T0, complaint_ids=complaints[:1])
    return rec.id


def test_list_detail_link_and_transitions(api, complaints):
    rid = _record(api, complaints)
    items = api.get("manager", "/improvements").json()
    assert [(i["record"]["id"], i["complaints"]) for i in items] == [(rid, 1)]
    assert api.get("member", "/improvements").json()[0]["record"]["id"] == rid  # operations owns it
    assert api.get("member_service", "/improvements").json() == []
    assert api.get("member_service", f"/improvements/{rid}").status_code == 403
    r = api.post("lead", f"/improvements/{rid}/complaints", {"complaint_ids": complaints[1:]})
    assert r.status_code == 200 and r.json()["linked"] == 2
    assert api.post("member", f"/improvements/{rid}/complaints", {"complaint_ids": complaints}).status_code == 403
    d = api.get("lead", f"/improvements/{rid}").json()
    assert [c["complaint_id"] for c in d["complaints"]] == complaints
    assert d["record"]["status"] == "proposed"
    v = d["record"]["version"]
    r = api.post("manager", f"/improvements/{rid}/transitions", {"trigger": "implement"})
    assert r.status_code == 409 and r.json()["error"]["details"][0]["state"] == "proposed"
    r = api.post("manager", f"/improvements/{rid}/transitions", {"trigger": "approve", "version": v + 3})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    code = next(iter(api.app.config.model.improvement.root_causes))
    r = api.post("lead", f"/improvements/{rid}/transitions", {"trigger": "approve", "root_cause": code, "version": v,
                                                               "root_cause_detail": "furnisher data not checked"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["root_cause"] == code
    hist = api.get("manager", f"/improvements/{rid}").json()["history"]
    assert hist[-1]["trigger"] == "approve" and hist[-1]["actor"] == "api:lead (lead@operations)"
    assert api.get("admin", "/improvements").status_code == 403
    assert api.get("manager", "/improvements/999999").status_code == 404


def test_an_undetermined_root_cause_without_its_note_names_the_api_field(api, complaints):
    """The 422 names the field the client sent or left out (``root_cause_detail``), not the domain's word."""
    rid = _record(api, complaints)
    r = api.post("lead", f"/improvements/{rid}/transitions", {"trigger": "approve", "root_cause": "undetermined"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "root_cause_detail", r.text
