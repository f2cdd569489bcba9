"""Who is told what: roles, addresses, quiet hours and the digest text.

Roles: ``assignee`` (the task's assignee, or the department queue), ``lead``
(the department lead), ``operations_manager`` and ``crisis_owner`` (from
``[escalation]``), ``customer`` (``[follow_up] customer_notify``). A role
resolves to a recipient name, a delivery target and the calendar whose working
hours the message waits for (quiet hours).

An item's *address* (channel target plus recipient, lower-cased) is the dedupe
key for fan-out (CASES.md C25): one person holding two roles gets one message
listing both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources

from jinja2 import Environment, StrictUndefined

from closeloop.config import Config
from models.tables import Task

LEVEL_ROLES = {1: "assignee", 2: "lead", 3: "operations_manager", 4: "crisis_owner"}

LABELS = {
    "en": {"reminder": "reminder", "ack_timeout": "not acknowledged", "escalation": "escalation",
           "promise": "customer promise breached", "transfers": "transferred too often",
           "pause_expired": "wait expired", "closing_notice": "closed - no customer response",
           "manual_reminder": "reminder", "improvement_proposed": "improvement proposed",
           "improvement_ineffective": "fix not effective", "improvement_check": "effectiveness check",
           "promise_reminder": "promise to the customer due soon", "promise_broken": "promise to the customer broken"},
    "zh": {"reminder": "提醒", "ack_timeout": "未受理", "escalation": "升级", "promise": "客户承诺已超时",
           "transfers": "多次转派", "pause_expired": "等待超时", "closing_notice": "因客户未回复已关闭",
           "manual_reminder": "提醒", "improvement_proposed": "建议改进", "improvement_ineffective": "改进无效",
           "improvement_check": "有效性检查", "promise_reminder": "对客户的承诺即将到期",
           "promise_broken": "对客户的承诺未兑现"},
}


@dataclass(frozen=True)
class Recipient:
    role: str
    name: str
    target: str
    language: str
    calendar: object  # BusinessCalendar

    @property
    def channel(self) -> str:
        return channel_of(self.target)

    @property
    def address(self) -> str:
        return f"{self.target.strip().lower()}|{self.name.strip().lower()}"


def channel_of(target: str) -> str:
    t = target.lower()
    if t.startswith("capture://"):
        return "capture"
    if t.startswith(("http://", "https://")):
        return "webhook"
    return "apprise"


def resolve_role(config: Config, role: str, department: str | None, task: Task | None = None) -> Recipient:
    esc = config.model.escalation
    if role in ("operations_manager", "crisis_owner"):
        p = getattr(esc, role)
        return Recipient(role, p.name, p.notify or esc.default_notify, p.language, config.calendar(p.calendar))
    if role == "customer":
        return Recipient(role, "customer", config.model.follow_up.customer_notify, "en", config.customer_calendar)
    dep = config.departments.get(department or "")
    target = (dep.notify if dep else "") or esc.default_notify
    language = dep.language if dep else "en"
    cal = config.department_calendar(department or "")
    if role == "lead":
        return Recipient(role, (dep.lead if dep else "") or f"{department} lead", target, language, cal)
    name = (task.assignee if task is not None and task.assignee else f"{department} queue")
    return Recipient(role, name, target, language, cal)


def make_item(config: Config, *, key: str, kind: str, level: int, who: Recipient, complaint_id: int,
              task: Task | None, department: str | None, now: datetime, text: str,
              due: datetime | None = None, improvement_id: int | None = None) -> dict:
    """A notification row (a dict for a bulk insert), released at the recipient's next working instant."""
    release = who.calendar.next_opening(now).astimezone(timezone.utc)
    data = {"text": text}
    if due is not None:
        data["due"] = due.astimezone(timezone.utc).isoformat()
        data["due_local"] = due.astimezone(who.calendar.zone).strftime("%Y-%m-%d %H:%M %Z")
    return dict(key=key, kind=kind, level=level, role=who.role, recipient=who.name, address=who.address,
                channel=who.channel, target=who.target, language=who.language, department=department,
                complaint_id=complaint_id, improvement_id=improvement_id,
                task_id=task.id if task is not None else None, fired_at=now,
                release_at=max(release, now), status="pending", data=data)


def insert_notifications(session, items: list[dict]) -> set[str]:
    """Insert notification rows (dicts from :func:`make_item`) in bulk, skipping keys that exist
    (ON CONFLICT DO NOTHING on the unique key: never twice). Returns the keys inserted."""
    from models.tables import Notification

    from .bulk import insert_new

    nt = Notification.__table__
    return set(insert_new(session, nt, items, key=["key"], returning=nt.c.key))


@lru_cache(maxsize=4)
def _template(language: str):
    env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    text = resources.files("closeloop.templates").joinpath(f"digest.{language}.j2").read_text("utf-8")
    return env.from_string(text)


def render_digest(language: str, recipient: str, items: list[dict]) -> tuple[str, str]:
    """Subject and body of one recipient's digest (Jinja2 template ``closeloop/templates/digest.<lang>.j2``)."""
    lang = language if language in LABELS else "en"
    for it in items:
        it.setdefault("kind_label", LABELS[lang].get(it["kind"], it["kind"]))
    text = _template(lang).render(recipient=recipient, items=items)
    subject, _, body = text.partition("\n---\n")
    return subject.strip(), body.strip() + "\n"
