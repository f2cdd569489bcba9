"""Versions over the API: optional by design (If-Match style, documented), and a number beyond the ids' range
(``MAX_ID``) is a 422 naming the field, on every write that takes one, instead of a 409 for a stale version."""

from __future__ import annotations

import pytest

from closeloop.services.capa import improvement as capa
from models.types import MAX_ID

from .conftest import T0

TOO_BIG = 99999999999999999999999


def _task(api) -> dict:
    return api.get("manager", "/departments/operations/tasks").json()["items"][0]


def _writes(api, complaints) -> list[tuple[str, dict]]:
    rid = capa.create(api.app.sessions, config=api.app.config, title="Disputes", owner_department="operations",
                      actor="test", at=T0, complaint_ids=complaints[:1]).id
    cid = complaints[0]
    return [(f"/tasks/{_task(api)['id']}/transitions", {"trigger": "acknowledge"}),
            (f"/complaints/{cid}/transitions", {"trigger": "close", "reason": "done"}),
            (f"/complaints/{cid}/priority", {"severity": "P1", "reason": "urgent"}),
            (f"/complaints/{cid}/wait", {"reason": "documents"}),
            (f"/improvements/{rid}/transitions", {"trigger": "start"})]


@pytest.mark.parametrize("version", [TOO_BIG, MAX_ID + 1, 0])
def test_a_version_beyond_the_ids_range_is_a_422_naming_version(api, complaints, version):
    for url, body in _writes(api, complaints):
        r = api.post("manager", url, {**body, "version": version})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["field"] == "version", (url, r.text)


def test_a_merge_refuses_a_survivor_version_beyond_the_range(api, complaints):
    r = api.post("manager", f"/complaints/{complaints[1]}/transitions",
                 {"trigger": "merge", "into": complaints[0], "into_version": TOO_BIG, "reason": "same"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "into_version", r.text


def test_the_largest_version_is_only_stale(api, complaints):
    r = api.post("manager", f"/complaints/{complaints[0]}/priority",
                 {"severity": "P1", "reason": "urgent", "version": MAX_ID})
    assert r.status_code == 409 and r.json()["error"]["field"] == "version", r.text


def test_a_write_without_a_version_applies_and_the_documents_say_so(api, complaints):
    task = _task(api)
    r = api.post("member", f"/tasks/{task['id']}/transitions", {"trigger": "acknowledge"})
    assert r.status_code == 200, r.text
    doc = api.client.get("/api/v1/openapi.json").json()
    assert "Optional" in doc["components"]["schemas"]["PriorityIn"]["properties"]["version"]["description"]
    assert "without a version" in doc["info"]["description"]
