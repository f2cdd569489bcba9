"""A refused form's message names the field by the form's own label, in the reader's language (the service's
``reason`` is "What we need from the customer" on the wait form, "Resolution" on resolve, the compensation
decision's ``note`` is its "Reason" box), the service's reason is translated, and the engine's values (task
kinds, a department in a stored reason) read as the page's language has them."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from closeloop.services.capa import improvement
from closeloop.services.capa.improvement import ACTION_KINDS
from closeloop.services.work import tasks
from closeloop.web import i18n
from closeloop.web.labels import department_name
from models.tables import Task
from tests.web.conftest import T0, csrf_of
from tests.web.test_complaint_work import _complaint, _post, _shown


@pytest.mark.parametrize("action, lang, expected", [
    ("wait", "en", "err: “What we need from the customer” is required (reason)."),
    ("wait", "zh", "err: 请填写“需要客户提供什么”（reason）。"),
    ("resolve", "en", "err: “Resolution (what was done)” is required (reason)."),
    ("resolve", "zh", "err: 请填写“解决说明（做了什么）”（reason）。"),
    ("reprioritize", "en", "err: “Reason” is required (reason)."),  # that form's box is "Reason"
])
def test_a_blank_reason_is_named_by_the_forms_own_label(web, complaints, action, lang, expected):
    """Resolve with a blank "Resolution (what was done)" said "“Reason” is required", a field the form lacks."""
    m = web.signin("manager")
    m.cookies.set("closeloop_lang", lang)
    fields = {"severity": "P1"} if action == "reprioritize" else {"root_cause": "process_gap"}
    assert _shown(m, _post(m, complaints[0], action, reason="  ", **fields)) == expected


def test_an_improvement_records_blank_reason_is_named_by_its_label(web, complaints):
    rec = improvement.create(web.app.sessions, config=web.app.config, title="stale bureau entries",
                             owner_department="operations", actor="t", at=T0, complaint_ids=[complaints[0]])
    m = web.signin("manager")
    page = m.get(f"/improvements/{rec.id}").text
    r = m.post(f"/improvements/{rec.id}/fire/reject", data={"csrf": csrf_of(page), "version": str(rec.version),
                                                            "reason": " "})
    assert _shown(m, r) == "err: “Reason”: rejecting a record needs a reason. Nothing was changed."  # was “reason”
    m.cookies.set("closeloop_lang", "zh")
    assert _shown(m, r) == "err: “原因”：驳回改进记录需要说明原因。未作任何修改。"


def _bulk_problem(page: str) -> str:
    m = re.search(r'<div class="flash err" id="flash"[^>]*>(.*?)</div>', page, re.S)
    assert m, "no problem on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", m.group(1))).split())


def test_a_bulk_problem_reads_in_chinese(web, complaints):
    """The zh page said 请检查“已勾选的投诉”。 items: tick at least one complaint (the service's English)."""
    c = web.signin("manager_zh")
    csrf = csrf_of(c.get("/complaints").text)
    r = c.post("/complaints/bulk", data={"csrf": csrf, "action": "close", "reason": "x"})
    assert _bulk_problem(r.text) == "未执行任何操作：请检查“已勾选的投诉”。 请至少勾选一条投诉"
    v = _complaint(web, complaints[0]).version
    r = c.post("/complaints/bulk", data={"csrf": csrf, "action": "reprioritize", "reason": "x",
                                         "item": f"{complaints[0]}:{v}"})
    assert _bulk_problem(r.text) == "未执行任何操作：请检查“新优先级”。 该操作必填"
    en = web.signin("manager")
    r = en.post("/complaints/bulk", data={"csrf": csrf_of(en.get("/complaints").text), "action": "close",
                                          "reason": "x"})
    assert _bulk_problem(r.text) == "Nothing was done: check “ticked complaints”. tick at least one complaint"


def test_the_action_task_kinds_have_chinese_names():
    t = i18n.translator("zh")
    assert {kind: t(f"taskkind.{kind}", default=kind) for kind in ACTION_KINDS} == {
        "corrective": "纠正措施", "preventive": "预防措施"}


def test_a_stored_reason_names_the_department_not_its_code(web, complaints, config):
    """The zh timeline read "任务 45（operations）已开始处理": the department is shown by its configured name."""
    cid = complaints[0]
    with web.app.sessions() as s:
        task = s.scalars(select(Task).where(Task.complaint_id == cid).order_by(Task.id)).first()
    tasks.start(web.app.sessions, task.id, config=config, actor="t", at=web.app.clock.now())
    name = department_name(config, task.department, "zh")
    assert name != task.department
    page = html.unescape(web.signin("lead").get(f"/complaints/{cid}").text)
    assert f"任务 {task.id}（{name}）已开始处理" in page
    assert f"（{task.department}）已开始处理" not in page


@pytest.mark.parametrize("until", ["3000-01-01T10:00", "9999-12-31T23:59", "2199-12-31T23:00"])
def test_a_wait_too_far_ahead_says_so_and_gives_the_bound(web, complaints, until):
    """3000-01-01T10:00 was told it should be "a local date and time, e.g. 2026-03-05T17:00" though it is one
    (2199-12-31T23:00 in New York is past 2200-01-01T00:00Z)."""
    c = web.signin("member")
    assert _shown(c, _post(c, complaints[0], "wait", reason="the statement", until=until)) == (
        "err: “Wait at most until” (until): too far ahead: must be before 2200-01-01T00:00Z (UTC), the latest "
        "instant closeloop takes. Nothing was changed.")
    zh = web.signin("lead")
    assert "太远了：必须早于 2200-01-01T00:00Z（UTC）" in _shown(zh, _post(zh, complaints[0], "wait", reason="x",
                                                                            until=until))
    assert _complaint(web, complaints[0]).status != "awaiting_customer"
