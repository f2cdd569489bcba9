"""The dashboard's side of ``tests/api/test_priority_after_transfer.py`` (SQLite and PostgreSQL): after its task
was transferred away, the former department's lead posting the complaint page's priority form gets a 403 page
naming the department the work belongs to now, and nothing is written; the page itself shows them that instead
of the form."""

from __future__ import annotations

from closeloop.services.work import tasks as task_svc
from tests.api.test_priority_after_transfer import _ops_task, _transfer_to_product, _written
from tests.web.test_complaint_work import _post


def test_the_dashboard_refuses_the_former_owners_lead_with_a_page_saying_who_owns_it(web, complaints):
    cid = complaints[0]  # credit reporting: operations, then service
    lead = web.signin("lead")  # operations, Chinese
    assert "ok=reprioritize" in _post(lead, cid, "reprioritize", severity="P1", reason="regulator asked"
                                      ).headers["location"]
    version = str(_written(web.app, cid)[1])  # the form of a page read before the transfer
    _transfer_to_product(web.app, cid)
    before = _written(web.app, cid)
    r = _post(lead, cid, "reprioritize", severity="P2", reason="still ours?", version=version)
    assert r.status_code == 403 and "您部门（operations）的任务已转交或取消，该工作现归属 product" in r.text
    assert _written(web.app, cid) == before


def test_the_complaint_page_shows_the_former_owners_lead_why_instead_of_the_priority_form(web, complaints):
    """The page showed the form all the same: the lead learnt it was no longer theirs only on posting. The page
    asks the service's own rule (``lifecycle.priority_refusal``)."""
    cid = complaints[0]
    form = f'action="/complaints/{cid}/work/reprioritize"'
    lead, manager = web.signin("lead"), web.signin("manager")
    page = lead.get(f"/complaints/{cid}").text
    assert form in page and "work-reprioritize-refused" not in page
    _transfer_to_product(web.app, cid)
    page = lead.get(f"/complaints/{cid}").text
    assert form not in page
    refused = page.split('id="work-reprioritize-refused"', 1)[1].split("</div>", 1)[0]
    assert "调整优先级" in refused and "您部门（operations）的任务已转交或取消，该工作现归属 product" in refused
    assert form in manager.get(f"/complaints/{cid}").text  # a manager changes any complaint's priority


def test_the_refused_lead_gets_the_403_page_before_the_forms_missing_version_or_reason(web, complaints):
    """Authorization first on the dashboard too: the priority form posted without a version (or a reason) by the
    lead whose department's task was transferred away came back with "the form carried no version" (or "reason
    required"), as if fixing the form would let them; it is the 403 page saying who owns the work now."""
    cid = complaints[0]
    lead = web.signin("lead")
    _transfer_to_product(web.app, cid)
    before = _written(web.app, cid)
    for fields in ({"severity": "P2", "reason": "still ours?"}, {"severity": "P2", "version": "abc"},
                   {"severity": "P9"}):
        r = _post(lead, cid, "reprioritize", **fields)
        assert r.status_code == 403 and "该工作现归属 product" in r.text, (fields, r.status_code)
    assert _written(web.app, cid) == before


def test_the_page_tells_the_lead_of_a_cancelled_task_too(web, complaints):
    """A cancelled task no longer makes its department an owner of the work (``lifecycle.OWNING_STATES``): the
    page shows why instead of the form, and the form posted all the same is the 403 page."""
    cid = complaints[0]
    lead = web.signin("lead")
    task = _ops_task(web.app, cid)
    task_svc.cancel(web.app.sessions, task.id, config=web.app.config, reason="not ours", actor="lead",
                    at=web.app.clock.now())
    page = lead.get(f"/complaints/{cid}").text
    assert f'action="/complaints/{cid}/work/reprioritize"' not in page and "work-reprioritize-refused" in page
    r = _post(lead, cid, "reprioritize", severity="P1", reason="ours?", version=str(_written(web.app, cid)[1]))
    assert r.status_code == 403 and "该工作现归属 service" in r.text
