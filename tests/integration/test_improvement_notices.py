"""An improvement record verified effective tells the customers of its linked complaints as a customer notice
(the ``improved`` milestone): their language, their channel, consented contacts only, once per customer and
record. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from closeloop.config import parse_config
from closeloop.domain.customer import ContactPoint, CustomerProfile
from closeloop.services.capa import improvement as imp
from closeloop.services.customers.notices import improved_notices
from closeloop.services.customers.profiles import forget
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import complaints as complaint_svc
from closeloop.services.work import tasks as task_svc
from models.tables import Improvement, Message, Outbox

from .helpers import facts, intake
from .test_improvements import T0, _implemented, _take

SMS = "bulksms://user:pass@{phone}"  # an SMS gateway URL Apprise understands


def _cfg(milestones: str | None = None):
    text = open("closeloop/config/default.toml", encoding="utf-8").read()
    text = text.replace("verdict_link_days = 14\n", f'verdict_link_days = 14\nsms_notify = "{SMS}"\n', 1)
    if milestones is not None:
        text = text.replace('"follow_up", "improved"]', milestones, 1)
    return parse_config(text + "\n[improvement]\ncluster_size = 1000\n")


def _who(language, name, kind, value, consent=True):
    return CustomerProfile(name, language, "Asia/Shanghai", (ContactPoint(kind, value, consent=consent),))


CUSTOMERS = [  # (ref, profile): complaints B0..B5 in the before-window
    ("zh", _who("zh", "李雷", "email", "li@example.com")),
    ("en", _who("en", "Ann Lee", "phone", "+1 555 0100")),
    ("silent", _who("en", "No Consent", "email", "no@example.com", consent=False)),
    ("gone", _who("zh", "韩梅梅", "email", "han@example.com")),
    ("zh", None),  # the Chinese customer's second complaint: told once for the record
    ("dup", _who("en", "Dup Licate", "email", "dup@example.com")),  # merged into B0 below
]


def _record(sessions, config):
    """A record linked to B0..B5 (8 complaints before, 2 after implementation: effective at its check)."""
    start = T0 - timedelta(weeks=6)
    step = timedelta(days=5)
    people = [{"customer_ref": ref, "customer": profile} for ref, profile in CUSTOMERS] + [{}, {}]
    cids = intake(sessions, config, start + 8 * step,
                  [facts(f"B{i}", start + timedelta(days=1) + i * step, **kw) for i, kw in enumerate(people)])
    complaint_svc.merge(sessions, cids[5], cids[0], config=config, reason="same", actor="agent",
                        at=start + timedelta(days=40))
    forget(sessions, "gone", actor="dpo", at=start + timedelta(days=40))
    rec = _implemented(sessions, config, T0, cids[:6])
    _take(sessions, config, "X", 2, T0 + timedelta(days=3), step=timedelta(days=5))
    return rec, cids


def _improved(sessions):
    with sessions() as s:
        return s.scalars(select(Outbox).where(Outbox.idempotency_key.like("customer:improved:%"))
                         .order_by(Outbox.id)).all()


def test_each_customer_hears_once_in_their_language_over_their_channel(sessions):
    config = _cfg()
    rec, cids = _record(sessions, config)
    sweep(sessions, config, rec.check_due_at + timedelta(minutes=1))
    with sessions() as s:
        assert s.get(Improvement, rec.id).status == "effective"
    zh, en = _improved(sessions)  # not the unconsented, the erased, the merged one, nor B4 (B0's customer)
    assert zh.idempotency_key == f"customer:improved:{rec.id}:{cids[0]}"
    assert (zh.channel, zh.target, zh.payload["language"]) == ("email", "li@example.com", "zh")
    assert zh.subject == f"[CL-{cids[0]}] 我们已找到您投诉问题的原因并改进了工作方式"
    assert "李雷，您好" in zh.body and f"投诉 CL-{cids[0]}" in zh.body and "感谢您" in zh.body
    assert "Fee charged twice" not in zh.body  # the record's title is staff text
    assert en.idempotency_key == f"customer:improved:{rec.id}:{cids[1]}"
    assert (en.channel, en.target, en.payload["language"]) == ("apprise", "bulksms://user:pass@+15550100", "en")
    assert "Dear Ann Lee" in en.body and "found it, and changed the way we work" in en.body
    assert "Thank you for telling us" in en.body
    with sessions() as s:  # on the complaints' timelines
        assert {m.complaint_id for m in s.scalars(select(Message).where(
            Message.outbox_id.in_([zh.id, en.id])))} == {cids[0], cids[1]}
    assert not any(o.idempotency_key.startswith("improvement-notice:") for o in _all(sessions))
    sweep(sessions, config, rec.check_due_at + timedelta(days=1))  # a second pass: nothing new
    with sessions.begin() as s:
        assert improved_notices(s, config, rec.id, rec.check_due_at + timedelta(days=2)) == 0
    assert len(_improved(sessions)) == 2


def _all(sessions):
    with sessions() as s:
        return s.scalars(select(Outbox)).all()


def test_an_ineffective_check_then_an_effective_one_tells_each_customer_once(sessions):
    """A re-implementation after an ineffective check: the first check tells nobody, the effective one
    tells each customer once (the key names the record, not the implementation)."""
    config = _cfg()
    rec, cids = _record(sessions, config)
    at = T0 + timedelta(days=1)
    for trig in ("begin_verification", "confirm_ineffective"):
        imp.fire(sessions, rec.id, trig, config=config, actor="ops-lead", at=at, reason="by hand")
    assert _improved(sessions) == []
    # reworked: implementing again needs an action finished since the rework
    action = imp.add_action(sessions, rec.id, config=config, kind="corrective", department="operations",
                            title="Try again", actor="ops-lead", at=at, business_days=2)
    task_svc.complete(sessions, action.id, config=config, actor="ops-1", at=at + timedelta(hours=1))
    at += timedelta(hours=2)
    for trig in ("implement", "begin_verification"):
        imp.fire(sessions, rec.id, trig, config=config, actor="ops-lead", at=at, reason="by hand")
    imp.fire(sessions, rec.id, "confirm_effective", config=config, actor="ops-lead", at=at, reason="fixed")
    assert sorted(o.idempotency_key for o in _improved(sessions)) == sorted(
        f"customer:improved:{rec.id}:{cid}" for cid in cids[:2])
    with sessions.begin() as s:
        assert improved_notices(s, config, rec.id, at) == 0


def test_without_the_milestone_nobody_is_told(sessions):
    config = _cfg(milestones='"follow_up"]')
    rec, _ = _record(sessions, config)
    sweep(sessions, config, rec.check_due_at + timedelta(minutes=1))
    with sessions() as s:
        assert s.get(Improvement, rec.id).status == "effective"
    assert _improved(sessions) == []
