"""Issue 13, slices 1-2: customer contact points, the acknowledgement through the outbox and a real SMTP
server, the first-response clock, and erasure. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from closeloop.clock import FixedClock
from closeloop.domain.customer import ContactPoint, CustomerProfile
from closeloop.domain.errors import InvalidInput, NotFound
from closeloop.domain.reasons import SystemReason
from closeloop.services.customers.notices import NoticeKind, local_time, render
from closeloop.services.customers.profiles import forget
from closeloop.services.engine.clocks import complaint_clocks
from closeloop.services.engine.delivery import deliver_once
from closeloop.services.work import tasks as task_svc
from closeloop.services.work.messages import add_message
from integrations.senders import RoutingSender
from integrations.smtp import SmtpSender
from models.tables import Complaint, Customer, CustomerContact, Message, Outbox, Task, Transition

from .helpers import facts, intake, run_import, write_csv
from .smtp_server import smtp_server  # noqa: F401 - fixture

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York (the default calendar)
NAME = "王小明"
MAIL = "xiaoming@example.com"


def profile(name=NAME, language="zh", mail=MAIL, consent=True, **kw) -> CustomerProfile:
    contacts = (ContactPoint("email", mail, consent, kw.pop("verified", False)),) if mail else ()
    return CustomerProfile(name, language, kw.pop("time_zone", "Asia/Shanghai"), contacts + kw.pop("more", ()))


def _acks(sessions):
    with sessions() as s:
        return s.scalars(select(Outbox).where(Outbox.idempotency_key.like("customer:acknowledged:%"))
                         .order_by(Outbox.id)).all()


def _personal_strings_absent(sessions, *needles: str) -> None:
    """No audit row (reason or data) mentions any of ``needles``."""
    with sessions() as s:
        for reason, data in s.execute(select(Transition.reason, Transition.data)):
            blob = (reason or "") + json.dumps(data, ensure_ascii=False)
            for n in needles:
                assert n.lower() not in blob.lower(), f"audit row carries personal data {n!r}: {blob}"


def test_intake_stores_the_profile_and_acknowledges_through_the_outbox(sessions, config):
    (cid,) = intake(sessions, config, T0, [facts("C-1", T0, customer_ref="cust-1", customer=profile(
        more=(ContactPoint("phone", "+86 138 0000 0000", consent=False),)))])
    with sessions() as s:
        cust = s.scalar(select(Customer).where(Customer.ref == "cust-1"))
        assert (cust.display_name, cust.language, cust.time_zone) == (NAME, "zh", "Asia/Shanghai")
        points = {(c.kind, c.value, c.consent) for c in s.scalars(select(CustomerContact))}
        assert points == {("email", MAIL, True), ("phone", "+86 138 0000 0000", False)}
        due = s.get(Complaint, cid).due_at
    (ack,) = _acks(sessions)
    assert (ack.channel, ack.target, ack.recipient) == ("email", MAIL, f"customer {cust.id}")
    assert ack.idempotency_key == f"customer:acknowledged:{cid}"
    assert f"[CL-{cid}]" in ack.subject and f"CL-{cid}" in ack.body
    local = due.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（协调世界时+08:00）" in ack.body
    assert NAME not in json.dumps({k: v for k, v in ack.payload.items() if k != "html"}, ensure_ascii=False)
    with sessions() as s:
        (msg,) = s.scalars(select(Message).where(Message.complaint_id == cid, Message.direction == "outbound"))
        assert msg.outbox_id == ack.id and msg.channel == "email"
    _personal_strings_absent(sessions, NAME, MAIL, "138 0000")


def test_a_customer_without_consent_or_contact_gets_no_message(sessions, config):
    intake(sessions, config, T0, [facts("N-1", T0, customer_ref="n1", customer=profile(consent=False)),
                                  facts("N-2", T0, customer_ref="n2"),
                                  facts("N-3", T0, customer_ref="n3", customer=profile(mail=None))])
    assert _acks(sessions) == []


def test_a_later_intake_updates_the_profile_and_consent_and_acknowledges_once_per_complaint(sessions, config):
    intake(sessions, config, T0, [facts("U-1", T0, customer_ref="u", customer=profile(consent=False))])
    (cid,) = intake(sessions, config, T0 + timedelta(hours=1), [facts("U-2", T0, customer_ref="u", customer=profile(
        name=None, language="en", consent=True, verified=True))])
    intake(sessions, config, T0 + timedelta(hours=2), [facts("U-2", T0, customer_ref="u")])  # same reference again
    with sessions() as s:
        cust = s.scalar(select(Customer).where(Customer.ref == "u"))
        assert (cust.display_name, cust.language) == (NAME, "en")  # a field not given keeps its value
        (point,) = s.scalars(select(CustomerContact)).all()
        assert (point.consent, point.verified) == (True, True)
    (ack,) = _acks(sessions)
    assert ack.idempotency_key == f"customer:acknowledged:{cid}" and ack.subject.startswith(f"[CL-{cid}] We have")


def test_bad_contact_points_are_refused_naming_the_field():
    with pytest.raises(InvalidInput, match="contacts.email"):
        ContactPoint("email", "not-an-address")
    with pytest.raises(InvalidInput, match="contacts.phone"):
        ContactPoint("phone", "call me maybe")
    with pytest.raises(InvalidInput, match="contacts.kind"):
        ContactPoint("fax", "123")
    with pytest.raises(InvalidInput, match="customer.time_zone"):
        CustomerProfile(time_zone="Mars/Olympus")
    with pytest.raises(InvalidInput, match="customer_ref"):
        facts("X", T0, customer=profile())


def test_import_takes_customer_columns_in_csv_and_jsonl(sessions, config, clock, tmp_path):
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))  # after the rows' received_at (future dates are refused)
    header = ["external_ref", "received_at", "category", "customer_ref", "customer_name", "customer_language",
              "customer_time_zone", "customer_email", "customer_email_consent", "customer_phone"]
    path = write_csv(tmp_path / "in.csv", header, [
        ["I-1", "2026-03-02T09:00:00Z", "billing", "r1", "Ann <b>Lee</b>", "en", "Europe/Berlin", "ann@example.com",
         "yes", "+49 30 1234567"],
        ["I-2", "2026-03-02T09:00:00Z", "billing", "r2", "", "", "", "bad-address", "yes", ""],
        ["I-3", "2026-03-02T09:00:00Z", "billing", "r3", "", "", "", "c@example.com", "maybe", ""],
    ])
    report = run_import(sessions, config, clock, path, skip_bad_rows=True)
    assert report.created == 1
    problems = {(e.column, e.value) for e in report.errors}
    assert problems == {("customer_email", ""), ("customer_email_consent", "maybe")}  # the address is not echoed
    jl = tmp_path / "in.jsonl"
    jl.write_text(json.dumps({"external_ref": "J-1", "received_at": "2026-03-02T09:00:00Z", "customer_ref": "r4",
                              "customer_email": "j@example.com", "customer_email_consent": True,
                              "customer_language": "zh"}) + "\n", "utf-8")
    assert run_import(sessions, config, clock, jl).created == 1
    with sessions() as s:
        got = {c.value: c.consent for c in s.scalars(select(CustomerContact))}
    assert got == {"ann@example.com": True, "+49 30 1234567": False, "j@example.com": True}
    assert sorted(a.target for a in _acks(sessions)) == ["ann@example.com", "j@example.com"]


def _texts_without_number(r, cid) -> str:
    return (r.subject + r.text).replace(f"CL-{cid}", "")


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_template_renders_in_chinese_without_english_and_in_english(kind):
    """Every template key in both languages, with every placeholder filled (and the optional ones empty):
    the Chinese text has no Latin letters beyond the complaint number, the English one no Chinese."""
    at, zone = datetime(2026, 3, 5, 9, 0, tzinfo=UTC), ZoneInfo("Asia/Shanghai")
    zh_ctx = {"name": "李雷", "number": "CL-42", "due": local_time(at, zone, "zh"), "until": local_time(at, zone, "zh"),
              "text": "已为您退款", "department": "产品部", "reason": "需要核实账单", "outcome": "已退还费用",
              "cause": "", "note": ""}
    en_ctx = {"name": "Li Lei", "number": "CL-42", "due": local_time(at, zone, "en"),
              "until": local_time(at, zone, "en"),
              "text": "We refunded you", "department": "Product", "reason": "to check the bill", "outcome": "refunded",
              "cause": "", "note": ""}
    links = {"solved_url": "https://cl.example/f/9/solved?e=1&s=ab", "not_solved_url": "https://cl.example/f/9/no"}
    zh_ctx = {**zh_ctx, **links, "expires": local_time(at, zone, "zh")}  # the follow-up mail's verdict links
    en_ctx = {**en_ctx, **links, "expires": local_time(at, zone, "en")}
    for empty in ({}, {"due": None, "until": None, "name": None}):
        zh = render(kind, "zh", **{**zh_ctx, **empty})
        zh_text = _texts_without_number(zh, 42)
        for url in links.values():
            zh_text = zh_text.replace(url, "")
        assert not re.search(r"[A-Za-z]", zh_text), zh.text
        assert "{" not in zh.text and "CL-42" in zh.subject
        en = render(kind, "en", **{**en_ctx, **empty})
        assert "CL-42" in en.subject and not re.search(r"[\u4e00-\u9fff]", en.subject + en.text)
    zh, en = render(kind, "zh", **zh_ctx), render(kind, "en", **en_ctx)
    assert "李雷" in zh.text and "Li Lei" in en.text
    if kind in (NoticeKind.ACKNOWLEDGED, NoticeKind.WAITING):
        assert "2026年3月5日 17:00（协调世界时+08:00）" in zh.text
        assert "Thursday 5 March 2026, 17:00 (UTC+08:00)" in en.text


#: the engine's causes the customer templates word for a customer (``cause``), with the words each gives
CUSTOMER_WORDING = {
    (NoticeKind.RESOLVED, SystemReason.DEPARTMENT_TASKS_FINISHED): (
        "相关部门已完成对您投诉的处理。", "The departments involved have completed their work on your complaint."),
    (NoticeKind.REOPENED, SystemReason.CUSTOMER_MESSAGE): ("我们收到了您的新消息。",
                                                           "we have received a new message from you."),
    (NoticeKind.REOPENED, SystemReason.CUSTOMER_MESSAGE_NO_CHANNEL): ("我们收到了您的新消息。",
                                                                      "we have received a new message from you."),
    (NoticeKind.REOPENED, SystemReason.CUSTOMER_NOT_SATISFIED): ("您告诉我们问题仍未解决。",
                                                                 "you told us that your problem is not solved."),
    (NoticeKind.REOPENED, SystemReason.CUSTOMER_NOT_SATISFIED_SILENT): (
        "您告诉我们问题仍未解决。", "you told us that your problem is not solved."),
}


@pytest.mark.parametrize(("kind", "cause"), list(CUSTOMER_WORDING))
def test_the_engines_causes_are_worded_for_the_customer_in_their_language(kind, cause):
    """A cause the engine wrote (an audit sentence such as "all department tasks are finished") reaches the
    customer in customer words of their language, never as the audit text; with no task outcome the resolved
    mail says what happened. The audit sentence in ``reason`` is not shown."""
    zh_words, en_words = CUSTOMER_WORDING[(kind, cause)]
    base = {"name": None, "number": "CL-42", "outcome": "", "cause": str(cause), "note": ""}
    zh = render(kind, "zh", **base, reason="AUDIT")
    assert zh_words in zh.text and not re.search(r"[A-Za-z]", _texts_without_number(zh, 42)), zh.text
    en = render(kind, "en", **base, reason="AUDIT")
    assert en_words in en.text and "AUDIT" not in en.text
    if cause is SystemReason.CUSTOMER_NOT_SATISFIED:  # the customer's own words, as written
        assert "您告诉我们问题仍未解决：还是扣费 twice" in render(kind, "zh", **{**base, "note": "还是扣费 twice"},
                                                               reason="AUDIT").text


def test_every_cause_a_customer_template_names_is_a_system_reason():
    """The templates name the engine's causes by their code: a code renamed in the table fails here."""
    from importlib import resources

    named = set()
    for f in resources.files("closeloop.templates").iterdir():
        if f.name.startswith("customer_"):
            for m in re.finditer(r"cause (?:==|in) (\([^)]*\)|\"[^\"]*\")", f.read_text("utf-8")):
                named |= set(re.findall(r'"([^"]*)"', m.group(1)))
    assert named and named <= {str(c) for c in SystemReason}, named - {str(c) for c in SystemReason}
    assert {str(c) for _, c in CUSTOMER_WORDING} == named


def test_a_name_with_markup_is_escaped_in_html_and_kept_literal_in_text():
    r = render(NoticeKind.ACKNOWLEDGED, "en", name="<script>alert(1)</script>", number="CL-7", due=None)
    assert "<script>" not in r.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.html
    assert "<script>alert(1)</script>" in r.text
    assert r.html.count("<br>") >= 1 and r.html.count("<p>") == r.text.strip().count("\n\n") + 1


def _first_response(sessions, config, cid, now):
    with sessions() as s:
        return next(v.clock for v in complaint_clocks(s, s.get(Complaint, cid), config, now)
                    if v.clock.name == "first_response")


def test_internal_acknowledge_does_not_stop_the_first_response_but_a_delivered_message_does(
        sessions, config, smtp_server):  # noqa: F811
    url, inbox = smtp_server
    (cid,) = intake(sessions, config, T0, [facts("F-1", T0, customer_ref="f", customer=profile())])
    with sessions() as s:
        task_id = s.scalars(select(Task.id).where(Task.complaint_id == cid)).first()
    task_svc.acknowledge(sessions, task_id, config=config, actor="agent", at=T0 + timedelta(minutes=30))
    assert _first_response(sessions, config, cid, T0 + timedelta(hours=1)).stopped_at is None
    sent_at = T0 + timedelta(hours=1)
    sender = RoutingSender({"email": SmtpSender(url, "care@example.org", 5)})
    report = asyncio.run(deliver_once(sessions, sender, FixedClock(sent_at), worker="w1"))
    assert report.delivered == 1
    fr = _first_response(sessions, config, cid, T0 + timedelta(hours=3))
    assert fr.stopped_at == sent_at and fr.status == "met"


def test_a_recorded_phone_call_stops_the_first_response_and_an_undelivered_mail_does_not(sessions, config):
    (cid,) = intake(sessions, config, T0, [facts("P-1", T0, customer_ref="p", customer=profile())])
    assert _first_response(sessions, config, cid, T0 + timedelta(hours=2)).stopped_at is None  # ack still pending
    call = T0 + timedelta(hours=2)
    add_message(sessions, cid, config=config, direction="outbound", body="called the customer", author="agent",
                at=call, channel="phone")
    assert _first_response(sessions, config, cid, T0 + timedelta(hours=4)).stopped_at == call


def test_the_acknowledgement_reaches_the_smtp_server_exactly_once_when_delivery_runs_twice(
        sessions, config, smtp_server):  # noqa: F811
    url, inbox = smtp_server
    (cid,) = intake(sessions, config, T0, [facts("S-1", T0, customer_ref="s", customer=profile(
        name="<script>alert(1)</script>", language="en"))])
    sender = RoutingSender({"email": SmtpSender(url, "care@example.org", 5)})

    async def twice_at_once():
        return await asyncio.gather(deliver_once(sessions, sender, FixedClock(T0), worker="a"),
                                    deliver_once(sessions, sender, FixedClock(T0), worker="b"))

    asyncio.run(twice_at_once())
    asyncio.run(deliver_once(sessions, sender, FixedClock(T0 + timedelta(hours=1)), worker="c"))
    (mail,) = inbox.to(MAIL)
    assert len(inbox.messages) == 1
    assert mail["Subject"].startswith(f"[CL-{cid}]") and mail["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<[0-9a-f]{32}@closeloop\.invalid>", mail["Message-ID"])
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "<script>alert(1)</script>" in text and f"CL-{cid}" in text
    assert "<script>" not in html and "&lt;script&gt;" in html
    with sessions() as s:
        assert s.scalar(select(Outbox.status).where(Outbox.idempotency_key == f"customer:acknowledged:{cid}")) \
            == "delivered"


def test_forget_erases_personal_data_keeps_statistics_and_is_audited(sessions, config):
    ids = intake(sessions, config, T0, [facts("G-1", T0, customer_ref="g", text="my card number is 4111",
                                              customer=profile()),
                                        facts("G-2", T0 + timedelta(hours=1), customer_ref="g", text="again")])
    e = forget(sessions, "g", actor="dpo", at=T0 + timedelta(days=1))
    assert (e.contacts, e.complaints, e.outbox) == (1, 2, 2) and e.messages == 4  # 2 inbound + 2 acknowledgements
    with sessions() as s:
        cust = s.scalar(select(Customer).where(Customer.ref == "g"))
        assert (cust.display_name, cust.language, cust.time_zone) == (None, None, None)
        assert cust.complaint_count == 2 and cust.erased_at == T0 + timedelta(days=1)
        assert s.scalars(select(CustomerContact)).all() == []
        assert {m.body for m in s.scalars(select(Message).where(Message.complaint_id.in_(ids)))} == {""}
        for row in s.scalars(select(Outbox)):
            assert (row.target, row.body, row.subject, row.status) == ("erased:", "", "", "dead")  # never sent
        assert s.scalar(select(Complaint.status).where(Complaint.id == ids[0])) == "triaged"
        (audit,) = s.scalars(select(Transition).where(Transition.entity == "customer")).all()
        assert (audit.trigger, audit.actor, audit.entity_id, audit.data["messages"]) == ("forget", "dpo", cust.id, 4)
    _personal_strings_absent(sessions, NAME, MAIL, "4111")
    with pytest.raises(NotFound):
        forget(sessions, "nobody", actor="dpo", at=T0)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_backlog_complaint_past_its_due_instant_is_promised_no_time_already_gone(sessions, config, language):
    """A complaint received weeks before it is taken in (a backlog import) is already past its resolve due
    instant: its acknowledgement apologises and promises no date in the past; a fresh one keeps its date."""
    late_at = T0 - timedelta(days=60)
    late, fresh = intake(sessions, config, T0, [
        facts("C-old", late_at, customer_ref="c-old", customer=profile(language=language, mail="old@example.com")),
        facts("C-new", T0, customer_ref="c-new", customer=profile(language=language, mail="new@example.com"))])
    with sessions() as s:
        assert s.get(Complaint, late).due_at < T0 < s.get(Complaint, fresh).due_at
    bodies = {a.idempotency_key: a.body for a in _acks(sessions)}
    old, new = bodies[f"customer:acknowledged:{late}"], bodies[f"customer:acknowledged:{fresh}"]
    apology, promise = {"zh": ("很抱歉", "我们承诺在"), "en": ("We are sorry", "We promise you an answer by")}[language]
    assert apology in old and promise not in old
    assert promise in new and apology not in new


def test_a_login_to_a_relay_without_starttls_is_a_dead_letter_naming_starttls_not_a_retry(
        sessions, config, smtp_server):  # noqa: F811
    """``smtp://u:p@host`` against a relay without STARTTLS was retried for a day ("SMTPNotSupportedError at
    connect"): it is a configuration error, so the row is dead-lettered at once with the reason."""
    url, inbox = smtp_server
    with_login = url.replace("smtp://", "smtp://u:p@")
    (cid,) = intake(sessions, config, T0, [facts("S-tls", T0, customer_ref="t", customer=profile(language="en"))])
    sender = RoutingSender({"email": SmtpSender(with_login, "care@example.org", 5)})
    report = asyncio.run(deliver_once(sessions, sender, FixedClock(T0), worker="a"))
    assert not inbox.messages and report.rejected >= 1
    with sessions() as s:
        row = s.scalar(select(Outbox).where(Outbox.idempotency_key == f"customer:acknowledged:{cid}"))
    assert (row.status, row.dead_reason, row.attempts) == ("dead", "rejected", 1)
    assert "does not offer STARTTLS" in row.last_error and "login requires it" in row.last_error
    assert "u:p" not in row.last_error
