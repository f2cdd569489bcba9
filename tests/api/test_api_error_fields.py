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


def test_an_unknown_or_missing_trigger_names_trigger(api, complaints):
    """A discriminated body's tag error named the body as a whole (``body``), as the improvements endpoint does
    not."""
    task = api.get("manager", "/departments/operations/tasks").json()["items"][0]
    for url in (f"/tasks/{task['id']}/transitions", f"/complaints/{complaints[0]}/transitions"):
        err = _error(api.post("manager", url, {"trigger": "fly"}))
        assert err["field"] == "trigger" and "'fly'" in err["message"] and err["message"].startswith("trigger: "), err
        err = _error(api.post("manager", url, {}))
        assert (err["field"], err["message"]) == ("trigger", "trigger: Field required"), err


def test_a_list_query_parameter_is_named_without_its_index(api, complaints):
    err = _error(api.get("manager", "/complaints", params={"severity": ["P1", "P9"]}))
    assert err["field"] == "severity" and [d["field"] for d in err["details"]] == ["severity"], err


def test_a_json_operation_answers_another_media_type_415_naming_the_one_it_takes(api, complaints):
    """A body without ``Content-Type: application/json`` was a 422 "body: Input should be a valid dictionary";
    ``/inbound/email`` already answered 415 for its own media type: one answer for both."""
    url = f"/api/v1/complaints/{complaints[0]}/notes"
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}):
        r = api.client.post(url, headers={**api.h("member"), **headers}, content=b'{"body": "hello"}')
        assert r.status_code == 415, (headers, r.text)
        err = r.json()["error"]
        assert (err["code"], err["field"]) == ("unsupported_media_type", "Content-Type"), err
        assert err["message"].startswith("Content-Type must be application/json ("), err
    r = api.client.post(url, headers={**api.h("member"), "Content-Type": "application/json; charset=utf-8"},
                        content=b'{"body": "hello"}')
    assert r.status_code == 201, r.text
    r = api.client.post("/api/v1/inbound/email", headers={**api.h("manager"), "Content-Type": "text/plain"},
                        content=b"x")
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    assert r.json()["error"]["field"] == "Content-Type"
