"""The two texts the engine writes outside the audit trail, on the Chinese pages (SQLite and PostgreSQL): a
complaint's root-cause note and a reopened task's title.

They were recognised from their English alone, so a person who typed an engine sentence ("closed - no customer
response: the customer did not answer" as a root-cause note, "customer not satisfied: no reason given" as a
reopen reason) saw it translated. Now the audit row that wrote the text says whose it is: the engine's is
translated, a person's shown as typed, and rows written before codes were stored are still read from their text.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import select

from closeloop.domain.reasons import REASON_KEY
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import lifecycle, messages
from closeloop.services.work import tasks as task_svc
from models.tables import Complaint, Task, Transition
from tests.web.conftest import T0

ENGINE_NOTE = "closed - no customer response: the customer did not answer"
ENGINE_NOTE_ZH = "已关闭：客户未回应，客户没有答复"
ENGINE_REOPEN = "customer not satisfied: no reason given"


def _root_cause_cell(page: str) -> str:
    """The text of the complaint page's root-cause line."""
    cell = page.split("<dt>根本原因</dt>", 1)[1].split("</dd>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", "", cell))


def _expire_waits(web, config, ids: tuple[int, ...]) -> None:
    """The complaints wait on the customer for a day; the sweep closes them with the engine's root-cause note."""
    for cid in ids:
        lifecycle.await_customer(web.app.sessions, cid, config=config, reason="需要账单", actor="ops.lead",
                                 at=T0 + timedelta(minutes=5), until=T0 + timedelta(days=1))
    sweep(web.app.sessions, config, T0 + timedelta(days=1, minutes=1))
    with web.app.sessions() as s:
        for cid in ids:
            c = s.get_one(Complaint, cid)
            assert (c.status, c.root_cause, c.root_cause_detail) == ("closed", "undetermined", ENGINE_NOTE)


def _forget_codes(web, where) -> None:
    """Make the audit rows matching ``where`` look written before codes were stored (no key in their data)."""
    with web.app.sessions.begin() as s:
        for row in s.scalars(select(Transition).where(*where)):
            row.data = {k: v for k, v in (row.data or {}).items() if k != REASON_KEY}


def test_a_root_cause_note_is_translated_only_when_the_engine_wrote_it(web, complaints, config):
    engine_cid, person_cid, old_cid = complaints
    _expire_waits(web, config, (engine_cid, old_cid))
    lifecycle.resolve(web.app.sessions, person_cid, config=config, reason="answered on the phone", actor="王经理",
                      at=T0 + timedelta(hours=1), root_cause="undetermined", root_cause_detail=f"  {ENGINE_NOTE} ")
    _forget_codes(web, (Transition.entity_id == old_cid, Transition.trigger == "root_cause"))
    manager = web.signin("manager_zh")

    page = manager.get(f"/complaints/{engine_cid}").text
    assert ENGINE_NOTE_ZH in _root_cause_cell(page)
    assert ENGINE_NOTE not in page  # its root_cause timeline row too (it was stored as a person's words)
    person = _root_cause_cell(manager.get(f"/complaints/{person_cid}").text)
    assert ENGINE_NOTE in person and ENGINE_NOTE_ZH not in person  # typed: as typed (stripped, as stored)
    assert ENGINE_NOTE_ZH in _root_cause_cell(manager.get(f"/complaints/{old_cid}").text)  # a row from before


def _reopened(web, cid: int) -> Task:
    with web.app.sessions() as s:
        return s.scalars(select(Task).where(Task.complaint_id == cid, Task.kind == "reopened")
                         .order_by(Task.id.desc())).first()


def _resolved(web, config, cid: int) -> None:
    lifecycle.resolve(web.app.sessions, cid, config=config, reason="answered", actor="王经理",
                      at=T0 + timedelta(hours=1), root_cause="process_gap")


def test_a_reopened_tasks_reason_is_translated_only_when_the_engine_wrote_it(web, complaints, config):
    person_cid, engine_cid, old_cid = complaints
    for cid in complaints:
        _resolved(web, config, cid)
    lifecycle.reopen(web.app.sessions, person_cid, config=config, reason=ENGINE_REOPEN, actor="王经理",
                     at=T0 + timedelta(hours=2), department="operations")
    for cid in (engine_cid, old_cid):  # the customer's e-mail reopens it: the engine's reason
        messages.add_message(web.app.sessions, cid, config=config, direction="inbound", body="还是不行",
                             author="customer", at=T0 + timedelta(hours=2), channel="email")
    _forget_codes(web, (Transition.entity == "task", Transition.entity_id == _reopened(web, old_cid).id,
                        Transition.trigger == "create"))
    lead, manager = web.signin("lead"), web.signin("manager_zh")

    typed = f"重新打开：{ENGINE_REOPEN}"
    assert typed in manager.get(f"/complaints/{person_cid}").text
    assert typed in lead.get("/queue/operations").text  # the queue reads it the same way
    task_svc.transfer(web.app.sessions, _reopened(web, person_cid).id, config=config, to="product",
                      reason="a product fault", actor="王经理", at=T0 + timedelta(hours=3))
    page = manager.get(f"/complaints/{person_cid}").text
    assert page.count(typed) == 2 and "客户不满意" not in page  # the transferred task keeps its origin's title
    for cid in (engine_cid, old_cid):
        page = manager.get(f"/complaints/{cid}").text
        assert "重新打开：客户经 email 发来消息" in page and "Reopened:" not in page
