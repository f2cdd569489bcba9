"""The sweep's staff digests: their language follows the recipient (Chinese text intact, a wait without a reason
worded in it), and a large backlog is split into several messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from closeloop.config import parse_config
from closeloop.services.engine import sweep_pack
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import lifecycle
from models.tables import Outbox

from .helpers import drop_wait_reason, facts, intake
from .test_sweep import SH, _notes, engine_config


def test_digest_language_follows_the_department_and_chinese_text_is_intact(sessions):
    config = parse_config(engine_config().text.replace(
        '[departments.service]\ndisplay_name = "Service"',
        '[departments.service]\ndisplay_name = "客服部"\nlanguage = "zh"'), "zh-test")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("ZH", created)])
    sweep(sessions, config, datetime(2026, 3, 2, 13, 0, tzinfo=SH))  # the 50% reminder to the service queue
    with sessions() as s:
        (msg,) = s.scalars(select(Outbox).where(Outbox.recipient == "service queue")).all()
    # the 50 % reminder and the first acknowledgement page (due 11:00) to the queue
    assert msg.subject.startswith("closeloop：service queue 有 2 项待办提醒")
    assert "【提醒】" in msg.body and "【未受理】" in msg.body and "投诉 #" in msg.body
    assert "时限已用 50%" in msg.body and "（身份：处理人）" in msg.body


def test_a_wait_without_a_reason_that_runs_out_is_worded_in_the_staff_digests_language(sessions):
    """A wait row without a reason (written before reasons were required) told the operations manager
    "customer has not answered (waiting)", in English even in a Chinese digest."""
    config = engine_config(calendar='timezone = "UTC"\nhours = "mon-sun 00:00-24:00"', targets="P3 = { }",
                           extra='operations_manager = { name = "ops-zh", language = "zh" }\n'
                                 '[follow_up]\nauto_close_wait_after_max = false')
    created = datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    (cid,) = intake(sessions, config, created, [facts("W0", created)])
    lifecycle.await_customer(sessions, cid, config=config, reason="请提供对账单", actor="agent",
                             at=created + timedelta(hours=1), max_business_hours=2)
    drop_wait_reason(sessions, cid)  # as a row from before the guard
    for _ in range(2):
        sweep(sessions, config, created + timedelta(days=1))
    with sessions() as s:
        (msg,) = s.scalars(select(Outbox).where(Outbox.recipient == "ops-zh")).all()
        (note,) = [n for n in _notes(sessions) if n.kind == "pause_expired"]
    assert "客户尚未答复（未说明原因）" in msg.body and "waiting" not in msg.body
    assert note.data["text"] == "customer has not answered (no reason given)"  # the English copy kept for history


def test_a_large_backlog_is_split_into_several_digests(sessions, monkeypatch):
    monkeypatch.setattr(sweep_pack, "DIGEST_MAX_ITEMS", 2)
    config = engine_config()
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("B1", created), facts("B2", created)])
    sweep(sessions, config, created)
    # to the queue: per task L1 and the first acknowledgement page (the reminders L1 superseded are dropped)
    report = sweep(sessions, config, datetime(2026, 3, 5, 10, 0, tzinfo=SH))
    with sessions() as s:
        queue = s.scalars(select(Outbox).where(Outbox.recipient == "service queue")).all()
    assert len(queue) == 2 and sorted(len(m.payload["items"]) for m in queue) == [2, 2]
    # lead: L2 and page 2 per task (4 items, 2 messages); operations manager: L3 and the latest page per
    # task (2 messages); crisis owner: L4 per task (1 message)
    assert report.messages == len(queue) + 2 + 2 + 1
