"""Timer and notice kinds, declared once: key, when wanted, still applies?, effect, recipient, level, messages.

Every kind of durable timer the follow-up engine keeps and every kind of notice it sends
is one entry of :data:`TIMERS` / :data:`NOTICES`. The scheduler (``services/engine/schedule.py``)
builds keys with :meth:`TimerSpec.key`, the sweep (``services/engine/sweep.py``) looks up the
effect and the recipient role, the packer re-checks :func:`still_applies` at release
(quiet hours, catch-up) and renders the message keys in the recipient's language, and
the reports and the README table (:func:`rules_table`) read the same entries.

Sources of the rules: the escalation ladder and reminders from ``[escalation]``
(DESIGN.md section 1); a held notice is re-checked when released (Icinga 2,
Icinga/icinga2#5919 and PR #7270: a notification is dropped when its state no
longer applies); quiet hours (Zammad #4432).

Pure: standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from .compensation import CompensationStatus
from .complaint import OPEN_STATES, ComplaintStatus
from .promise import PromiseStatus
from .task import ACTIVE_STATES, TaskStatus


class TimerKind(StrEnum):
    REMINDER = "reminder"
    MANUAL_REMINDER = "manual_reminder"
    ACK_TIMEOUT = "ack_timeout"
    ESCALATION = "escalation"
    PROMISE = "promise"
    TRANSFERS = "transfers"
    PING_PONG = "ping_pong"
    PAUSE_EXPIRED = "pause_expired"
    TASK_PAUSE_EXPIRED = "task_pause_expired"
    FOLLOW_UP = "follow_up"
    EFFECTIVENESS = "effectiveness"


#: What a notification row tells: the timer kinds that notify, plus the notices of other services.
class NoticeKind(StrEnum):
    # The timer kinds that notify (every TimerKind but FOLLOW_UP and EFFECTIVENESS, same values) ...
    REMINDER = TimerKind.REMINDER.value
    MANUAL_REMINDER = TimerKind.MANUAL_REMINDER.value
    ACK_TIMEOUT = TimerKind.ACK_TIMEOUT.value
    ESCALATION = TimerKind.ESCALATION.value
    PROMISE = TimerKind.PROMISE.value
    TRANSFERS = TimerKind.TRANSFERS.value
    PING_PONG = TimerKind.PING_PONG.value
    PAUSE_EXPIRED = TimerKind.PAUSE_EXPIRED.value
    TASK_PAUSE_EXPIRED = TimerKind.TASK_PAUSE_EXPIRED.value
    # ... plus the notices of other services.
    #: rows written before a wait that ran out was told to the customer by their own mail
    #: (``customers.milestones``, the ``closed`` notice); no longer fired
    CLOSING_NOTICE = "closing_notice"
    #: a customer milestone notice not sent because it no longer applied (kept ``dropped`` with its reason)
    CUSTOMER_MILESTONE = "customer_milestone"
    IMPROVEMENT_PROPOSED = "improvement_proposed"
    IMPROVEMENT_INEFFECTIVE = "improvement_ineffective"
    IMPROVEMENT_CHECK = "improvement_check"
    COMPENSATION_PENDING = "compensation_pending"
    PROMISE_REMINDER = "promise_reminder"
    PROMISE_BROKEN = "promise_broken"
    MENTION = "mention"


class Role(StrEnum):
    ASSIGNEE = "assignee"
    LEAD = "lead"
    OPERATIONS_MANAGER = "operations_manager"
    CRISIS_OWNER = "crisis_owner"
    CUSTOMER = "customer"
    MENTIONED = "mentioned"


class Effect(StrEnum):
    """What firing a timer does (the sweep maps each to one function)."""

    NOTIFY = "notify"
    PAUSE_EXPIRED = "pause_expired"
    FOLLOW_UP = "follow_up"
    EFFECTIVENESS = "effectiveness"


class TimerStatus(StrEnum):
    """A timer row: ``pending`` until it fires (once) or the state stops wanting it (``cancelled``; a
    cancelled timer becomes pending again, same key, when the state wants it back)."""

    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    PACKED = "packed"
    DROPPED = "dropped"


class DropReason(StrEnum):
    """Why a fired notice was not sent when it was released (kept in the notification's history)."""

    TASK_DONE = "task_done"
    TASK_CANCELLED = "task_cancelled"
    TASK_TRANSFERRED = "task_transferred"
    TASK_PAUSED = "task_paused"
    TASK_ACKNOWLEDGED = "task_acknowledged"
    COMPLAINT_CLOSED = "complaint_closed"
    COMPLAINT_WAITING = "complaint_waiting"
    NO_LONGER_WAITING = "no_longer_waiting"
    PROMISE_SETTLED = "promise_settled"  # kept, cancelled or already broken: a "due soon" reminder has no point
    COMPLAINT_REOPENED = "complaint_reopened"  # a customer's "resolved" or "closed" notice after a reopen
    SUPERSEDED = "superseded"


#: Level -> role of the escalation ladder (business hours after the breach from ``[escalation] ladder_hours``).
LEVEL_ROLES = {1: Role.ASSIGNEE, 2: Role.LEAD, 3: Role.OPERATIONS_MANAGER, 4: Role.CRISIS_OWNER}
#: Acknowledgement paging climbs queue -> lead -> operations manager, then stays there.
PAGE_ROLES = (Role.ASSIGNEE, Role.LEAD, Role.OPERATIONS_MANAGER)


@dataclass(frozen=True)
class Subject:
    """The state a notice is about, as of the moment it is fired or released (``None``: not about one)."""

    task_status: str | None = None
    complaint_status: str | None = None
    #: the status of the entry the notice is about: a compensation entry or a promise to the customer (None: the
    #: notice is about neither, or the entry is gone)
    entry_status: str | None = None


#: Why a notice about a task that is no longer active is dropped, by the task's status (done by default)
TASK_GONE: dict[str | None, DropReason] = {
    TaskStatus.DONE: DropReason.TASK_DONE, TaskStatus.CANCELLED: DropReason.TASK_CANCELLED,
    TaskStatus.TRANSFERRED: DropReason.TASK_TRANSFERRED}


def _task_running(s: Subject) -> DropReason | None:
    """The task is active and not paused (the task's own status decides: a follow-up task runs on a
    resolved complaint)."""
    if s.task_status is None:
        return _complaint_open(s)
    if s.task_status not in ACTIVE_STATES:
        return TASK_GONE.get(s.task_status, DropReason.TASK_DONE)
    return DropReason.TASK_PAUSED if s.task_status == TaskStatus.WAITING else None


def _task_active(s: Subject) -> DropReason | None:
    """The task is active (paused counts)."""
    if s.task_status is None:
        return _complaint_open(s)
    return None if s.task_status in ACTIVE_STATES else TASK_GONE.get(s.task_status, DropReason.TASK_DONE)


def _task_unacknowledged(s: Subject) -> DropReason | None:
    """The task is still open (not acknowledged); while held by a pause, dropped as paused."""
    if s.task_status is None:
        return _complaint_open(s)
    if s.task_status == TaskStatus.WAITING:
        return DropReason.TASK_PAUSED
    if s.task_status != TaskStatus.OPEN:
        return TASK_GONE.get(s.task_status, DropReason.TASK_ACKNOWLEDGED)
    return None


def _task_waiting(s: Subject) -> DropReason | None:
    """The task is still paused."""
    if s.task_status != TaskStatus.WAITING:
        return TASK_GONE.get(s.task_status, DropReason.NO_LONGER_WAITING)
    return None


def _complaint_open(s: Subject) -> DropReason | None:
    """The complaint is open."""
    if s.complaint_status is not None and s.complaint_status not in OPEN_STATES:
        return DropReason.COMPLAINT_CLOSED
    return None


def _complaint_running(s: Subject) -> DropReason | None:
    """The complaint is open and not waiting on the customer."""
    if s.complaint_status == ComplaintStatus.AWAITING_CUSTOMER:
        return DropReason.COMPLAINT_WAITING
    return _complaint_open(s)


def _complaint_waiting(s: Subject) -> DropReason | None:
    """The complaint still waits on the customer."""
    if s.complaint_status is not None and s.complaint_status != ComplaintStatus.AWAITING_CUSTOMER:
        return _complaint_open(s) or DropReason.NO_LONGER_WAITING
    return None


def _compensation_pending(s: Subject) -> DropReason | None:
    """While the compensation entry waits for approval (approved or rejected since: nothing to approve)."""
    if s.entry_status is None or s.entry_status == CompensationStatus.PENDING:
        return None
    return DropReason.NO_LONGER_WAITING


def _promise_open(s: Subject) -> DropReason | None:
    """While the promise to the customer is open (kept, cancelled or broken since: nothing is due soon)."""
    if s.entry_status is None or s.entry_status == PromiseStatus.OPEN:
        return None
    return DropReason.PROMISE_SETTLED


def _always(s: Subject) -> DropReason | None:
    """Always (nothing it depends on can change)."""
    return None


@dataclass(frozen=True)
class TimerSpec:
    """One timer kind. ``key_format`` uses ``str.format`` fields; ``wanted`` says when the scheduler
    wants it (documentation, shown in the README table); ``role`` None means by level
    (:data:`LEVEL_ROLES`); ``chain`` names the ladder a later member of which supersedes an earlier one."""

    kind: TimerKind
    key_format: str
    wanted: str
    effect: Effect
    applies: Callable[[Subject], DropReason | None] = _always
    role: Role | None = None
    level: int | None = None
    chain: str | None = None

    def key(self, **fields: object) -> str:
        return self.key_format.format(**fields)


TIMERS: dict[TimerKind, TimerSpec] = {s.kind: s for s in (
    TimerSpec(TimerKind.REMINDER, "reminder:{task}:{pct}",
              "the task's resolve clock has used pct % of its business-time budget", Effect.NOTIFY,
              _task_running, Role.ASSIGNEE, 0, chain="task"),
    TimerSpec(TimerKind.MANUAL_REMINDER, "manual_reminder:{task}:{at}", "the instant a person set",
              Effect.NOTIFY, _task_active, Role.ASSIGNEE, 0),
    TimerSpec(TimerKind.ACK_TIMEOUT, "ack_timeout:{task}:{page}",
              "page n (n <= ack_page_limit): acknowledge due + (n - 1) x ack_page_hours business hours, "
              "while unacknowledged",
              Effect.NOTIFY, _task_unacknowledged, None, None, chain="ack"),
    TimerSpec(TimerKind.ESCALATION, "escalation:{task}:{level}",
              "task due + ladder_hours[level - 1] business hours", Effect.NOTIFY, _task_running, None, None,
              chain="task"),
    TimerSpec(TimerKind.PROMISE, "promise:{complaint}:{level}",
              "customer promise due + ladder_hours[level - 1] business hours (levels 3, 4)", Effect.NOTIFY,
              _complaint_running, None, None, chain="promise"),
    TimerSpec(TimerKind.TRANSFERS, "transfers:{complaint}:{n}", "transferred more than transfer_limit times",
              Effect.NOTIFY, _complaint_open, Role.OPERATIONS_MANAGER, 3),
    TimerSpec(TimerKind.PING_PONG, "ping_pong:{complaint}:{transition}",
              "a transfer back to a department that passed the complaint on within ping_pong_window_hours",
              Effect.NOTIFY, _complaint_open, Role.OPERATIONS_MANAGER, 3),
    TimerSpec(TimerKind.PAUSE_EXPIRED, "pause_expired:{complaint}:{transition}",
              "a wait on the customer reaches its maximum or its until", Effect.PAUSE_EXPIRED,
              _complaint_waiting, Role.OPERATIONS_MANAGER, 3),
    TimerSpec(TimerKind.TASK_PAUSE_EXPIRED, "pause_expired:task:{task}:{transition}",
              "a paused task reaches its until", Effect.NOTIFY, _task_waiting, Role.LEAD, 2),
    TimerSpec(TimerKind.FOLLOW_UP, "follow_up:{complaint}:{transition}",
              "follow_up.business_days working days after resolution", Effect.FOLLOW_UP),
    TimerSpec(TimerKind.EFFECTIVENESS, "effectiveness:{record}:{implementation}:{attempt}",
              "effectiveness_weeks after implementation (implementation: the id of the implement audit row)",
              Effect.EFFECTIVENESS),
)}


@dataclass(frozen=True)
class NoticeSpec:
    """One notice kind: a label and a text template per language (``str.format`` fields from the
    notification's ``params``), and whether it still applies when released."""

    kind: NoticeKind
    labels: dict[str, str]
    texts: dict[str, str]
    applies: Callable[[Subject], DropReason | None] = _always
    chain: str | None = None
    params: tuple[str, ...] = field(default=())


def _n(kind: NoticeKind, en: tuple[str, str], zh: tuple[str, str]) -> NoticeSpec:
    member = TimerKind._value2member_map_.get(kind.value)
    timer = TIMERS.get(member) if isinstance(member, TimerKind) else None
    applies = timer.applies if timer is not None else _always
    return NoticeSpec(kind, {"en": en[0], "zh": zh[0]}, {"en": en[1], "zh": zh[1]}, applies,
                      timer.chain if timer is not None else None)


NOTICES: dict[NoticeKind, NoticeSpec] = {s.kind: s for s in (
    _n(NoticeKind.REMINDER, ("reminder", "{pct}% of the time budget used: {title}"),
       ("提醒", "时限已用 {pct}%：{title}")),
    _n(NoticeKind.MANUAL_REMINDER, ("reminder", "{note}"), ("提醒", "{note}")),
    _n(NoticeKind.ACK_TIMEOUT, ("not acknowledged", "not acknowledged in time (page {page}): {title}"),
       ("未受理", "超时未受理（第 {page} 次催办）：{title}")),
    _n(NoticeKind.ESCALATION, ("escalation", "overdue (level {level}): {title}"),
       ("升级", "已超时（第 {level} 级）：{title}")),
    _n(NoticeKind.PROMISE, ("customer promise breached",
                            "the promise to the customer is breached (severity {severity})"),
       ("客户承诺已超时", "对客户的承诺已超时（严重级别 {severity}）")),
    _n(NoticeKind.TRANSFERS, ("transferred too often", "transferred {count} times; reasons: {reasons}"),
       ("多次转派", "已转派 {count} 次；原因：{reasons}")),
    _n(NoticeKind.PING_PONG, ("sent back and forth", "sent back to {department}: {path}"),
       ("来回转派", "又被转回 {department}：{path}")),
    _n(NoticeKind.PAUSE_EXPIRED, ("wait expired", "customer has not answered ({reason})"),
       ("等待超时", "客户尚未答复（{reason}）")),
    _n(NoticeKind.TASK_PAUSE_EXPIRED, ("wait expired", "still waiting ({reason}): {title}"),
       ("等待超时", "仍在等待（{reason}）：{title}")),
    _n(NoticeKind.CLOSING_NOTICE, ("closed - no customer response",
                                   "we closed your complaint because we did not hear back; reply to reopen it"),
       ("因客户未回复已关闭", "由于未收到您的回复，我们已关闭您的投诉；回复即可重新打开")),
    _n(NoticeKind.CUSTOMER_MILESTONE, ("customer update not sent", "an update to the customer no longer applied"),
       ("未发送的客户通知", "一条客户通知已不适用，未发送")),
    _n(NoticeKind.IMPROVEMENT_PROPOSED, ("improvement proposed", "{count} recurring complaints ({facts}): "
                                                                 "review and approve or reject improvement {record}"),
       ("建议改进", "{count} 起重复投诉（{facts}）：请审核并批准或驳回改进 #{record}")),
    _n(NoticeKind.IMPROVEMENT_INEFFECTIVE, ("fix not effective", "'{title}' was not effective ({why}); "
                                                                 "it is back in progress"),
       ("改进无效", "“{title}”未见成效（{why}）；已重新进入处理")),
    _n(NoticeKind.IMPROVEMENT_CHECK, ("effectiveness check", "not enough data to judge '{title}' (matching "
                                      "complaints before → after: {counts}): decide by hand "
                                      "(confirm_effective or confirm_ineffective)"),
       ("有效性检查", "数据不足，无法判断“{title}”（改进前后匹配投诉数：{counts}）：请人工判定有效或无效")),
    NoticeSpec(NoticeKind.COMPENSATION_PENDING,
               {"en": "compensation awaiting approval", "zh": "补偿待审批"},
               {"en": "compensation {entry} on complaint {complaint} waits for approval: {kind} {amount} {currency} "
                      "({cap}; {granted} already approved or pending), requested by {requester}",
                "zh": "投诉 #{complaint} 的补偿 #{entry} 待审批：{kind} {amount} {currency}"
                      "（上限 {cap}；已批准或待批 {granted}），申请人 {requester}"},
               _compensation_pending),
    NoticeSpec(NoticeKind.PROMISE_REMINDER,
               {"en": "promise to the customer due soon", "zh": "对客户的承诺即将到期"},
               {"en": "promise {promise} ({what}) to the customer is due soon; owner: {owner}",
                "zh": "对客户的承诺 #{promise}（{what}）即将到期；负责人：{owner}"},
               _promise_open),
    _n(NoticeKind.PROMISE_BROKEN, ("promise to the customer broken",
                                   "promise {promise} ({what}) to the customer was not kept"),
       ("对客户的承诺未兑现", "对客户的承诺 #{promise}（{what}）未按时兑现")),
    _n(NoticeKind.MENTION, ("mentioned in a note", "{author} mentioned you on complaint {complaint}: {excerpt}"),
       ("备注中提到您", "{author} 在投诉 #{complaint} 的备注中提到了您：{excerpt}")),
)}

#: Role names per language (digest lines "as lead").
ROLE_LABELS = {
    "en": {r: r.value.replace("_", " ") for r in Role},
    "zh": {Role.ASSIGNEE: "处理人", Role.LEAD: "部门负责人", Role.OPERATIONS_MANAGER: "运营经理",
           Role.CRISIS_OWNER: "危机负责人", Role.CUSTOMER: "客户", Role.MENTIONED: "被提及者"},
}
LANGUAGES = ("en", "zh")

#: Messages that are not notices (the daily overdue digest), per language.
MESSAGES = {
    "digest_subject": {"en": "closeloop: overdue tasks on {day}", "zh": "closeloop：{day} 超时任务"},
    "digest_heading": {"en": "Overdue tasks on {day}:", "zh": "{day} 超时任务："},
    "digest_line": {"en": "- {department}: {count} overdue task(s), oldest due {oldest}",
                    "zh": "- {department}：{count} 项超时任务，最早截止 {oldest}"},
    "digest_none": {"en": "- none", "zh": "- 无"},
    # the ``{reason}`` of a wait that ran out when the wait had none (a row from before reasons were required)
    "no_wait_reason": {"en": "no reason given", "zh": "未说明原因"},
    # the operations manager's alert about a dead letter (services/engine/delivery.py); values arrive escaped
    "dead_letter_subject": {"en": "Not delivered: {subject}", "zh": "未送达：{subject}"},
    "dead_letter_body": {
        "en": "Outbox message {id} ({idempotency_key}) to {recipient} via {channel} was not delivered and is now "
              "a dead letter ({reason}) after {attempts} attempts.\n\nLast error: {error}\n\n"
              "Re-send it with the same idempotency key: `{command}`",
        "zh": "外发消息 #{id}（{idempotency_key}）经 {channel} 发给 {recipient}，未能送达，"
              "{attempts} 次尝试后已转为死信（{reason}）。\n\n最后一次错误：{error}\n\n"
              "以相同的幂等键重新发送：`{command}`"},
}


def message(key: str, language: str, **fields: object) -> str:
    """A non-notice message (:data:`MESSAGES`) in ``language`` (falls back to English)."""
    texts = MESSAGES[key]
    return texts.get(language, texts["en"]).format(**fields)


def role_for(spec: TimerSpec, level: int | None) -> Role:
    """The recipient role of a fired timer: the declared one, else by ladder level."""
    return spec.role if spec.role is not None else LEVEL_ROLES[int(level or 1)]


def page_role(page: int) -> tuple[Role, int]:
    """Role and level of acknowledgement page ``page`` (1-based): queue, lead, then the operations manager."""
    role = PAGE_ROLES[min(page, len(PAGE_ROLES)) - 1]
    return role, min(page, len(PAGE_ROLES))


@lru_cache(maxsize=1024)
def still_applies(kind: str, subject: Subject) -> DropReason | None:
    """None if a notice of ``kind`` still applies to ``subject``, else the reason to drop it (memoised:
    pure, on a few dozen distinct inputs)."""
    spec = NOTICES.get(NoticeKind(kind))
    return spec.applies(subject) if spec is not None else None


@lru_cache(maxsize=1024)
def chain_rank(kind: str, level: int, detail: int) -> tuple[str, float] | None:
    """(chain, rank) of a notice: reminders (rank pct/1000) come before escalation levels of the same
    task; acknowledgement pages rank by page. None when the kind is not part of a chain. Memoised (a
    sweep ranks every earlier notice of its tasks: some 200,000 calls on a few dozen distinct inputs)."""
    spec = NOTICES.get(NoticeKind(kind))
    if spec is None or spec.chain is None:
        return None
    if kind == NoticeKind.REMINDER:
        return spec.chain, detail / 1000
    return spec.chain, float(detail or level)


def label(kind: str, language: str) -> str:
    """The short label of a notice kind in ``language`` (falls back to English)."""
    labels = NOTICES[NoticeKind(kind)].labels
    return labels.get(language, labels["en"])


def render(kind: str, language: str, params: dict[str, object]) -> tuple[str, str]:
    """(label, text) of a notice in ``language`` (falls back to English); a missing or blank ``reason`` (a
    wait without one) reads as ``MESSAGES["no_wait_reason"]`` in that language. Raises KeyError naming a
    missing template field."""
    spec = NOTICES[NoticeKind(kind)]
    lang = language if language in spec.texts else "en"
    text = spec.texts[lang]
    if "{reason}" in text and not str(params.get("reason") or "").strip():
        params = {**params, "reason": message("no_wait_reason", lang)}
    return spec.labels[lang], text.format(**params)


def rules_table() -> str:
    """The escalation and reminder rules as a Markdown table (the README's copy is checked against it)."""
    lines = ["| kind | key | fires when | recipient | level | still applies at release |",
             "|---|---|---|---|---|---|"]
    for spec in TIMERS.values():
        who = spec.role.value if spec.role else ("by page: " + " -> ".join(PAGE_ROLES)
                                                 if spec.chain == "ack" else "by level: " +
                                                 ", ".join(f"{k} {v}" for k, v in LEVEL_ROLES.items()))
        if spec.effect != Effect.NOTIFY and spec.role is None:
            who = "-"
        applies = (spec.applies.__doc__ or spec.applies.__name__.strip("_").replace("_", " ")).split("\n")[0]
        lines.append(f"| {spec.kind} | `{spec.key_format}` | {spec.wanted} | {who} | "
                     f"{spec.level if spec.level is not None else '-'} | {applies} |")
    return "\n".join(lines) + "\n"
