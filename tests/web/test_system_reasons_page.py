"""The engine's own audit reasons, the SLA table's owners and numbers over a thousand on the Chinese complaint
page (SQLite and PostgreSQL).

They showed as stored English (``all department tasks are finished``, ``complaint resolved: ...``,
``task 1 (operations)``) or ungrouped (``2012.0``); a reason a person typed stays as written.
"""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

from sqlalchemy import select

from closeloop.domain.reasons import REASON_KEY, parse_reason
from closeloop.services.audit import audit_dict
from closeloop.services.work import lifecycle, messages, tasks
from models.tables import Task, Transition
from tests.web.conftest import T0


def _timeline(page: str) -> list[str]:
    """The "what" cell of each timeline row, as text."""
    table = page.split('id="timeline"', 1)[1].split("</table>", 1)[0]
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cells[-1])).strip()
        for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in table.split("<tr>")[2:])
    ]


def _worked(web, config, cid: int) -> int:
    """Take up, wait on the customer (a person's reason), the customer answers by e-mail, resolve (a person's
    English reason): the engine writes its reasons on the way. Returns the first task's id."""
    s, at = web.app.sessions, T0
    with s() as session:
        task_ids = list(session.scalars(select(Task.id).where(Task.complaint_id == cid).order_by(Task.id)))
    tasks.acknowledge(s, task_ids[0], config=config, actor="ops.lead", at=at + timedelta(minutes=5))
    lifecycle.await_customer(
        s, cid, config=config, reason="需要客户提供账单", actor="ops.lead", at=at + timedelta(minutes=10)
    )
    messages.add_message(
        s,
        cid,
        config=config,
        direction="inbound",
        body="账单在附件里",
        author="customer",
        at=at + timedelta(minutes=20),
        channel="email",
    )
    lifecycle.resolve(
        s,
        cid,
        config=config,
        reason="answered on the phone",
        actor="ops.lead",
        at=at + timedelta(hours=1),
        root_cause="process_gap",
    )
    return task_ids[0]


def test_the_engines_reasons_are_chinese_and_a_persons_stay_as_written(web, complaints, config):
    cid = complaints[0]
    _worked(web, config, cid)
    page = web.signin("lead").get(f"/complaints/{cid}").text
    joined = "\n".join(_timeline(page))
    assert "<td>客户</td>" in page and "<td>customer</td>" not in page  # the inbound message's author
    assert "等待客户：需要客户提供账单" in joined  # the engine's words, the person's reason as written
    assert "客户已回复" in joined and "客户经 email 发来消息" in joined
    assert "投诉已解决：answered on the phone" in joined  # a person's English stays English
    assert "已开始处理" in joined
    for english in (
        "waiting on the customer",
        "the customer answered",
        "customer message via",
        "complaint resolved:",
        "taken up",
    ):
        assert english not in joined, english
    en = "\n".join(_timeline(web.signin("manager").get(f"/complaints/{cid}").text))
    assert "waiting on the customer: 需要客户提供账单" in en and "complaint resolved: answered on the phone" in en
    assert "customer message via email" in en


def _before_codes(rows: list[dict]) -> list[dict]:
    """Audit rows as written before rows said whose their reason is: no ``system_reason`` in their data."""
    return [{**r, "data": {k: v for k, v in r["data"].items() if k != REASON_KEY}} for r in rows]


def test_rows_written_before_are_read_from_their_stored_english(web, complaints):
    """An existing database holds the English texts (nested ones too) and no codes: they show in Chinese all
    the same."""
    cid = complaints[1]
    with web.app.sessions.begin() as s:
        tid = s.scalars(select(Task.id).where(Task.complaint_id == cid)).first()
        s.execute(
            Transition.__table__.insert(),
            _before_codes([
                audit_dict(
                    "task",
                    tid,
                    cid,
                    "open",
                    "cancelled",
                    "cancel",
                    "system",
                    T0 + timedelta(minutes=1),
                    reason="the complaint was reopened: customer not satisfied: no reason given",
                ),
                audit_dict(
                    "complaint",
                    cid,
                    cid,
                    "in_progress",
                    "resolved",
                    "resolve",
                    "system",
                    T0 + timedelta(minutes=2),
                    reason="all department tasks are finished",
                ),
                audit_dict(
                    "complaint",
                    cid,
                    cid,
                    "resolved",
                    "resolved",
                    "reprioritize",
                    "王经理",
                    T0 + timedelta(minutes=3),
                    reason="all department tasks are finished, I think",
                ),
            ]),
        )
    joined = "\n".join(_timeline(web.signin("manager_zh").get(f"/complaints/{cid}").text))
    assert "投诉已重新打开：客户不满意：未说明原因" in joined
    assert "所有部门任务均已完成" in joined and "all department tasks are finished" not in joined.replace(
        "all department tasks are finished, I think", ""
    )
    assert "all department tasks are finished, I think" in joined  # not the engine's text: as written


def test_the_sla_table_names_its_owners_in_chinese(web, complaints, config):
    cid = complaints[0]
    page = web.signin("lead").get(f"/complaints/{cid}").text
    clocks = page.split('id="clocks"', 1)[1].split("</table>", 1)[0]
    with web.app.sessions() as s:
        task = s.scalars(select(Task).where(Task.complaint_id == cid).order_by(Task.id)).first()
    assert f"<td>投诉 {cid}</td>" in clocks
    assert task.department == "operations"  # named as configured in each language (default.toml)
    assert f"<td>任务 {task.id}（运营部）</td>" in clocks
    assert "complaint " not in clocks and "task " not in clocks
    en = web.signin("manager").get(f"/complaints/{cid}").text.split('id="clocks"', 1)[1]
    assert f"<td>task {task.id} (Operations)</td>" in en and f"<td>complaint {cid}</td>" in en


def test_business_hours_over_a_thousand_are_grouped(web, complaints, clock):
    """A complaint open for a year has spent some 2,000 business hours: shown ``2,0xx.x``, never ``20xx.x``."""
    cid = complaints[1]
    clock.advance(timedelta(days=365))
    for who in ("manager_zh", "manager"):
        clocks = web.signin(who).get(f"/complaints/{cid}").text.split('id="clocks"', 1)[1].split("</table>", 1)[0]
        cells = re.findall(r'<td class="num">([^<]*)</td>', clocks)
        assert any(re.fullmatch(r"\d,\d{3}\.\d", c) for c in cells), cells
        assert not any(re.fullmatch(r"\d{4,}\.\d", c) for c in cells), cells


def test_every_reason_the_engine_wrote_here_is_one_it_can_translate(web, complaints, config):
    """Whatever the engine wrote on the way (its own actor, or a person's action it words) is in the table, and
    its row stores the code it was written with (a person's reason: null)."""
    cid = complaints[0]
    _worked(web, config, cid)
    with web.app.sessions() as s:
        rows = s.execute(
            select(Transition.reason, Transition.data).where(
                Transition.complaint_id == cid, Transition.reason.is_not(None)
            )
        ).all()
    reasons = {r.reason for r in rows}
    persons = {"需要客户提供账单", "answered on the phone"}
    assert reasons - persons and all(parse_reason(r) for r in reasons - persons), reasons
    for r in rows:
        code = None if r.reason in persons else parse_reason(r.reason)[0].value
        assert (r.data[REASON_KEY] or {}).get("code") == code, r


def test_the_api_timeline_keeps_its_text_and_adds_the_code(web, complaints, config):
    """Backwards compatible: ``text`` as stored (English); ``reason_code`` names the engine's reason, null for
    a person's."""
    cid = complaints[0]
    _worked(web, config, cid)
    r = web.client().get(f"/api/v1/complaints/{cid}", headers={"Authorization": f"Bearer {web.tokens['manager']}"})
    assert r.status_code == 200, r.text
    lines = {e["text"]: e.get("reason_code") for e in r.json()["timeline"] if e["kind"] == "transition"}
    waits = [code for text, code in lines.items() if text.endswith("- waiting on the customer: 需要客户提供账单")]
    assert waits and set(waits) == {"waiting_on_customer"}
    assert [code for text, code in lines.items() if text.endswith("- 需要客户提供账单")] == [None]


def test_a_persons_reason_that_reads_like_the_engines_is_shown_as_typed(web, complaints, config):
    """A manager resolves with the words of one of the engine's sentences: the Chinese timeline shows them as
    typed (on the complaint's row and inside the engine's own reason for its cancelled task, which is
    translated from the code stored with it) and the API names no code for them. Before, the stored English
    was read back and taken for the engine's."""
    cid = complaints[0]
    typed = "all department tasks are finished"
    lifecycle.resolve(
        web.app.sessions, cid, config=config, reason=typed, actor="ops.lead", at=T0 + timedelta(hours=1),
        root_cause="process_gap",
    )
    with web.app.sessions() as s:
        rows = s.scalars(select(Transition).where(Transition.complaint_id == cid, Transition.trigger.in_(
            ["resolve", "cancel"])).order_by(Transition.id)).all()
    assert [(r.reason, r.data[REASON_KEY]) for r in rows if r.trigger == "resolve"] == [(typed, None)]  # a person's
    cancels = {(r.reason, json.dumps(r.data[REASON_KEY])) for r in rows if r.trigger == "cancel"}
    assert cancels == {(f"complaint resolved: {typed}",
                        json.dumps({"code": "complaint_resolved", "params": {"reason": typed}}))}
    joined = "\n".join(_timeline(web.signin("manager_zh").get(f"/complaints/{cid}").text))
    assert f"已解决 – {typed}" in joined and "投诉已解决：all department tasks are finished" in joined
    assert "所有部门任务均已完成" not in joined
    r = web.client().get(f"/api/v1/complaints/{cid}", headers={"Authorization": f"Bearer {web.tokens['manager']}"})
    codes = {e["text"].rsplit(" - ", 1)[-1]: e.get("reason_code") for e in r.json()["timeline"]}
    assert codes[typed] is None and codes[f"complaint resolved: {typed}"] == "complaint_resolved"
