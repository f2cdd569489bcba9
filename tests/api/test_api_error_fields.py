"""A 422 names the field as the client sent it: the leading location (body, query, path, header) is dropped,
never a field that happens to share its name (the note's ``body`` had come out as ``body.body``)."""

from __future__ import annotations

from closeloop.services.reads.search import MAX_QUERY_CHARS
from closeloop.services.work.notes import MAX_NOTE


def _error(r) -> dict:
    assert r.status_code == 422, r.text
    return r.json()["error"]


def test_a_note_too_long_names_body(api, complaints):
    err = _error(api.post("member", f"/complaints/{complaints[0]}/notes", {"body": "x" * (MAX_NOTE + 1)}))
    assert err["field"] == "body" and err["message"].startswith("body: "), err
    assert [d["field"] for d in err["details"]] == ["body"]


def test_a_missing_note_names_body(api, complaints):
    assert _error(api.post("member", f"/complaints/{complaints[0]}/notes", {}))["field"] == "body"


def test_other_locations_name_the_field_alone(api, complaints):
    intake = {"external_ref": "F-1", "received_at": "2026-03-01T09:00:00Z",
              "customer": {"display_name": "x" * 201}}
    assert _error(api.post("manager", "/complaints", intake))["field"] == "customer.display_name"
    task = api.get("manager", "/departments/operations/tasks").json()["items"][0]
    r = api.post("manager", f"/tasks/{task['id']}/transitions", {"trigger": "cancel", "reason": ""})
    assert _error(r)["field"] == "reason"
    r = api.get("manager", "/complaints", params={"q": "x" * (MAX_QUERY_CHARS + 1)})
    assert _error(r)["field"] == "q"
    r = api.post("manager", f"/complaints/{complaints[0]}/priority", {"severity": "P1", "reason": "x"},
                 headers={"If-Match": "x" * 41})
    assert _error(r)["field"] == "If-Match"
