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
    for odd in ("\u00b2", "\u0663", str(task.version) + "\u00b2", "", "-5", "abc", None):  # None: no field at all
        sent = {k: v for k, v in data.items() if k != "version"} if odd is None else {**data, "version": odd}
        r = c.post(f"/tasks/{task.id}/acknowledge", data=sent)
        assert r.status_code == 303, (odd, r.status_code)
        assert "err=invalid" in r.headers["location"] and "field=version" in r.headers["location"]
    assert _status(web, task.id) == "open"
    with web.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Transition)) == before
    # the version the page showed still works
    r = c.post(f"/tasks/{task.id}/acknowledge", data=data)
    assert "ok=acknowledge" in r.headers["location"] and _status(web, task.id) == "acknowledged"


def test_an_improvement_form_without_its_version_changes_nothing(web, complaints):
    from closeloop.services.capa import improvement
    from models.tables import Improvement
    from tests.web.conftest import T0, csrf_of

    rec = improvement.create(web.app.sessions, config=web.app.config, title="t", owner_department="operations",
                             actor="t", at=T0, complaint_ids=[complaints[0]])
    m = web.signin("manager")
    csrf = csrf_of(m.get(f"/improvements/{rec.id}").text)
    for odd in ("", "-5", "abc", "\u00b2", None):
        data = {"csrf": csrf, "reason": "no"} if odd is None else {"csrf": csrf, "reason": "no", "version": odd}
        r = m.post(f"/improvements/{rec.id}/fire/reject", data=data)
        assert "err=invalid" in r.headers["location"] and "field=version" in r.headers["location"], odd
    with web.app.sessions() as s:
        assert (s.get_one(Improvement, rec.id).status, s.get_one(Improvement, rec.id).version) == ("proposed",
                                                                                                 rec.version)
