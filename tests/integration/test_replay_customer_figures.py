"""Issue 13: the replay's summary counts what the customers were told (acknowledgements, status updates,
replies) and the promises made, kept (late) and broken (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from closeloop.services.customers.promises import keep_promise, make_promise
from closeloop.services.customers.replies import send_reply
from closeloop.services.engine.sweep import sweep
from closeloop.services.replay.replay import DataQuality
from closeloop.services.replay.report import build_summary, render_html
from closeloop.services.work import tasks as task_svc
from models.tables import Task

from .helpers import facts, intake
from .test_customers import profile

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


def test_the_summary_counts_acknowledgements_updates_replies_and_promises(sessions, config):
    a, b, _ = intake(sessions, config, T0, [facts("RC-1", T0, customer_ref="rc1", customer=profile()),
                                            facts("RC-2", T0, customer_ref="rc2", customer=profile(mail="b@x.org")),
                                            facts("RC-3", T0, customer_ref="rc3")])  # no contact: nothing sent
    send_reply(sessions, config, a, "We are on it.", actor="agent", at=T0 + timedelta(minutes=5))
    dept = next(iter(config.departments))
    late = make_promise(sessions, config, a, department=dept, kind="call_back", actor="agent", at=T0,
                        due=T0 + timedelta(hours=1))
    make_promise(sessions, config, b, department=dept, kind="refund", actor="agent", at=T0,
                 due=T0 + timedelta(hours=1))
    make_promise(sessions, config, b, department=dept, kind="send_document", actor="agent", at=T0,
                 due=T0 + timedelta(days=20))
    with sessions() as s:
        work = s.query(Task).filter(Task.complaint_id == b).first()
    task_svc.transfer(sessions, work.id, config=config, to="product" if work.department != "product" else "service",
                      reason="their product", actor="agent", at=T0 + timedelta(minutes=10))
    sweep(sessions, config, T0 + timedelta(hours=2))  # both short promises broken; the transfer told
    keep_promise(sessions, late.id, actor="agent", at=T0 + timedelta(hours=3), contact="called back")
    summary = build_summary(sessions, config, T0 + timedelta(hours=3), DataQuality(), {})
    cu = summary["customers"]
    assert (cu["acknowledgements"], cu["replies"], cu["updates"]["transferred"], cu["updates_total"]) == (2, 1, 1, 1)
    assert cu["messages"] == 4 and cu["delivered"] == 0
    assert cu["promises"] == {"made": 3, "kept": 1, "kept_late": 1, "broken": 1, "open": 1, "cancelled": 0}
    html = render_html({"replay": summary})
    assert "2 acknowledgements, 1 status update (" in html and "3 made, 1 kept (1 late), 1 broken, 1 open" in html
