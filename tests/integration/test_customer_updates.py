"""Issue 13, slice 3: an agent's reply and automatic milestone notices, in the customer's language, through
the outbox, once; escaped HTML; delivered to a real SMTP server. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from closeloop.clock import FixedClock
from closeloop.config import parse_config
from closeloop.domain.customer import ContactPoint, CustomerProfile
from closeloop.domain.errors import InvalidInput
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.services.customers.notices import message_id
from closeloop.services.customers.replies import send_reply
from closeloop.services.engine.delivery import deliver_once
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import complaints as complaint_svc
from closeloop.services.work import lifecycle
from closeloop.services.work import tasks as task_svc
from closeloop.services.work.messages import add_message
from integrations.senders import RoutingSender
from integrations.smtp import SmtpSender
from models.tables import Message, Outbox, Task

from .helpers import drop_wait_reason, facts, intake
from .smtp_server import smtp_server  # noqa: F401 - fixture

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York
MAIL = "kunde@example.com"


def who(language="zh", name="李雷", mail=MAIL):
    return CustomerProfile(name, language, "Asia/Shanghai", (ContactPoint("email", mail, consent=True),))


def _outbox(sessions, prefix):
    with sessions() as s:
        return s.scalars(select(Outbox).where(Outbox.idempotency_key.like(prefix + "%")).order_by(Outbox.id)).all()


def _tasks(sessions, cid):
    with sessions() as s:
        return s.scalars(select(Task).where(Task.complaint_id == cid).order_by(Task.id)).all()


def test_a_reply_goes_once_in_the_customers_language_threaded_under_the_acknowledgement(sessions, config):
    (cid,) = intake(sessions, config, T0, [facts("R-1", T0, customer_ref="r", customer=who())])
    text = "我们已为您办理退款。\n请查收。<b>谢谢</b>"
    r = send_reply(sessions, config, cid, text, actor="agent.wang", at=T0 + timedelta(hours=1))
    again = send_reply(sessions, config, cid, text, actor="agent.wang", at=T0 + timedelta(hours=1, minutes=5))
    assert r.created and not again.created and (again.key, again.outbox_id) == (r.key, r.outbox_id)
    (row,) = _outbox(sessions, "customer:reply:")
    assert row.subject == f"[CL-{cid}] 关于您投诉的回复" and "我们已为您办理退款。\n请查收。<b>谢谢</b>" in row.body
    assert "&lt;b&gt;谢谢&lt;/b&gt;" in row.payload["html"] and "退款。<br>\n请查收。" in row.payload["html"]
    assert row.payload["in_reply_to"] == message_id(f"customer:acknowledged:{cid}")
    assert row.payload["auto_submitted"] == "no"
    with sessions() as s:
        msg = s.scalar(select(Message).where(Message.outbox_id == row.id))
        assert (msg.author, msg.direction) == ("agent.wang", "outbound")
    keyed = send_reply(sessions, config, cid, text, actor="agent.wang", at=T0, idempotency_key="second")
    assert keyed.created and keyed.key == f"customer:reply:{cid}:second"


def test_a_double_submit_that_differs_only_in_blank_space_sends_one_reply(sessions, config):
    """A form resubmitted with a trailing newline, CRLF line ends or spaces at the line ends is the same reply."""
    (cid,) = intake(sessions, config, T0, [facts("R-ws", T0, customer_ref="ws", customer=who(language="en"))])
    texts = ["We corrected the entry.\nThank you.", "We corrected the entry.\nThank you.\n",
             " We corrected the entry.\r\nThank you.", "We corrected the entry.  \nThank you."]
    sent = [send_reply(sessions, config, cid, text, actor="agent", at=T0 + timedelta(minutes=n))
            for n, text in enumerate(texts)]
    assert sent[0].created and [(r.created, r.outbox_id) for r in sent[1:]] == [(False, sent[0].outbox_id)] * 3
    (row,) = _outbox(sessions, "customer:reply:")
    assert "We corrected the entry.\nThank you." in row.body and "\r" not in row.body
    other = send_reply(sessions, config, cid, "We corrected the entry.\n\nThank you.", actor="agent", at=T0)
    assert other.created  # another paragraph break is another text


def test_a_reused_reply_key_returns_the_first_reply_and_refuses_another_text(sessions, config):
    """The same key and text: the first reply's outbox id, nothing new; the same key with another text: refused,
    naming idempotency_key, nothing written (Stripe's and the IETF Idempotency-Key draft's rule)."""
    (cid,) = intake(sessions, config, T0, [facts("R-key", T0, customer_ref="key", customer=who(language="en"))])
    first = send_reply(sessions, config, cid, "We are checking.", actor="agent", at=T0, idempotency_key="k1")
    again = send_reply(sessions, config, cid, "We are checking.\n", actor="agent", at=T0 + timedelta(days=2),
                       idempotency_key="k1")
    assert first.created and not again.created and again.outbox_id == first.outbox_id
    with pytest.raises(InvalidInput) as exc:
        send_reply(sessions, config, cid, "Refund approved.", actor="agent", at=T0 + timedelta(minutes=1),
                   idempotency_key="k1")
    assert exc.value.field == "idempotency_key" and str(first.outbox_id) in exc.value.problem
    assert [r.id for r in _outbox(sessions, "customer:reply:")] == [first.outbox_id]


def test_without_a_key_the_same_text_is_a_double_submit_within_ten_minutes_and_a_new_reply_later(sessions, config):
    """Without a key: the same text within 10 minutes of an earlier reply (keyed or not) is that reply; later
    it is a deliberate second reply and goes out."""
    (cid,) = intake(sessions, config, T0, [facts("R-win", T0, customer_ref="win", customer=who(language="en"))])
    keyed = send_reply(sessions, config, cid, "We are checking.", actor="agent", at=T0, idempotency_key="k1")
    double = send_reply(sessions, config, cid, "We are checking.", actor="agent", at=T0 + timedelta(minutes=9))
    assert not double.created and double.outbox_id == keyed.outbox_id
    later = send_reply(sessions, config, cid, "We are checking.", actor="agent", at=T0 + timedelta(minutes=11))
    twice = send_reply(sessions, config, cid, "We are checking.", actor="agent", at=T0 + timedelta(minutes=12))
    assert later.created and later.outbox_id != keyed.outbox_id
    assert not twice.created and twice.outbox_id == later.outbox_id
    assert len(_outbox(sessions, "customer:reply:")) == 2


def test_a_reply_needs_a_reachable_customer_and_text_and_lands_on_the_merge_survivor(sessions, config):
    a, b, c = intake(sessions, config, T0, [facts("M-1", T0, customer_ref="m", customer=who()),
                                            facts("M-2", T0, customer_ref="m", category="other"),
                                            facts("M-3", T0, customer_ref="nobody")])
    with pytest.raises(InvalidInput, match="customer"):
        send_reply(sessions, config, c, "hello", actor="a", at=T0)
    with pytest.raises(InvalidInput, match="text"):
        send_reply(sessions, config, a, "   ", actor="a", at=T0)
    assert _outbox(sessions, "customer:reply:") == []
    complaint_svc.merge(sessions, b, a, config=config, reason="same", actor="mgr", at=T0 + timedelta(minutes=5))
    r = send_reply(sessions, config, b, "merged", actor="a", at=T0 + timedelta(minutes=10))
    assert r.complaint_id == a and r.key.startswith(f"customer:reply:{a}:")


def _resolve_all(sessions, config, cid, at, outcome):
    """Complete every task (dependent ones as they unblock) until the complaint resolves."""
    for _ in range(5):
        for t in _tasks(sessions, cid):
            if t.status in ("open", "acknowledged", "in_progress"):
                task_svc.complete(sessions, t.id, config=config, actor="dept", at=at, outcome=outcome,
                                  root_cause=next(iter(config.model.improvement.root_causes)))


def test_milestones_are_told_once_each_in_chinese_by_the_sweep(sessions, config):
    (cid,) = intake(sessions, config, T0, [facts("S-1", T0, customer_ref="s", customer=who(),
                                                 product="Credit reporting", category="Credit reporting")])
    first = _tasks(sessions, cid)[0]

    def swept(hours: int) -> None:  # each change told by the sweep after it, while it is still true
        for _ in range(2):
            sweep(sessions, config, T0 + timedelta(hours=hours, minutes=5))

    task_svc.transfer(sessions, first.id, config=config, to="product", reason="需要产品部核实<数据>",
                      actor="ops", at=T0 + timedelta(hours=1))
    swept(1)
    lifecycle.await_customer(sessions, cid, config=config, reason="请提供账单截图\n以及身份证明", actor="ops",
                             at=T0 + timedelta(hours=2), max_business_hours=16)
    swept(2)
    add_reply = T0 + timedelta(hours=3)
    add_message(sessions, cid, config=config, direction="inbound", body="附件已发送", author="customer", at=add_reply)
    _resolve_all(sessions, config, cid, T0 + timedelta(hours=4), "已退还多收的费用 35 元")
    swept(4)
    lifecycle.reopen(sessions, cid, config=config, reason="顾客反映仍被扣费", actor="mgr", at=T0 + timedelta(hours=5))
    swept(5)
    got = {o.idempotency_key.split(":")[1]: o for o in _outbox(sessions, "customer:")}
    assert sorted(got) == ["acknowledged", "reopened", "resolved", "transferred", "waiting"]
    assert len(_outbox(sessions, "customer:")) == 5  # two sweeps: each once
    assert "已转交产品部处理，原因：需要产品部核实<数据>" in got["transferred"].body
    assert "&lt;数据&gt;" in got["transferred"].payload["html"]
    assert "请提供账单截图\n以及身份证明" in got["waiting"].body and "协调世界时+08:00" in got["waiting"].body
    assert "已退还多收的费用 35 元" in got["resolved"].body
    assert "顾客反映仍被扣费" in got["reopened"].body
    for o in got.values():
        assert o.target == MAIL and o.payload["language"] == "zh"


def test_milestones_follow_the_configuration(sessions):
    from closeloop.config import load_config

    text = load_config().text.replace(
        'milestones = ["acknowledged", "transferred", "waiting", "resolved", "reopened", "follow_up", "improved"]',
        'milestones = ["waiting"]')
    assert 'milestones = ["waiting"]' in text  # the replacement took
    cfg = parse_config(text, "test")
    (cid,) = intake(sessions, cfg, T0, [facts("Q-1", T0, customer_ref="q", customer=who("en"))])
    lifecycle.await_customer(sessions, cid, config=cfg, reason="your invoice", actor="ops", at=T0 + timedelta(hours=1))
    _resolve_all(sessions, cfg, cid, T0 + timedelta(hours=2), "refunded")
    sweep(sessions, cfg, T0 + timedelta(hours=3))
    (only,) = _outbox(sessions, "customer:")
    assert only.idempotency_key.startswith("customer:waiting:") and "your invoice" in only.body


def test_updates_reach_the_smtp_server_once_each_and_thread(sessions, config, smtp_server):  # noqa: F811
    url, inbox = smtp_server
    (cid,) = intake(sessions, config, T0, [facts("E-1", T0, customer_ref="e", customer=who(
        "en", name="<script>alert(1)</script>"))])
    send_reply(sessions, config, cid, "Line one\nLine <two>", actor="agent", at=T0 + timedelta(minutes=5))
    lifecycle.await_customer(sessions, cid, config=config, reason="a receipt", actor="ops", at=T0 + timedelta(hours=1))
    sweep(sessions, config, T0 + timedelta(hours=2))
    sender = RoutingSender({"email": SmtpSender(url, "care@example.org", 5)})
    for worker in ("a", "b"):
        asyncio.run(deliver_once(sessions, sender, FixedClock(T0 + timedelta(hours=2)), worker=worker))
    sweep(sessions, config, T0 + timedelta(hours=3))
    asyncio.run(deliver_once(sessions, sender, FixedClock(T0 + timedelta(hours=3)), worker="c"))
    mails = inbox.to(MAIL)
    assert len(mails) == len(inbox.messages) == 3
    ack, reply, waiting = sorted(mails, key=lambda m: ("We have" not in m["Subject"], "reply" not in m["Subject"]))
    assert reply["In-Reply-To"] == ack["Message-ID"] == waiting["References"]
    html = reply.get_body(("html",)).get_content()
    assert "Line one<br>" in html and "Line &lt;two&gt;" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html and reply["Auto-Submitted"] is None and waiting["Auto-Submitted"] == "auto-generated"


def test_cli_reply_outbound_sends_and_with_a_channel_records_a_call(tmp_path, monkeypatch):
    from sqlalchemy.orm import sessionmaker

    from closeloop.cli import app
    from closeloop.config import load_config
    from closeloop.settings import Settings
    from models.db import make_engine

    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    sessions = sessionmaker(make_engine(Settings().database_url), expire_on_commit=False)
    (cid,) = intake(sessions, load_config(), T0, [facts("C-1", T0, customer_ref="c", customer=who("en"))])
    res = runner.invoke(app, ["complaints", "reply", str(cid), "--outbound", "--text", "We refunded you."])
    assert res.exit_code == 0 and "queued" in res.output, res.output
    res = runner.invoke(app, ["complaints", "reply", str(cid), "--outbound", "--text", "We refunded you."])
    assert "already sent" in res.output
    res = runner.invoke(app, ["complaints", "reply", str(cid), "--outbound", "--channel", "phone", "--text", "called"])
    assert res.exit_code == 0 and "recorded" in res.output
    assert len(_outbox(sessions, "customer:reply:")) == 1
    with sessions() as s:
        assert s.scalar(select(Message.outbox_id).where(Message.channel == "phone")) is None
    # a channel that is no contact kind is refused by name with the accepted ones; nothing is recorded
    for args in (["--channel", "pigeon"], ["--outbound", "--channel", "pigeon"]):
        res = runner.invoke(app, ["complaints", "reply", str(cid), *args, "--text", "coo"])
        said = " ".join(res.output.split())
        assert res.exit_code == 2 and "'--channel'" in said and "'email', 'phone', 'chat'" in said, res.output
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.body == "coo")) == 0


def _dropped(sessions, cid):
    from models.tables import Notification

    with sessions() as s:
        return sorted((n.key.split(":")[1], n.dropped_reason, n.role) for n in s.scalars(
            select(Notification).where(Notification.complaint_id == cid, Notification.status == "dropped")))


def test_a_wait_that_runs_out_tells_the_customer_it_closed_in_their_language_and_nothing_stale(sessions, config):
    """Tester 2, issue 1: the close of a wait that ran out is one mail to the customer (their language, their
    channel: why it closed and that a reply reopens it), not a staff digest line for "customer", and no
    "resolved" mail. A catch-up sweep that finds the wait already over does not send the "please answer by"
    mail (its deadline passed, the complaint closed): that one is kept dropped with its reason."""
    from models.tables import Notification

    (cid,) = intake(sessions, config, T0, [facts("W-1", T0, customer_ref="w", customer=who())])
    lifecycle.await_customer(sessions, cid, config=config, reason="请提供对账单", actor="ops",
                             at=T0 + timedelta(hours=1), max_business_hours=2)
    for _ in range(2):  # one late sweep finds the wait over: the closing, then the customer step
        sweep(sessions, config, T0 + timedelta(days=2))
    told = {o.idempotency_key.split(":")[1]: o for o in _outbox(sessions, "customer:")}
    assert sorted(told) == ["acknowledged", "closed"]
    closed = told["closed"]
    assert (closed.channel, closed.target, closed.payload["language"]) == ("email", MAIL, "zh")
    assert "由于在期限内未收到您的回复，我们已关闭该投诉" in closed.body and "请提供对账单" in closed.body
    assert "回复本邮件" in closed.body and closed.subject == f"[CL-{cid}] 由于未收到您的回复，您的投诉已关闭"
    with sessions() as s:
        assert s.scalars(select(Notification).where(Notification.role == "customer",
                                                    Notification.status != "dropped")).all() == []
        assert s.scalars(select(Outbox).where(Outbox.recipient == "customer")).all() == []
    assert _dropped(sessions, cid) == [("waiting", "complaint_closed", "customer")]


def test_one_catch_up_sweep_tells_the_customer_one_transfer_naming_who_holds_it(sessions, config):
    """Tester 2, issue 2: four transfers in a row, one sweep: one "now with" mail, naming the department of the
    last (it holds the work when the mail is queued); the three earlier ones are dropped as superseded. A
    transfer whose department finished the work before the sweep is dropped (``task_done``), not told."""
    (cid,) = intake(sessions, config, T0, [facts("T-1", T0, customer_ref="t", customer=who("en"),
                                                 product="Mortgage", category="Mortgage")])
    tid = next(t.id for t in _tasks(sessions, cid) if t.department == "operations")
    for n, dep in enumerate(["product", "operations", "product", "service"], start=1):
        task_svc.transfer(sessions, tid, config=config, to=dep, reason=f"hop {n}", actor="ops",
                          at=T0 + timedelta(minutes=n))
        tid = max(t.id for t in _tasks(sessions, cid))
    first, again = (sweep(sessions, config, T0 + timedelta(minutes=10)).as_dict() for _ in range(2))
    (mail,) = _outbox(sessions, "customer:transferred:")
    assert "is now with Customer service, because: hop 4" in mail.body
    assert _dropped(sessions, cid) == [("transferred", "superseded", "customer")] * 3
    assert first["customer_dropped"] == {"superseded": 3} and "customer_dropped" not in again  # counted once
    task_svc.transfer(sessions, tid, config=config, to="operations", reason="hop 5", actor="svc",
                      at=T0 + timedelta(minutes=20))
    last = max(t.id for t in _tasks(sessions, cid))
    task_svc.complete(sessions, last, config=config, actor="ops", at=T0 + timedelta(minutes=25), outcome="corrected",
                      root_cause=next(iter(config.model.improvement.root_causes)))
    report = sweep(sessions, config, T0 + timedelta(minutes=30))
    assert len(_outbox(sessions, "customer:transferred:")) == 1
    assert _dropped(sessions, cid)[-1] == ("transferred", "task_done", "customer")
    assert report.customer_dropped == {"task_done": 1}
    assert json.loads(json.dumps(report.as_dict()))["customer_dropped"] == {"task_done": 1}


def _one(sessions, prefix):
    (row,) = _outbox(sessions, prefix)
    return row


def _swept(sessions, config, at):
    for _ in range(2):
        sweep(sessions, config, at)


def _latin_beyond_number(row, cid) -> list[str]:
    return re.findall(r"[A-Za-z]+", (row.subject + row.body).replace(f"CL-{cid}", ""))


def test_a_chinese_customer_reads_the_engines_reasons_in_chinese_customer_words(sessions, config):
    """Resolved by its tasks with no outcome: the resolved mail says in Chinese customer words that the
    departments finished (not the audit sentence "all department tasks are finished"); the customer's next
    mail (by email) reopens it and the reopen mail says in Chinese that their message came in (not "customer
    message via email"); later a "not solved" answered by link says they told us so. No Latin letters beyond
    the complaint number in any of them."""
    (cid,) = intake(sessions, config, T0, [facts("Z-1", T0, customer_ref="z", customer=who())])
    _resolve_all(sessions, config, cid, T0 + timedelta(hours=1), "")
    _swept(sessions, config, T0 + timedelta(hours=1, minutes=5))
    resolved = _one(sessions, "customer:resolved:")
    assert "相关部门已完成对您投诉的处理。" in resolved.body
    assert _latin_beyond_number(resolved, cid) == [], resolved.body
    add_message(sessions, cid, config=config, direction="inbound", body="还是不行", author="customer",
                channel="email", at=T0 + timedelta(hours=2))
    _swept(sessions, config, T0 + timedelta(hours=2, minutes=5))
    reopened = _one(sessions, "customer:reopened:")
    assert "原因：我们收到了您的新消息。" in reopened.body
    assert _latin_beyond_number(reopened, cid) == [], reopened.body
    _resolve_all(sessions, config, cid, T0 + timedelta(hours=3), "已退款")
    _swept(sessions, config, T0 + timedelta(days=10))  # the follow-up task is due
    (ask,) = [t for t in _tasks(sessions, cid) if t.kind == "follow-up" and t.status == "open"]
    lifecycle.record_follow_up(sessions, ask.id, config=config, satisfied=False, actor="customer",
                               note=system_reason(SystemReason.CUSTOMER_ANSWER_BY_LINK),
                               at=T0 + timedelta(days=10, hours=1))
    _swept(sessions, config, T0 + timedelta(days=10, hours=2))
    again = _outbox(sessions, "customer:reopened:")[-1]
    assert "原因：您告诉我们问题仍未解决。" in again.body and _latin_beyond_number(again, cid) == [], again.body


def test_a_persons_reason_reaches_the_customer_as_written_and_english_wording_stays(sessions, config):
    """A reason a person typed is passed through unchanged (English to a Chinese customer too, even when it
    starts like one of the engine's); an English customer reads the same customer wording as before for a
    task's outcome and a person's reason, and customer words for the engine's causes."""
    zh, en = intake(sessions, config, T0, [facts("P-1", T0, customer_ref="p1", customer=who()),
                                           facts("P-2", T0, customer_ref="p2", customer=who("en", "Li Lei",
                                                                                          "li@example.com"))])
    rc = next(iter(config.model.improvement.root_causes))
    lifecycle.resolve(sessions, zh, config=config, reason="all department tasks are finished, I think",
                      actor="mgr", at=T0 + timedelta(hours=1), root_cause=rc)
    _resolve_all(sessions, config, en, T0 + timedelta(hours=1), "We refunded the fee of 35 USD.")
    _swept(sessions, config, T0 + timedelta(hours=1, minutes=5))
    resolved = {int(o.idempotency_key.split(":")[2]): o for o in _outbox(sessions, "customer:resolved:")}
    assert "处理结果如下：\n\nall department tasks are finished, I think\n" in resolved[zh].body
    assert "The outcome:\n\nWe refunded the fee of 35 USD.\n" in resolved[en].body
    lifecycle.reopen(sessions, zh, config=config, reason="Refund reversed by the bank", actor="mgr",
                     at=T0 + timedelta(hours=2))
    add_message(sessions, en, config=config, direction="inbound", body="still charged", author="customer",
                channel="email", at=T0 + timedelta(hours=2))
    _swept(sessions, config, T0 + timedelta(hours=2, minutes=5))
    reopened = {int(o.idempotency_key.split(":")[2]): o for o in _outbox(sessions, "customer:reopened:")}
    assert f"我们已重新开启您的投诉 CL-{zh}，原因：Refund reversed by the bank\n" in reopened[zh].body
    assert f"we have reopened your complaint CL-{en}: we have received a new message from you.\n" in (
        reopened[en].body)
    assert "customer message" not in reopened[en].body


def test_a_persons_reason_worded_like_the_engines_reaches_the_customer_as_typed(sessions, config):
    """A person resolves and reopens with the exact words of the engine's own reasons: the Chinese customer
    reads them as typed, not the customer wording of the engine's causes ("the departments finished", "we
    received your new message") that reading the stored English back gave them."""
    (cid,) = intake(sessions, config, T0, [facts("P-3", T0, customer_ref="p3", customer=who())])
    lifecycle.resolve(sessions, cid, config=config, reason="all department tasks are finished", actor="mgr",
                      at=T0 + timedelta(hours=1), root_cause=next(iter(config.model.improvement.root_causes)))
    _swept(sessions, config, T0 + timedelta(hours=1, minutes=5))
    resolved = _one(sessions, "customer:resolved:")
    assert "处理结果如下：\n\nall department tasks are finished\n" in resolved.body
    assert "相关部门已完成" not in resolved.body
    lifecycle.reopen(sessions, cid, config=config, reason="customer message via email", actor="mgr",
                     at=T0 + timedelta(hours=2))
    _swept(sessions, config, T0 + timedelta(hours=2, minutes=5))
    reopened = _one(sessions, "customer:reopened:")
    assert f"我们已重新开启您的投诉 CL-{cid}，原因：customer message via email\n" in reopened.body


def test_a_wait_without_a_reason_closes_in_customer_words_not_an_english_placeholder(sessions, config):
    """A wait row without a reason (one written before the guard asked for one): the close stored the English
    word "waiting" as what was asked, and the Chinese customer's "closed" mail showed it. Now none is stored
    and the template words it in the customer's language."""
    (cid,) = intake(sessions, config, T0, [facts("W-0", T0, customer_ref="w0", customer=who())])
    lifecycle.await_customer(sessions, cid, config=config, reason="请提供对账单", actor="ops",
                             at=T0 + timedelta(hours=1), max_business_hours=2)
    drop_wait_reason(sessions, cid)  # as a row from before the guard
    for _ in range(2):
        sweep(sessions, config, T0 + timedelta(days=2))
    (closed,) = _outbox(sessions, "customer:closed:")
    assert closed.payload["language"] == "zh" and "waiting" not in closed.body
    assert "我们曾请您补充相关信息" in closed.body and "请提供对账单" not in closed.body
    with sessions() as s:
        from models.tables import Transition as T

        rows = s.scalars(select(T).where(T.entity == "complaint", T.entity_id == cid, T.trigger == "resolve")).all()
        assert [r.data["wait_reason"] for r in rows] == [None]
