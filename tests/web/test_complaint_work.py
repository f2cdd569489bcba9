"""Issue 14 on the dashboard (SQLite and PostgreSQL): the customer page, work from the complaint page
(internal note, priority, wait on the customer, resolve with a root cause) and the queue's SLA badges.

Each form: the happy path, a bad input whose message names the field, a role (or department) that may
not. The badges' values are computed by hand on the default calendar (New York, Mon-Fri 09:00-17:00;
EST = UTC-5 in the first week of March 2026).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from closeloop.domain.customer import CustomerProfile
from closeloop.services.customers.promises import make_promise
from closeloop.services.work import lifecycle
from models.tables import Complaint, Customer, Message, Task, Transition
from tests.web.conftest import T0, csrf_of, facts, intake

NAME = '<script>alert("x")</script> 王'


def _post(c, cid: int, action: str, **fields):
    """Post the complaint page's ``action`` form with the version that form shows (unless ``version`` is given)."""
    page = c.get(f"/complaints/{cid}").text
    shown = re.search(rf'action="/complaints/{cid}/work/{action}".*?name="version" value="(\d+)"', page, re.S)
    version = {"version": shown.group(1)} if shown and action != "note" else {}
    return c.post(f"/complaints/{cid}/work/{action}", data={"csrf": csrf_of(page), **version, **fields})


def _shown(c, r) -> str:
    """The page a form's redirect lands on (the flash message's text, unescaped)."""
    assert r.status_code == 303, r.text
    page = c.get(r.headers["location"]).text
    m = re.search(r'<div class="flash (\w+)" id="flash"[^>]*>(.*?)</div>', page, re.S)
    assert m, "no message on the page"
    return m.group(1) + ": " + html.unescape(m.group(2))


def _complaint(web, cid: int) -> Complaint:
    with web.app.sessions() as s:
        return s.get_one(Complaint, cid)


# --- the customer page --------------------------------------------------------------------------------

@pytest.fixture
def customer(web, config, clock):
    """Customer ``cw`` (a name with markup): a credit-reporting complaint (operations) and a payday-loan one
    (product, service); returns their ids."""
    at = T0 - timedelta(hours=1)
    ids = intake(web.app.sessions, config, clock.now(), [
        facts("CW-1", at, product="Credit reporting", category="Credit reporting", customer_ref="cw",
              customer=CustomerProfile(NAME, "zh", "Asia/Shanghai")),
        facts("CW-2", at, product="Payday loan", category="Payday loan", customer_ref="cw"),
        facts("CV-1", at, product="Payday loan", category="Payday loan", customer_ref="cv")])
    make_promise(web.app.sessions, config, ids[0], department="operations", kind="call_back", business_hours=3,
                 actor="agent", at=clock.now())
    return ids


def test_the_customer_page_escapes_the_name_and_follows_the_scope(web, customer):
    credit, lending, _ = customer
    manager = web.signin("manager")
    page = manager.get("/customers/cw")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; 王" in page.text
    assert f'id="complaint-{credit}"' in page.text and f'id="complaint-{lending}"' in page.text
    assert re.search(r'id="promises-made">1<', page.text) and re.search(r'id="promises-open">1<', page.text)
    member = web.signin("member")  # operations: only the credit-reporting complaint
    mine = member.get("/customers/cw").text
    assert f'id="complaint-{credit}"' in mine and f'id="complaint-{lending}"' not in mine
    assert "1 shown to you" in mine
    refused = member.get("/customers/cv")
    main = refused.text.split("<main>")[1]
    assert refused.status_code == 403 and "None of this customer" in main and "cv" not in main
    assert member.get("/customers/nobody").status_code == 404
    assert web.signin("admin").get("/customers/cw").status_code == 403
    assert web.client().get("/customers/cw").status_code == 303  # to the sign-in form


def test_the_complaint_page_and_the_search_results_link_the_customer(web, customer):
    credit = customer[0]
    c = web.signin("member")
    assert 'href="/customers/cw" id="customer-link"' in c.get(f"/complaints/{credit}").text
    results = c.get("/complaints?q=cw").text
    assert 'href="/customers/cw" class="customer-link"' in results


def test_a_legacy_customer_whose_ref_no_path_carries_is_reached_by_the_query_form(web, config, clock):
    """A customer stored as '..' before intake refused such refs: the link is /customers?ref=.. and answers."""
    with web.app.sessions.begin() as s:
        s.execute(insert(Customer).values(ref="..", complaint_count=0))
    [cid] = intake(web.app.sessions, config, clock.now(), [
        facts("LG-1", T0 - timedelta(hours=1), product="Credit reporting", category="Credit reporting",
              customer_ref="..")])
    m = web.signin("manager")
    link = html.unescape(re.search(r'<a href="([^"]+)" id="customer-link">', m.get(f"/complaints/{cid}").text)
                         .group(1))
    assert link == "/customers?ref=.."
    page = m.get(link)
    assert page.status_code == 200 and f'id="complaint-{cid}"' in page.text


# --- the complaint page's forms -----------------------------------------------------------------------

def test_a_customer_ref_with_a_slash_or_dots_is_reachable_from_its_link(web, config, clock):
    """Refs the intake takes ("/" inside, dots that are not a whole part) have a customer page the link reaches."""
    at = T0 - timedelta(hours=1)
    refs = ["acct/7", "...", "a/..b"]
    ids = intake(web.app.sessions, config, clock.now(), [
        facts(f"SL-{i}", at, product="Credit reporting", category="Credit reporting", customer_ref=ref)
        for i, ref in enumerate(refs)])
    m = web.signin("manager")
    for cid, ref in zip(ids, refs, strict=True):
        link = re.search(r'<a href="([^"]+)" id="customer-link">', m.get(f"/complaints/{cid}").text).group(1)
        page = m.get(html.unescape(link))
        assert page.status_code == 200 and f'id="complaint-{cid}"' in page.text, (ref, link)


def test_an_internal_note_is_stored_and_shown_escaped(web, complaints):
    cid = complaints[0]
    c = web.signin("member")
    r = _post(c, cid, "note", body="checked the ledger <b>twice</b>")
    assert _shown(c, r) == "ok: Note added."
    with web.app.sessions() as s:
        (msg,) = s.scalars(select(Message).where(Message.complaint_id == cid, Message.direction == "internal"))
    assert msg.author == "web:member (member@operations)" and msg.body == "checked the ledger <b>twice</b>"
    assert "internal note</span> checked the ledger &lt;b&gt;twice&lt;/b&gt;" in c.get(f"/complaints/{cid}").text
    assert _shown(c, _post(c, cid, "note", body="   ")) == (
        "err: “Note (colleagues only, never sent to the customer)” is required (body).")
    assert _shown(c, _post(c, cid, "note", body="x" * 5001)).endswith(
        "is longer than 5000 characters (body): nothing was changed.")
    outsider = web.signin("member_product")  # the credit-reporting complaint has no product task
    assert _post(outsider, complaints[2], "note", body="ok").status_code == 303  # its own: fine
    page = outsider.get(f"/complaints/{complaints[2]}").text
    r = outsider.post(f"/complaints/{cid}/work/note", data={"csrf": csrf_of(page), "body": "peek"})
    assert r.status_code == 403 and "has no task in your department" in r.text
    assert c.post(f"/complaints/{cid}/work/note", data={"body": "no csrf"}).status_code == 403


def test_reprioritize_needs_a_reason_and_a_lead(web, complaints):
    cid = complaints[0]
    lead = web.signin("lead")  # Chinese
    assert _shown(lead, _post(lead, cid, "reprioritize", severity="P1", reason="")) == "err: 请填写“原因”（reason）。"
    current = _complaint(web, cid).severity
    assert _shown(lead, _post(lead, cid, "reprioritize", severity=current, reason="same")) == (
        f"err: “新优先级”（severity）：投诉 {cid} 已经是 {current}。未作任何修改。")
    r = _post(lead, cid, "reprioritize", severity="P1", reason="the regulator asked")
    assert _shown(lead, r) == "ok: 优先级已调整。" and _complaint(web, cid).severity == "P1"
    member = web.signin("member")
    assert 'id="work-reprioritize"' not in member.get(f"/complaints/{cid}").text
    r = _post(member, cid, "reprioritize", severity="P2", reason="mine")
    assert r.status_code == 403 and "Your role may not do this" in r.text and _complaint(web, cid).severity == "P1"


def test_wait_on_the_customer_with_a_local_until(web, complaints):
    cid = complaints[0]
    c = web.signin("member")
    assert _shown(c, _post(c, cid, "wait", reason="the statement", until="next week")) == (
        "err: “Wait at most until” (until): not a date and time. Nothing was changed.")
    # the service's own reason, as the API gives it (the page said only "is not valid here")
    past = _shown(c, _post(c, cid, "wait", reason="the statement", until="2026-02-01T10:00"))
    assert past == "err: “Wait at most until” (until): must be later than the start of the wait. Nothing was changed."
    assert _complaint(web, cid).status != "awaiting_customer"
    r = _post(c, cid, "wait", reason="a copy of the statement", until="2026-03-10T17:00")
    assert _shown(c, r).startswith("ok: Waiting on the customer")
    assert _complaint(web, cid).status == "awaiting_customer"
    with web.app.sessions() as s:
        data = s.scalar(select(Transition.data).where(Transition.entity == "complaint", Transition.entity_id == cid,
                                                      Transition.trigger == "await_customer"))
    assert data == {"until": datetime(2026, 3, 10, 21, 0, tzinfo=UTC).isoformat(),  # 17:00 in New York (EDT)
                    "system_reason": None}  # the reason is a person's
    assert 'id="work-wait"' not in c.get(f"/complaints/{cid}").text  # waiting already
    assert web.signin("admin").post(f"/complaints/{cid}/work/wait", data={"csrf": "x"}).status_code == 403


@pytest.mark.parametrize("action, fields", [("reprioritize", {"severity": "P1"}), ("wait", {"until": ""}),
                                             ("resolve", {"root_cause": "process_gap"})])
def test_every_state_changing_form_checks_the_version_it_was_shown(web, complaints, config, action, fields):
    """Priority and wait ignored the form's version: a second manager's stale form overwrote the first's change."""
    cid = complaints[0]
    m = web.signin("manager")
    page = m.get(f"/complaints/{cid}").text
    shown = re.search(rf'action="/complaints/{cid}/work/{action}".*?name="version" value="(\d+)"', page, re.S)
    assert shown and shown.group(1) == str(_complaint(web, cid).version)  # the form carries what the page showed
    lifecycle.reprioritize(web.app.sessions, cid, "P4", config=config, reason="another manager", actor="x",
                           at=web.app.clock.now())  # after the page was loaded
    before = _complaint(web, cid)
    data = {"csrf": csrf_of(page), "reason": "mine", **fields}
    r = m.post(f"/complaints/{cid}/work/{action}", data={**data, "version": shown.group(1)})
    assert r.headers["location"].endswith("err=stale#work")
    assert _shown(m, r).startswith("err: The complaint was changed by someone else")
    for garbage in ("-5", "", "abc", "\u00b2", None):
        r = m.post(f"/complaints/{cid}/work/{action}", data=data if garbage is None else {**data, "version": garbage})
        assert r.headers["location"].endswith("err=version#work"), garbage
    assert _shown(m, r) == ("err: The form did not carry the version of the complaint it was shown with (missing or "
                            "not a number), so nothing was changed: reload the page and try again.")
    after = _complaint(web, cid)
    assert (after.version, after.severity, after.status) == (before.version, "P4", before.status)  # nothing written
    r = m.post(f"/complaints/{cid}/work/{action}", data={**data, "version": str(before.version)})
    assert r.headers["location"].endswith(f"ok={action}#work") and _complaint(web, cid).version > before.version


def test_resolve_with_a_root_cause_by_the_manager(web, complaints, config):
    cid = complaints[0]
    m = web.signin("manager")
    assert _shown(m, _post(m, cid, "resolve", reason="fixed", version=str(_complaint(web, cid).version))) == (
        f"err: “Root cause” (root_cause): complaint {cid} has no root cause; resolving needs one. Nothing was changed.")
    r = _post(m, cid, "resolve", reason="fixed", root_cause="undetermined", version=str(_complaint(web, cid).version))
    assert _shown(m, r) == ("err: “Root-cause note” (root_cause_detail): an undetermined root cause needs a note "
                            "saying what was checked. Nothing was changed.")
    seen = str(_complaint(web, cid).version)
    lifecycle.reprioritize(web.app.sessions, cid, "P1", config=config, reason="someone else", actor="x",
                           at=web.app.clock.now())  # after the page was loaded
    assert _shown(m, _post(m, cid, "resolve", reason="fixed", root_cause="process_gap", version=seen)) == (
        "err: The complaint was changed by someone else after this page was loaded. "
        "The page below is current: check it and try again.")
    page = m.get(f"/complaints/{cid}").text
    version = re.search(r'action="/complaints/\d+/work/resolve".*?name="version" value="(\d+)"', page, re.S).group(1)
    r = m.post(f"/complaints/{cid}/work/resolve", data={"csrf": csrf_of(page), "version": version,
                                                         "reason": "report corrected", "root_cause": "process_gap"})
    assert _shown(m, r) == "ok: Complaint resolved."
    assert _complaint(web, cid).status == "resolved" and _complaint(web, cid).root_cause == "process_gap"
    lead = web.signin("lead")
    assert 'id="work-resolve"' not in lead.get(f"/complaints/{complaints[1]}").text
    assert _post(lead, complaints[1], "resolve", reason="x", root_cause="process_gap", version="1").status_code == 403


def test_a_refused_forms_message_gives_the_services_reason_in_the_readers_language(web, complaints):
    """The page hid the service's reason behind "is not valid here"; the reason is carried signed for the session,
    so a crafted link cannot put its own words on the page (it shows the generic message)."""
    cid = complaints[0]
    m = web.signin("manager")
    m.cookies.set("closeloop_lang", "zh")
    r = _post(m, cid, "wait", reason="the statement", until="2026-02-01T10:00")
    assert _shown(m, r) == "err: “最长等待至”（until）：必须晚于等待开始的时间。未作任何修改。"
    r = _post(m, cid, "resolve", reason="fixed", root_cause="undetermined", version=str(_complaint(web, cid).version))
    assert "（root_cause_detail）：根本原因为“未确定”时需填写备注，说明检查了什么。" in _shown(m, r)
    location = r.headers["location"]
    assert "whysig=" in location
    forged = location.replace("why=", "why=call+555-0100+now+").replace("#work", "")
    page = m.get(forged).text
    assert "555-0100" not in page and "无效（root_cause_detail），请检查后重试" in page
    other = web.signin("manager")  # another session: the signature is not theirs
    other.cookies.set("closeloop_lang", "zh")
    assert "无效（root_cause_detail），请检查后重试" in other.get(location.replace("#work", "")).text


def _promise_due(page: str, label: str = "Customer promise due") -> str:
    """The text of the complaint page's "customer promise due" line, tags dropped."""
    m = re.search(rf"<dt>{label}</dt><dd[^>]*>(.*?)</dd>", page, re.S)
    assert m, "no promise line on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", m.group(1))).split())


def test_a_resolved_complaints_promise_line_says_the_clock_stopped_and_when(web, complaints, config):
    cid = complaints[0]
    m = web.signin("manager")
    assert _promise_due(m.get(f"/complaints/{cid}").text) == (
        "2026-03-13 17:00 America/New_York · 2026-03-13 21:00 UTC")
    at = T0 + timedelta(hours=15)  # Monday 2026-03-02 11:00 in New York, before the due instant
    lifecycle.resolve(web.app.sessions, cid, config=config, reason="fixed", actor="x", at=at, root_cause="process_gap")
    web.app.clock.set(at + timedelta(hours=1))
    m = web.signin("manager")  # the first session has expired by now
    assert _promise_due(m.get(f"/complaints/{cid}").text) == (
        "met · clock stopped 2026-03-02 11:00 America/New_York · 2026-03-02 16:00 UTC")
    assert _promise_due(web.signin("manager_zh").get(f"/complaints/{cid}").text, "对客户承诺到期") == (
        "已达成 · 计时停止于 2026-03-02 11:00 America/New_York · 2026-03-02 16:00 UTC")


# --- SLA badges on the queue ---------------------------------------------------------------------------

NOW = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)  # Tuesday 15:00 in New York


def test_queue_badges_show_business_time_left_and_overdue(web, complaints):
    web.app.clock.set(NOW)
    with web.app.sessions.begin() as s:
        a, b = s.scalars(select(Task.id).where(Task.department == "operations").order_by(Task.id).limit(2)).all()
        # due Wednesday 10:00: Tue 15:00-17:00 + Wed 09:00-10:00 = 3 business hours left
        s.execute(update(Task).where(Task.id == a).values(due_at=datetime(2026, 3, 4, 15, 0, tzinfo=UTC)))
        # due Monday 16:30: Mon 16:30-17:00 + Tue 09:00-15:00 = overdue by 6.5 business hours
        s.execute(update(Task).where(Task.id == b).values(due_at=datetime(2026, 3, 2, 21, 30, tzinfo=UTC)))

    def badge(page: str, task: int) -> str:
        row = re.search(rf'<tr id="task-{task}".*?</tr>', page, re.S).group(0)
        return html.unescape(re.search(r'<span class="badge sla[^"]*"[^>]*>(.*?)</span>', row).group(1))

    page = web.signin("member").get("/queue/operations").text
    assert badge(page, a) == "3 business h 00 min left" and badge(page, b) == "overdue by 6 business h 30 min"
    zh = web.signin("lead").get("/queue/operations").text
    assert badge(zh, a) == "剩余 3 个工作小时 00 分" and badge(zh, b) == "已超时 6 个工作小时 30 分"
    with web.app.sessions.begin() as s:  # due Tuesday 15:30: 30 business minutes left, without a "0 h"
        s.execute(update(Task).where(Task.id == a).values(due_at=datetime(2026, 3, 3, 20, 30, tzinfo=UTC)))
    page, zh = web.signin("member").get("/queue/operations").text, web.signin("lead").get("/queue/operations").text
    assert (badge(page, a), badge(zh, a)) == ("30 business min left", "剩余 30 个工作分钟")


def test_the_timeline_speaks_the_readers_language(web, complaints):
    """The audit lines were English machine text on the Chinese page (``complaint 1: received -> triaged
    (triage)``): the entity, the states and the change are labelled in the reader's language; a person's own
    reason is shown as written; a change that keeps the state names the change once, and so does one whose new
    state already says it ("已确认 (确认)", "triaged (triage)" read as a stutter)."""
    cid = complaints[0]
    lead = web.signin("lead")  # Chinese
    _post(lead, cid, "reprioritize", severity="P1", reason="客户投诉到媒体")

    def lines(client) -> list[str]:
        page = client.get(f"/complaints/{cid}").text
        table = page.split('id="timeline"', 1)[1].split("</table>", 1)[0]
        return [html.unescape(re.sub(r"<[^>]+>", "", cells[-1])).strip()
                for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in table.split("<tr>")[2:])]

    zh = lines(lead)
    assert zh[:2] == [f"投诉 {cid}: 收到 → 已接收", f"投诉 {cid}: 已接收 → 已分诊"]  # not "已分诊 (分诊)"
    assert f"投诉 {cid}: 调整优先级 – 客户投诉到媒体" in zh
    assert not any("->" in line or "received" in line for line in zh)
    en = lines(web.signin("manager"))
    assert en[1] == f"complaint {cid}: received → triaged"  # the change is named when the state does not say it


def test_the_engines_own_task_titles_kinds_and_actors_speak_the_readers_language(web, complaints, config):
    """A reopened complaint's task (kind ``reopened``, title ``Reopened: <reason>``) and the system's own actor
    showed as stored English on the Chinese page; the reason a person gave stays as written."""
    cid = complaints[0]
    lifecycle.resolve(web.app.sessions, cid, config=config, reason="answered on the phone", actor="system",
                      at=T0 + timedelta(hours=1), root_cause="process_gap")
    lifecycle.reopen(web.app.sessions, cid, config=config, reason="客户说问题仍在", actor="system",
                     at=T0 + timedelta(hours=2))
    page = web.signin("lead").get(f"/complaints/{cid}").text  # Chinese
    assert "重新打开：客户说问题仍在" in page and "Reopened:" not in page
    assert "<td>重新打开</td>" in page  # the kind
    assert "<td>系统</td>" in page and "<td>system</td>" not in page  # the actor
    assert "流程缺口" in page  # the root cause by its label
