"""Issue 13, slice 4: the follow-up verdict from every channel (SQLite and PostgreSQL).

The follow-up mail carries two signed, expiring links; the customer's click (confirmed by a POST)
records the verdict; an agent records it on completing the follow-up task through the API or the CLI;
"not satisfied" reopens the complaint to the department that did the work, not the follow-up department.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from closeloop.domain.customer import ContactPoint, CustomerProfile
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import tasks as task_svc
from models.tables import Complaint, Outbox, Task, Transition
from tests.integration.helpers import facts, intake

from .conftest import T0


def _resolved(api, ref: str, language: str = "zh") -> int:
    """An unrouted complaint (the triage queue does the work) resolved; its customer reachable."""
    cfg, sessions = api.app.config, api.app.sessions
    profile = CustomerProfile("张三", language, "Asia/Shanghai", (ContactPoint("email", f"{ref}@example.com", True),))
    (cid,) = intake(sessions, cfg, T0, [facts(ref, T0, product="Garden gnomes", category="Garden gnomes",
                                              customer_ref=ref, customer=profile)])
    with sessions() as s:
        (tid,) = s.scalars(select(Task.id).where(Task.complaint_id == cid)).all()
        assert s.get(Task, tid).department == "triage"
    task_svc.complete(sessions, tid, config=cfg, actor="triage", at=T0 + timedelta(hours=1), outcome="fixed",
                      root_cause=next(iter(cfg.model.improvement.root_causes)))
    with sessions() as s:
        assert s.get(Complaint, cid).status == "resolved"
    return cid


def _follow_up(api, cid: int):
    """Run the sweep past the follow-up date: the follow-up task and its mail; returns (task id, mail)."""
    later = T0 + timedelta(days=12)
    sweep(api.app.sessions, api.app.config, T0 + timedelta(hours=3))
    sweep(api.app.sessions, api.app.config, later)
    api.app.clock.set(later)
    with api.app.sessions() as s:
        task = s.scalar(select(Task).where(Task.complaint_id == cid, Task.kind == "follow-up"))
        mail = s.scalar(select(Outbox).where(Outbox.idempotency_key == f"customer:follow_up:{task.id}"))
    return task, mail


def _links(mail) -> dict[str, str]:
    urls = re.findall(r"https?://\S+", mail.body)
    return {urlsplit(u).path.rsplit("/", 1)[1]: u for u in urls}


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _reopened_to(api, cid: int) -> list[str]:
    with api.app.sessions() as s:
        return list(s.scalars(select(Task.department).where(Task.complaint_id == cid, Task.kind == "reopened")))


def test_the_customers_not_solved_click_reopens_to_the_working_department_once(api):
    cid = _resolved(api, "click-no")
    task, mail = _follow_up(api, cid)
    assert task.department == "service" and mail is not None
    assert mail.subject == f"[CL-{cid}] 您的问题解决了吗？"
    links = _links(mail)
    assert set(links) == {"solved", "not-solved"}
    assert f'<a href="{links["solved"].replace("&", "&amp;")}">' in mail.payload["html"]
    page = api.client.get(_path(links["not-solved"]))
    assert page.status_code == 200 and "未解决" in page.text and "<form method=\"post\"" in page.text
    with api.app.sessions() as s:
        assert s.get(Complaint, cid).status == "resolved"  # opening the link (a mail scanner) records nothing
    done = api.client.post(_path(links["not-solved"]))
    assert done.status_code == 200 and "已记录" in done.text
    again = api.client.post(_path(links["solved"]))
    assert again.status_code == 200 and "之前已答复" in again.text
    with api.app.sessions() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.customer_satisfied) == ("reopened", False)
        actors = set(s.scalars(select(Transition.actor).where(Transition.complaint_id == cid,
                                                              Transition.trigger == "follow_up")))
    assert _reopened_to(api, cid) == ["triage"] and actors == {"customer (link)"}


def test_forged_expired_and_foreign_links_record_nothing(api):
    cid = _resolved(api, "click-bad", language="en")
    task, mail = _follow_up(api, cid)
    solved = _path(_links(mail)["solved"])
    forged = re.sub(r"s=([0-9a-f])", lambda m: "s=" + ("1" if m.group(1) != "1" else "2"), solved)
    assert api.client.post(forged).status_code == 403
    other = solved.replace(f"/follow-up/{task.id}/", f"/follow-up/{task.id + 1000}/")
    assert api.client.post(other).status_code == 403
    flipped = solved.replace("/solved?", "/not-solved?")
    assert api.client.post(flipped).status_code == 403  # the signature covers the verdict
    api.app.clock.set(T0 + timedelta(days=12 + 15))
    expired = api.client.post(solved)
    assert expired.status_code == 410 and "expired" in expired.text
    with api.app.sessions() as s:
        assert s.get(Complaint, cid).status == "resolved" and s.get(Complaint, cid).customer_satisfied is None


def test_the_solved_click_closes_the_complaint(api):
    cid = _resolved(api, "click-yes", language="en")
    _, mail = _follow_up(api, cid)
    assert api.client.post(_path(_links(mail)["solved"])).status_code == 200
    with api.app.sessions() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.customer_satisfied) == ("closed", True)


def test_an_agent_records_the_verdict_on_completing_the_follow_up_task_through_the_api(api):
    cid = _resolved(api, "agent-no")
    task, _ = _follow_up(api, cid)
    url = f"/tasks/{task.id}/transitions"
    missing = api.post("member_service", url, json={"trigger": "complete", "outcome": "called the customer"})
    assert missing.status_code == 422 and "satisfied" in missing.text
    r = api.post("member_service", url, json={"trigger": "complete", "outcome": "still charged", "satisfied": False})
    assert r.status_code == 200, r.text
    with api.app.sessions() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.customer_satisfied) == ("reopened", False)
    assert _reopened_to(api, cid) == ["triage"]  # the department that did the work, not service (follow-up)
    with api.app.sessions() as s:
        other = s.scalar(select(Task.id).where(Task.complaint_id == cid, Task.kind == "reopened"))
    wrong = api.post("manager", f"/tasks/{other}/transitions", json={"trigger": "complete", "satisfied": True})
    assert wrong.status_code == 422 and "satisfied" in wrong.text


def test_an_agent_records_the_verdict_from_the_cli(api, monkeypatch):
    from typer.testing import CliRunner

    from closeloop.cli import app as cli

    cid = _resolved(api, "cli-yes")
    task, _ = _follow_up(api, cid)
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", api.app.engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    res = CliRunner().invoke(cli, ["tasks", "complete", str(task.id), "--outcome", "happy now", "--satisfied"])
    assert res.exit_code == 0, res.output
    with api.app.sessions() as s:
        assert s.get(Complaint, cid).status == "closed"


def test_a_signature_with_any_characters_is_refused_not_an_error(api):
    cid = _resolved(api, "junk-sig", language="en")
    task, _ = _follow_up(api, cid)
    for sig in ("\u0080", "签名", ""):
        r = api.client.get(f"/api/v1/follow-up/{task.id}/solved", params={"e": 10**10, "s": sig})
        assert r.status_code == 403 and "not valid" in r.text


def test_a_verdict_the_engine_refuses_gives_the_customer_a_page_not_the_apis_json(api, monkeypatch):
    """Whatever the recording refuses (here: a configuration without the department to reopen to), the customer
    reads a page in their language with what to do instead, and the error is logged for the team."""
    from closeloop.api import routes_customers
    from closeloop.domain.errors import InvalidInput

    cid = _resolved(api, "click-refused", language="zh")
    _, mail = _follow_up(api, cid)

    def refuse(*_a, **_kw):
        raise InvalidInput("department", "unknown department 'triage'")

    monkeypatch.setattr(routes_customers, "record_click", refuse)
    r = api.client.post(_path(_links(mail)["not-solved"]))
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "暂时无法记录您的答复，请直接回复我们的邮件。" in r.text and "invalid_input" not in r.text


def test_a_reopen_withdraws_the_follow_up_and_its_old_links_record_nothing(api):
    """The customer's "not solved" mail reopens the complaint: the follow-up task still asking is cancelled (with
    the reason, through the gate), and a later click on the follow-up mail's "solved" link records nothing: a
    page in the customer's language says the question is no longer open (was: task completed "satisfied" on a
    reopened complaint, which then read "customer verdict: satisfied")."""
    from email.message import EmailMessage

    from closeloop.services.customers.notices import message_id

    cid = _resolved(api, "late-link")
    task, mail = _follow_up(api, cid)
    with api.app.sessions() as s:
        resolved_mail = s.scalar(select(Outbox.payload)
                                 .where(Outbox.idempotency_key.like(f"customer:resolved:{cid}:%")))
    m = EmailMessage()
    m["From"], m["Subject"], m["Message-ID"] = "late-link@example.com", f"Re: [CL-{cid}]", "<late-1@example.com>"
    m["In-Reply-To"] = resolved_mail["message_id"]
    m.set_content("问题没有解决")
    r = api.client.post("/api/v1/inbound/email", content=bytes(m),
                        headers={**api.h("manager"), "Content-Type": "message/rfc822"})
    assert r.status_code in (200, 201), r.text
    with api.app.sessions() as s:
        assert s.get(Complaint, cid).status == "reopened"
        cancel = s.scalar(select(Transition).where(Transition.entity == "task", Transition.entity_id == task.id,
                                                   Transition.trigger == "cancel"))
        assert s.get(Task, task.id).status == "cancelled"
    assert cancel is not None and cancel.reason.startswith("the complaint was reopened: ")
    links = _links(mail)
    page = api.client.get(_path(links["solved"]))
    assert page.status_code == 410 and "已不再需要答复" in page.text and "<form" not in page.text
    click = api.client.post(_path(links["solved"]))
    assert click.status_code == 410 and "已不再需要答复" in click.text
    with api.app.sessions() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.customer_satisfied) == ("reopened", None)
        assert s.scalar(select(Transition).where(Transition.complaint_id == cid,
                                                 Transition.trigger == "follow_up")) is None
    assert message_id(f"customer:follow_up:{task.id}") == mail.payload["message_id"]


def test_the_timeline_shows_the_verdict_links_without_their_signature(api):
    """Staff read that the follow-up mail carried the links, never a link that records the customer's verdict:
    the API's timeline, the dashboard's (the same ``show``) and the exports."""
    from closeloop.services.reads.exports import timeline_rows

    cid = _resolved(api, "redact", language="en")
    _, mail = _follow_up(api, cid)
    sig = urlsplit(_links(mail)["solved"]).query.split("s=")[1]
    r = api.get("manager", f"/complaints/{cid}")
    assert r.status_code == 200
    texts = [e["text"] for e in r.json()["timeline"]]
    follow = [t for t in texts if "/follow-up/" in t]
    assert follow and all("?[link withheld]" in t and "s=" not in t for t in follow)
    assert sig[:8] not in r.text
    assert not any(sig[:8] in row["text"] for row in timeline_rows(api.app.sessions, cid))
