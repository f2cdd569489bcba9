"""What earlier testers reported on the Chinese pages and left open (SQLite and PostgreSQL): task kinds and
department codes shown raw (``investigate``, ``operations``), an engine-written transfer reason in English on the
queue, the customer's language as a bare code, "overdue by 6784h" whose unit (business hours) only a tooltip
said, and timeline lines that did not say to whom a task was assigned or how much compensation was recorded."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import select, update

from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.services.work import compensation, tasks
from closeloop.web.labels import department_name
from models.tables import Customer, Task
from tests.web.conftest import T0
from tests.web.test_records_pages import _key
from tests.web.test_system_reasons_page import _timeline


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def _table(page: str, table_id: str) -> str:
    return page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]


def _task_ids(web, cid: int) -> list[int]:
    with web.app.sessions() as s:
        return list(s.scalars(select(Task.id).where(Task.complaint_id == cid).order_by(Task.id)))


def test_chinese_pages_name_task_kinds_and_departments_in_chinese(web, complaints):
    cid = complaints[0]  # credit reporting: operations investigates, service responds
    tasks_zh = _text(_table(web.signin("manager_zh").get(f"/complaints/{cid}").text, "tasks"))
    assert "调查" in tasks_zh and "答复客户" in tasks_zh
    assert "运营部" in tasks_zh and "客户服务部" in tasks_zh  # [customers.department_names.zh]
    for raw in ("investigate", "respond", "operations", "service"):
        assert raw not in tasks_zh, raw
    tasks_en = _text(_table(web.signin("manager").get(f"/complaints/{cid}").text, "tasks"))
    assert "Operations" in tasks_en and "Customer service" in tasks_en  # the configured display_name
    queue = web.signin("lead").get("/queue/operations").text
    rows = _text(_table(queue, "queue"))
    assert "<h1>队列：运营部" in queue and "调查" in rows and "investigate" not in rows


def test_a_department_name_comes_from_the_configuration_then_the_catalogue_then_the_code(config):
    assert department_name(config, "service", "zh") == "客户服务部"  # configured for zh
    assert department_name(config, "service", "en") == "Customer service"  # display_name
    assert department_name(config, "customer_service", "zh") == "客户服务部"  # not configured: the catalogue
    assert department_name(config, "warehouse-7", "zh") == "warehouse-7"


def test_the_queue_translates_an_engine_written_transfer_reason_and_keeps_a_persons(web, complaints, config):
    first, second = _task_ids(web, complaints[1])[:2], _task_ids(web, complaints[0])[0]
    tasks.transfer(web.app.sessions, first[0], config=config, to="product", actor="system", at=T0,
                   reason=system_reason(SystemReason.ALL_TASKS_CANCELLED))
    typed = "all tasks cancelled"  # a person's words that read like the engine's
    tasks.transfer(web.app.sessions, second, config=config, to="product", actor="王经理", at=T0, reason=typed)
    queue = _text(_table(web.signin("manager_zh").get("/queue/product").text, "queue"))
    assert queue.count("↪ 所有任务均已取消") == 1 and queue.count(f"↪ {typed}") == 1


def test_the_customer_page_names_the_language_and_keeps_its_code(web, complaints):
    with web.app.sessions.begin() as s:
        s.execute(update(Customer).where(Customer.ref == "c1").values(language="zh"))
    zh = web.signin("manager_zh").get("/customers/c1").text
    assert '<span id="customer-language" title="zh" data-code="zh">中文</span>' in zh
    en = web.signin("manager").get("/customers/c1").text
    assert '<span id="customer-language" title="zh" data-code="zh">Chinese</span>' in en


def test_a_long_overdue_task_says_its_hours_are_business_hours(web, complaints):
    web.app.clock.advance(timedelta(days=3 * 365))  # some 6,000 business hours past every due time

    def badges(page: str) -> list[str]:
        return [_text(b) for b in re.findall(r'<span class="badge sla[^"]*"[^>]*>(.*?)</span>', page, re.S)]

    en = badges(web.signin("manager").get("/queue/operations").text)
    assert en and all(re.fullmatch(r"overdue by \d,\d{3} business h", b) for b in en), en
    zh = badges(web.signin("manager_zh").get("/queue/operations").text)
    assert zh and all(re.fullmatch(r"已超时 \d,\d{3} 个工作小时", b) for b in zh), zh


def test_the_timeline_says_to_whom_a_task_was_assigned_and_how_much_was_compensated(web, complaints, config):
    cid = complaints[0]
    task = _task_ids(web, cid)[0]
    tasks.assign(web.app.sessions, task, config=config, assignee="Li Wei", actor="ops.lead", at=T0)
    tasks.assign(web.app.sessions, task, config=config, assignee="Zhang Min", actor="ops.lead", at=T0)
    compensation.add(web.app.sessions, cid, config=config, kind="refund", amount="1250.5", at=T0,
                     actor="web:manager (manager)", requester=_key(web, "manager"))
    en = "\n".join(_timeline(web.signin("manager").get(f"/complaints/{cid}").text))
    assert f"task {task}: assigned to Li Wei" in en
    assert f"task {task}: reassigned from Li Wei to Zhang Min" in en
    assert "compensation recorded (refund, 1,250.50 USD)" in en
    zh = "\n".join(_timeline(web.signin("manager_zh").get(f"/complaints/{cid}").text))
    assert f"任务 {task}: 指派给 Li Wei" in zh and f"任务 {task}: 由 Li Wei 改派给 Zhang Min" in zh
    assert "记录补偿（退款，1,250.50 USD）" in zh
