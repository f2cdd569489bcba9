"""Every dashboard form refuses text longer than the API takes (SQLite and PostgreSQL), never cuts it.

The pages' ``maxlength`` stops a browser; a post made another way (a script, an old page, a proxy) with
2,001 characters of reason or root-cause note (5,001 of outcome) used to be cut to 2,000 and saved without a
word. Now it comes back with a message naming the field and its limit, and nothing is written: the audit log,
the notes and the rows' versions are as before. Exactly the limit is saved whole.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from closeloop.domain.limits import MAX_OUTCOME_CHARS, MAX_REASON_CHARS
from closeloop.services.capa import improvement
from models.tables import Complaint, Improvement, Message, Task, Transition
from tests.web.conftest import T0, csrf_of
from tests.web.test_actions import _first, _form
from tests.web.test_complaint_work import _complaint, _post, _shown

LONG = "王" * (MAX_REASON_CHARS + 1)  # characters, not bytes: 2,001 Chinese characters are 6,003 bytes
FULL = "x" * MAX_REASON_CHARS


def _written(web) -> tuple:
    """What a refused post must leave as it was: audit rows, messages (notes), every row's version."""
    with web.app.sessions() as s:
        return (s.scalar(select(func.count()).select_from(Transition)),
                s.scalar(select(func.count()).select_from(Message)),
                sorted(s.execute(select(Complaint.id, Complaint.version, Complaint.severity)).all()),
                sorted(s.execute(select(Task.id, Task.version)).all()),
                sorted(s.execute(select(Improvement.id, Improvement.version)).all()))


# --- the queue: transfer's reason, complete's outcome and root-cause note -------------------------------

def test_a_transfer_reason_over_the_limit_is_refused_and_the_limit_passes(web, complaints):
    task = _first(web, "operations")
    c = web.signin("member")
    data = _form(c.get("/queue/operations").text, task.id, "transfer")
    before = _written(web)
    r = c.post(f"/tasks/{task.id}/transfer", data={**data, "to": "product", "reason": LONG})
    assert "err=too_long" in r.headers["location"] and "field=reason" in r.headers["location"]
    assert _shown(c, r) == (f"err: Task {task.id} was not changed: “Reason” is longer than 2000 characters "
                            "(reason).")
    assert _written(web) == before
    r = c.post(f"/tasks/{task.id}/transfer", data={**data, "to": "product", "reason": FULL})
    assert "ok=transfer" in r.headers["location"]
    with web.app.sessions() as s:
        assert s.scalars(select(Task.transfer_reason).where(Task.transferred_from_id == task.id)).one() == FULL


def test_complete_refuses_a_long_root_cause_note_or_outcome_and_keeps_the_limit_whole(web, complaints):
    task = _first(web, "operations")
    c = web.signin("lead")  # Chinese
    data = {**_form(c.get("/queue/operations").text, task.id, "complete"), "root_cause": "undetermined"}
    before = _written(web)
    for fields, field in (({"outcome": "done", "root_cause_note": LONG}, "root_cause_detail"),
                          ({"outcome": "o" * (MAX_OUTCOME_CHARS + 1), "root_cause_note": "checked"}, "outcome")):
        r = c.post(f"/tasks/{task.id}/complete", data={**data, **fields})
        assert f"err=too_long&field={field}" in r.headers["location"], fields
        limit = MAX_OUTCOME_CHARS if field == "outcome" else MAX_REASON_CHARS
        shown = _shown(c, r)
        assert shown.startswith(f"err: 任务 {task.id} 未作修改：") and f"超过 {limit} 个字符（{field}）" in shown
        assert _written(web) == before
    r = c.post(f"/tasks/{task.id}/complete", data={**data, "outcome": "o" * MAX_OUTCOME_CHARS, "root_cause_note": FULL})
    assert "ok=complete" in r.headers["location"]
    with web.app.sessions() as s:
        assert len(s.get_one(Task, task.id).outcome) == MAX_OUTCOME_CHARS
        assert s.get_one(Complaint, task.complaint_id).root_cause_detail == FULL



def test_a_textarea_filled_to_its_maxlength_with_line_breaks_is_taken(web, complaints):
    """A browser counts a line break as one character against ``maxlength`` and sends it as CR LF: a transfer
    reason typed up to 2,000 characters with line breaks arrives as more than 2,000 and used to be refused."""
    task = _first(web, "operations")
    c = web.signin("member")
    data = _form(c.get("/queue/operations").text, task.id, "transfer")
    typed = "\n".join(["x" * 99] * 20)  # 20 lines: 1,999 characters as the browser counts them
    assert len(typed) < MAX_REASON_CHARS < len(typed.replace("\n", "\r\n"))
    r = c.post(f"/tasks/{task.id}/transfer", data={**data, "to": "product", "reason": typed.replace("\n", "\r\n")})
    assert "ok=transfer" in r.headers["location"], _shown(c, r)
    with web.app.sessions() as s:
        assert s.scalars(select(Task.transfer_reason).where(Task.transferred_from_id == task.id)).one() == typed

# --- the complaint page: priority, wait, resolve (reason and root-cause note) ---------------------------

@pytest.mark.parametrize("action,who,fields,field", [
    ("reprioritize", "lead", {"severity": "P1"}, "reason"),
    ("wait", "member", {}, "reason"),
    ("resolve", "manager", {"root_cause": "process_gap"}, "reason"),
    ("resolve", "manager", {"root_cause": "undetermined", "reason": "fixed"}, "root_cause_note")])
def test_the_complaint_pages_forms_refuse_long_text_and_take_the_limit(web, complaints, action, who, fields, field):
    cid = complaints[0]
    c = web.signin(who)
    before = _written(web)
    r = _post(c, cid, action, **{**fields, field: LONG})
    named = "root_cause_detail" if field == "root_cause_note" else field
    assert f"err=too_long&field={named}" in r.headers["location"]
    shown = _shown(c, r)
    assert ("超过 2000 个字符" if who == "lead" else "is longer than 2000 characters") in shown and named in shown
    assert _written(web) == before
    r = _post(c, cid, action, **{**fields, field: FULL})
    assert f"ok={action}" in r.headers["location"], _shown(c, r)
    with web.app.sessions() as s:
        kept = s.scalars(select(Transition.reason).where(Transition.entity == "complaint", Transition.entity_id == cid)
                         .order_by(Transition.id.desc())).first()
    assert (_complaint(web, cid).root_cause_detail if field == "root_cause_note" else kept) == FULL


# --- improvement records: a trigger's reason and root-cause note -----------------------------------------

def test_an_improvement_records_reason_and_root_cause_note_are_refused_over_the_limit(web, complaints):
    rec = improvement.create(web.app.sessions, config=web.app.config, title="stale bureau entries",
                             owner_department="operations", actor="t", at=T0, complaint_ids=[complaints[0]])
    c = web.signin("manager")
    here = f"/improvements/{rec.id}"
    csrf = csrf_of(c.get(here).text)
    before = _written(web)
    for trigger, fields, field, label in (("reject", {"reason": LONG}, "reason", "Reason"),
                                          ("approve", {"root_cause": "undetermined", "root_cause_note": LONG},
                                           "root_cause_detail", "Root-cause note")):
        r = c.post(f"{here}/fire/{trigger}", data={"csrf": csrf, "version": str(rec.version), **fields})
        assert f"err=too_long&field={field}" in r.headers["location"]
        assert _shown(c, r) == f"err: “{label}” is longer than 2000 characters: nothing was changed."
        assert _written(web) == before
    r = c.post(f"{here}/fire/approve", data={"csrf": csrf, "version": str(rec.version), "root_cause": "undetermined",
                                             "root_cause_note": FULL, "reason": FULL})
    assert "ok=approve" in r.headers["location"]
    with web.app.sessions() as s:
        assert s.get_one(Improvement, rec.id).root_cause_detail == FULL


# --- bulk actions from the complaint list ---------------------------------------------------------------

def test_a_bulk_reason_over_the_limit_does_nothing_and_the_limit_is_audited_whole(web, complaints):
    c = web.signin("manager_zh")
    csrf = csrf_of(c.get("/complaints").text)
    a = complaints[0]
    before = _written(web)
    version = _complaint(web, a).version
    r = c.post("/complaints/bulk", data={"csrf": csrf, "action": "reprioritize", "severity": "P1", "reason": LONG,
                                         "item": f"{a}:{version}"})
    assert r.status_code == 422 and 'data-field="reason"' in r.text
    assert re.search(r"未执行任何操作：“[^”]+”超过 2000 个字符。", r.text)
    assert _written(web) == before
    r = c.post("/complaints/bulk", data={"csrf": csrf, "action": "reprioritize", "severity": "P1", "reason": FULL,
                                         "item": f"{a}:{version}"})
    assert r.status_code == 200 and f'id="result-{a}" data-ok="true"' in r.text
    with web.app.sessions() as s:
        assert s.scalars(select(Transition.reason).where(Transition.trigger == "reprioritize")).one() == FULL
