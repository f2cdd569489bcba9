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
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from importlib import resources

from jinja2 import Environment, StrictUndefined

from closeloop.config import Config
from closeloop.domain.calendar import BusinessCalendar
from closeloop.domain.notices import LANGUAGES, ROLE_LABELS, NotificationStatus, Role, label, render
from closeloop.services.bulk import insert_new
from closeloop.services.engine.delivery import DeadLetterAlert
from closeloop.services.markdown import md_text
from integrations.targets import channel_of
from models.tables import Notification, Task


@dataclass(frozen=True)
class Recipient:
    role: str
    name: str
    target: str
    language: str
    calendar: BusinessCalendar

    @cached_property
    def channel(self) -> str:
        return channel_of(self.target)

    @cached_property
    def address(self) -> str:
        return f"{self.target.strip().lower()}|{self.name.strip().lower()}"


def resolve_role(config: Config, role: str, department: str | None, task: Task | None = None) -> Recipient:
    esc = config.model.escalation
    if role in (Role.OPERATIONS_MANAGER, Role.CRISIS_OWNER):
        p = getattr(esc, role)
        return Recipient(role, p.name, p.notify or esc.default_notify, p.language, config.calendar(p.calendar))
    if role == Role.CUSTOMER:
        return Recipient(role, "customer", config.model.follow_up.customer_notify, "en", config.customer_calendar)
    dep = config.departments.get(department or "")
    target = (dep.notify if dep else "") or esc.default_notify
    language = dep.language if dep else "en"
    cal = config.department_calendar(department or "")
    if role == Role.LEAD:
        return Recipient(role, (dep.lead if dep else "") or f"{department} lead", target, language, cal)
    name = (task.assignee if task is not None and task.assignee else f"{department} queue")
    return Recipient(role, name, target, language, cal)


def make_item(config: Config, *, key: str, kind: str, level: int, who: Recipient, complaint_id: int | None,
              task: Task | None, department: str | None, now: datetime, params: dict,
              due: datetime | None = None, improvement_id: int | None = None) -> dict:
    """A notification row (a dict for a bulk insert), released at the recipient's next working instant.

    ``params`` fill the kind's message template (``closeloop.domain.notices.NOTICES``); the text is
    rendered in the recipient's language when packed (``data.text`` keeps the English one for history).
    Raises KeyError naming a template field missing from ``params``."""
    release = _next_opening(who.calendar, now)
    params = {k: v for k, v in params.items() if isinstance(v, (str, int, float))}
    data = {"text": render(kind, "en", params)[1], "params": params}
    if due is not None:
        data["due"] = _utc_text(due)
        data["due_local"] = _local_text(due, who.calendar.zone)
    return dict(key=key, kind=str(kind), level=level, role=str(who.role), recipient=who.name,
                address=who.address,
                channel=who.channel, target=who.target, language=who.language, department=department,
                complaint_id=complaint_id, improvement_id=improvement_id,
                task_id=task.id if task is not None else None, fired_at=now,
                release_at=max(release, now), status=NotificationStatus.PENDING, data=data)


def _utc_text(due: datetime) -> str:
    """``due`` in UTC, ISO 8601."""
    return _utc_iso(due.astimezone(UTC))


def _local_text(due: datetime, zone) -> str:
    """``due`` as local time of ``zone`` for a notice."""
    return _local_of_utc(due.astimezone(UTC), zone)


# Memoised on the UTC instant (a task's reminders and escalations share its due instant): two local instants
# of a repeated hour (the end of daylight saving, ``fold``) compare equal, so a local key could answer one
# with the other's text.
@lru_cache(maxsize=4096)
def _utc_iso(due: datetime) -> str:
    return due.isoformat()


@lru_cache(maxsize=4096)
def _local_of_utc(due: datetime, zone) -> str:
    return due.astimezone(zone).strftime("%Y-%m-%d %H:%M %z")


@lru_cache(maxsize=256)
def _next_opening(calendar: BusinessCalendar, now: datetime) -> datetime:
    """``calendar.next_opening(now)`` in UTC, memoised: a sweep releases all its items at one ``now``
    (calendars are built once per configuration and compare by identity)."""
    return calendar.next_opening(now).astimezone(UTC)


def insert_notifications(session, items: list[dict]) -> set[str]:
    """Insert notification rows (dicts from :func:`make_item`) in bulk, skipping keys that exist
    (ON CONFLICT DO NOTHING on the unique key: never twice). Returns the keys inserted."""

    nt = Notification.__table__
    return set(insert_new(session, nt, items, key=["key"], returning=nt.c.key))


@lru_cache(maxsize=4)
def _template(language: str):

    # the digest is Markdown (chat targets render it): every value escaped, names and texts shown as typed
    env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=md_text)
    text = resources.files("closeloop.templates").joinpath(f"digest.{language}.j2").read_text("utf-8")
    return env.from_string(text)


def render_digest(language: str, recipient: str, items: list[dict]) -> tuple[str, str]:
    """Subject and body of one recipient's digest (Jinja2 template ``closeloop/templates/digest.<lang>.j2``);
    each item's label and text are rendered from its kind's templates in ``language`` (items without
    ``params``, written before the templates, keep their stored text)."""
    lang = language if language in LANGUAGES else "en"
    for it in items:
        it.setdefault("kind_label", label(it["kind"], lang))
        if it.get("params") is not None:
            it["text"] = render(it["kind"], lang, it["params"])[1]
        it["role_labels"] = [ROLE_LABELS[lang].get(r, r) for r in it.get("roles", [])]
    text = _template(lang).render(recipient=recipient, items=items)
    subject, _, body = text.partition("\n---\n")
    return subject.strip(), body.strip() + "\n"


def dead_letter_alert(config: Config):
    """Where dead letters are reported: the operations manager (``[escalation] operations_manager``,
    else ``default_notify``), in the manager's ``language``; ``None`` when neither has a target."""

    r = resolve_role(config, "operations_manager", None)
    return DeadLetterAlert(r.channel, r.target, r.name, r.language) if r.target.strip() else None
