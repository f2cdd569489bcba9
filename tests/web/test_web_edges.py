"""Dashboard edge cases found by trying to break it (issue 7): odd form values are a clear message
on the queue, never an error page, and write nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from models.tables import Transition
from tests.web.test_actions import _first, _form, _status


def test_a_version_of_unicode_digits_is_invalid_input_not_an_error(web, complaints):
    task = _first(web, "operations")
    c = web.signin("member")
    data = _form(c.get("/queue/operations").text, task.id, "acknowledge")
    with web.app.sessions() as s:
        before = s.scalar(select(func.count()).select_from(Transition))
    # superscript two and Arabic-Indic three: str.isdigit() says yes, neither is the version the page showed
    for odd in ("\u00b2", "\u0663", str(task.version) + "\u00b2"):
        r = c.post(f"/tasks/{task.id}/acknowledge", data={**data, "version": odd})
        assert r.status_code == 303, (odd, r.status_code)
        assert "err=invalid" in r.headers["location"] and "field=version" in r.headers["location"]
    assert _status(web, task.id) == "open"
    with web.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Transition)) == before
    # the version the page showed still works
    r = c.post(f"/tasks/{task.id}/acknowledge", data=data)
    assert "ok=acknowledge" in r.headers["location"] and _status(web, task.id) == "acknowledged"
