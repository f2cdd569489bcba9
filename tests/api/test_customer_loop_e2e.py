"""Issue 13, "Done means": the customer's whole loop over real mail servers, on SQLite and PostgreSQL.

An e-mail to the IMAP mailbox (dovecot) becomes a complaint; the customer receives the acknowledgement
(checked at the SMTP server, aiosmtpd) after the sweep; a department member replies from the API; the
customer answers that mail and the answer threads onto the complaint; a promise is made, missed, escalated
and finally kept; the complaint resolves, the follow-up mail goes out and the customer's click on "not
solved" reopens it to the department that did the work. Every mail is counted at the server exactly once.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from closeloop.services.engine.delivery import deliver_once
from closeloop.services.engine.sweep import sweep
from closeloop.services.inbound import InboundOptions, poll_mailbox
from closeloop.services.people.tokens import create_token
from closeloop.services.work import tasks as task_svc
from integrations.imap import ImapMailbox
from integrations.senders import RoutingSender
from integrations.smtp import SmtpSender
from models.tables import Complaint, Message, Notification, Outbox, Promise, Task
from tests.integration.imap_server import imap_server  # noqa: F401 - fixture
from tests.integration.smtp_server import smtp_server  # noqa: F401 - fixture
from tests.integration.test_inbound_mail import ALICE, mail

T = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York (the default calendars)


class _Loop:
    def __init__(self, api, imap, smtp, tmp_path):
        self.api, self.app, self.imap = api, api.app, imap
        self.smtp_url, self.inbox = smtp
        self.options = InboundOptions(tmp_path / "attachments", 10 * 1024 * 1024)
        self.sender = RoutingSender({"email": SmtpSender(self.smtp_url, "care@example.org", 5)})

    def at(self, when: datetime) -> None:
        self.app.clock.set(when)

    def poll(self):
        with ImapMailbox(self.imap.url) as box:
            return poll_mailbox(self.app.sessions, self.app.config, box, now=self.app.clock.now(),
                                options=self.options, batch_size=50)

    def sweep_and_deliver(self) -> None:
        sweep(self.app.sessions, self.app.config, self.app.clock.now())
        while asyncio.run(deliver_once(self.app.sessions, self.sender, self.app.clock, worker="e2e")).claimed:
            pass

    def mails(self):
        return self.inbox.to(ALICE)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_the_customers_whole_loop_over_real_mail_servers(api, imap_server, smtp_server, tmp_path):  # noqa: F811
    loop = _Loop(api, imap_server, smtp_server, tmp_path)
    loop.at(T)
    imap_server.append(bytes(mail(subject="My refund never arrived", body="Ordered in January; still no refund.")))
    assert loop.poll().counts["complaint"] == 1
    with loop.app.sessions() as s:
        c = s.scalars(select(Complaint).where(Complaint.source == "email")).one()
        (work,) = s.scalars(select(Task).where(Task.complaint_id == c.id)).all()
    cid = c.id

    # the acknowledgement reaches the customer within the sweep after intake, in their language (en)
    loop.sweep_and_deliver()
    (ack,) = loop.mails()
    assert f"CL-{cid}" in str(ack["Subject"]) and "We have received your complaint" in str(ack["Subject"])
    assert "Dear Alice Example," in ack.get_body(("plain",)).get_content()  # English: the mail named no language

    # a department member replies from the API; the customer answers that mail: it threads onto the complaint
    loop.at(T + timedelta(hours=1))
    member, _ = create_token(loop.app.sessions, loop.app.config, role="member", department=work.department,
                             name="e2e-member", created_by="test", at=T)
    r = api.client.post(f"/api/v1/complaints/{cid}/replies", headers={"Authorization": f"Bearer {member}"},
                        json={"text": "We are checking the refund with the bank."})
    assert r.status_code == 201, r.text
    loop.sweep_and_deliver()
    ours = [m for m in loop.mails() if "checking the refund" in m.get_body(("plain",)).get_content()]
    assert len(ours) == 1
    imap_server.append(bytes(mail(subject=f"Re: {ours[0]['Subject']}", body="Thank you, I am waiting.",
                                  In_Reply_To=str(ours[0]["Message-ID"]), References=str(ours[0]["Message-ID"]))))
    report = loop.poll()
    assert report.counts["reply"] == 1 and [r.complaint_id for r in report.results] == [cid]

    # a promise: call back within 2 business hours; missed, escalated, then kept (late) by a recorded call
    p = api.post("manager", f"/complaints/{cid}/promises",
                 json={"department": work.department, "kind": "call_back", "business_hours": 2})
    assert p.status_code == 201, p.text
    pid = p.json()["id"]
    loop.at(T + timedelta(hours=4))
    loop.sweep_and_deliver()
    with loop.app.sessions() as s:
        assert s.get(Promise, pid).status == "broken"
        assert s.scalars(select(Notification.kind).where(Notification.complaint_id == cid,
                                                         Notification.kind == "promise_broken")).all()
    kept = api.post("manager", f"/promises/{pid}/keep", json={"contact": "called back: the bank confirmed"})
    assert kept.status_code == 200 and kept.json()["status"] == "kept", kept.text

    # resolved; the follow-up mail goes out; the customer's "not solved" click reopens it to the working department
    task_svc.complete(loop.app.sessions, work.id, config=loop.app.config, actor="agent", at=T + timedelta(hours=5),
                      outcome="refund re-issued", root_cause=next(iter(loop.app.config.model.improvement.root_causes)))
    for day in range(1, 12):
        loop.at(T + timedelta(days=day))
        loop.sweep_and_deliver()
    follow_up = [m for m in loop.mails() if re.search(r"https?://\S+/not-solved\S*", m.get_body(("plain",))
                                                       .get_content())]
    assert len(follow_up) == 1
    link = re.search(r"https?://\S+/not-solved\S*", follow_up[0].get_body(("plain",)).get_content()).group(0)
    assert api.client.post(_path(link)).status_code == 200
    with loop.app.sessions() as s:
        c = s.get(Complaint, cid)
        reopened = s.scalars(select(Task).where(Task.complaint_id == cid, Task.kind == "reopened")).all()
        assert c.status == "reopened" and [t.department for t in reopened] == [work.department]
        inbound = s.scalars(select(Message).where(Message.complaint_id == cid, Message.direction == "inbound")).all()
        sent = s.scalars(select(Outbox).where(Outbox.channel == "email", Outbox.status == "delivered")).all()
    assert len(inbound) == 2

    # every mail once at the server: one per delivered outbox row, no Message-ID twice
    ids = [str(m["Message-ID"]) for m in loop.mails()]
    assert len(ids) == len(set(ids)) == len(sent) >= 4  # acknowledgement, reply, follow-up, and the updates
