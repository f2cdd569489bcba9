"""The dashboard's side of ``tests/api/test_priority_after_transfer.py`` (SQLite and PostgreSQL): after its task
was transferred away, the former department's lead posting the complaint page's priority form gets a 403 page
naming the department the work belongs to now, and nothing is written."""

from __future__ import annotations

from tests.api.test_priority_after_transfer import _transfer_to_product, _written
from tests.web.test_complaint_work import _post


def test_the_dashboard_refuses_the_former_owners_lead_with_a_page_saying_who_owns_it(web, complaints):
    cid = complaints[0]  # credit reporting: operations, then service
    lead = web.signin("lead")  # operations, Chinese
    assert "ok=reprioritize" in _post(lead, cid, "reprioritize", severity="P1", reason="regulator asked"
                                      ).headers["location"]
    _transfer_to_product(web.app, cid)
    before = _written(web.app, cid)
    r = _post(lead, cid, "reprioritize", severity="P2", reason="still ours?")
    assert r.status_code == 403 and "您部门（operations）的任务已转交，该工作现归属 product" in r.text
    assert _written(web.app, cid) == before
