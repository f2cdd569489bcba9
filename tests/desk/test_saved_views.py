"""Issue 14 §5: saved views over the API (``GET/POST/DELETE /me/views``), per user (SQLite and PostgreSQL)."""

from __future__ import annotations

from closeloop.services.people.tokens import create_token
from closeloop.services.people.users import create_user
from tests.api.conftest import T0


def _person(api, handle: str, role: str = "member", department: str | None = "operations") -> dict:
    create_user(api.app.sessions, api.app.config, handle=handle, name=handle, role=role,
                departments=[department] if department else [], actor="t", at=T0)
    token, _ = create_token(api.app.sessions, api.app.config, role=role, department=department, name=handle,
                            created_by="t", at=T0, user=handle)
    return {"Authorization": f"Bearer {token}"}


def test_views_are_saved_listed_replaced_and_deleted_per_user(api):
    ann, bo = _person(api, "ann"), _person(api, "bo")
    url = "/api/v1/me/views"
    r = api.client.post(url, headers=ann, json={"name": "  Late  disputes ", "q": "征信 dispute",
                                                "status": "in_progress", "overdue": True, "sort": "due_at"})
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["name"] == "Late disputes"
    assert v["query"] == "q=%E5%BE%81%E4%BF%A1+dispute&status=in_progress&overdue=true&sort=due_at"
    assert v["url"] == "/complaints?" + v["query"]
    again = api.client.post(url, headers=ann, json={"name": "Late disputes", "q": "dispute"}).json()
    assert again["id"] == v["id"] and again["query"] == "q=dispute&sort=-received_at"  # same name: replaced
    api.client.post(url, headers=ann, json={"name": "All P1"})
    assert [x["name"] for x in api.client.get(url, headers=ann).json()] == ["All P1", "Late disputes"]
    assert api.client.get(url, headers=bo).json() == []  # per user
    assert api.client.delete(f"{url}/{v['id']}", headers=bo).status_code == 404  # not bo's
    assert api.client.delete(f"{url}/{v['id']}", headers=ann).status_code == 204
    assert [x["name"] for x in api.client.get(url, headers=ann).json()] == ["All P1"]


def test_bad_views_name_the_field(api):
    ann = _person(api, "ann")
    for body, field in (({"name": " "}, "name"), ({"name": "x", "status": "nope"}, "status"),
                        ({"name": "x", "sort": "title"}, "sort"), ({"name": "x" * 81}, "name"),
                        ({"name": "x", "q": "y" * 201}, "q")):
        r = api.client.post("/api/v1/me/views", headers=ann, json=body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    # a token without a user, and an admin
    assert api.get("member", "/me/views").status_code == 403
    assert api.get("admin", "/me/views").status_code == 403
