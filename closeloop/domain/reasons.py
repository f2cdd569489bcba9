"""The reasons the engine writes into the audit trail itself.

A reason a person typed is stored and shown as written. The engine's own reasons are stored in English (the
audit trail, the API and the exports read them as they always did) but are written only through
:func:`system_reason` from the one table :data:`SYSTEM_REASONS`, so a page can recognise a stored text again
(:func:`parse_reason`: its :class:`SystemReason` code and parameters, rows written before this table included)
and show it in the reader's language (:func:`closeloop.domain.reasons_i18n.translate_reason`). A parameter is a
value the engine filled in (an id, a channel, a count) or a reason of its own (a person's, shown as written, or
another system reason, recognised in turn).
"""

from __future__ import annotations

import re
from enum import StrEnum


class SystemReason(StrEnum):
    """The stable code of one of the engine's own reasons (the key of its text in every language)."""

    TASK_TAKEN_UP = "task_taken_up"  # services/work/tasks.py: a task starts the complaint
    ACKNOWLEDGED_BY_PAUSE = "acknowledged_by_pause"  # services/work/tasks.py: pausing an open task
    DEPENDENCIES_FINISHED = "dependencies_finished"  # services/work/tasks.py: a blocked task unblocks
    ALL_TASKS_CANCELLED = "all_tasks_cancelled"  # services/work/tasks.py: back to triage
    DEPARTMENT_TASKS_FINISHED = "department_tasks_finished"  # services/work/tasks.py: the complaint resolves
    COMPLAINT_RESOLVED = "complaint_resolved"  # services/work/lifecycle.py: its tasks cancelled
    COMPLAINT_REOPENED = "complaint_reopened"  # services/work/lifecycle.py: a root-cause ask cancelled
    CUSTOMER_SATISFIED = "customer_satisfied"  # services/work/lifecycle.py: follow-up closes
    CUSTOMER_NOT_SATISFIED = "customer_not_satisfied"  # services/work/lifecycle.py: follow-up reopens
    CUSTOMER_NOT_SATISFIED_SILENT = "customer_not_satisfied_silent"  # the same, no reason given
    CUSTOMER_ANSWER_BY_LINK = "customer_answer_by_link"  # services/customers/verdicts.py: the follow-up's note
    MERGED_SAME_TASK = "merged_same_task"  # services/work/complaints.py: a duplicate's task
    WAITING_ON_CUSTOMER = "waiting_on_customer"  # services/work/waits.py: the wait pauses a task
    CUSTOMER_ANSWERED = "customer_answered"  # services/work/waits.py: the answer resumes it
    CUSTOMER_MESSAGE = "customer_message"  # services/work/messages.py: a reply or a reopen
    CUSTOMER_MESSAGE_NO_CHANNEL = "customer_message_no_channel"
    NO_CUSTOMER_RESPONSE = "no_customer_response"  # services/engine/sweep_fire.py: wait expired
    NO_CUSTOMER_RESPONSE_CAUSE = "no_customer_response_cause"  # its root cause note
    FOLLOW_UP_DUE = "follow_up_due"  # services/engine/sweep_fire.py: follow-up task
    PROMISE_NOT_KEPT = "promise_not_kept"  # services/customers/promises.py (sweep)
    PERSONAL_DATA_ERASED = "personal_data_erased"  # services/customers/profiles.py
    ROOT_CAUSE_ASKED = "root_cause_asked"  # services/capa/root_cause.py: root-cause task
    EFFECTIVENESS_CHECK_DUE = "effectiveness_check_due"  # services/capa/effectiveness.py
    EFFECTIVENESS_COUNTS = "effectiveness_counts"  # services/capa/effectiveness.py: the check's verdict
    EFFECTIVENESS_COUNTS_REDUCTION = "effectiveness_counts_reduction"
    FIX_DID_NOT_WORK = "fix_did_not_work"  # services/capa/effectiveness.py: rework
    JUDGED_INEFFECTIVE = "judged_ineffective"  # services/capa/improvement.py: a person, no reason
    REPLAY_ACTION_DONE = "replay_action_done"  # services/replay/replay_loop.py
    REPLAY_FOLLOW_UP = "replay_follow_up"  # services/replay/replay.py


#: The English text of each system reason as stored, ``{name}`` its parameters (:func:`system_reason`).
SYSTEM_REASONS: dict[SystemReason, str] = {
    SystemReason.TASK_TAKEN_UP: "task {task} ({department}) taken up",
    SystemReason.ACKNOWLEDGED_BY_PAUSE: "acknowledged by its pause",
    SystemReason.DEPENDENCIES_FINISHED: "all tasks it depends on are finished",
    SystemReason.ALL_TASKS_CANCELLED: "all tasks cancelled",
    SystemReason.DEPARTMENT_TASKS_FINISHED: "all department tasks are finished",
    SystemReason.COMPLAINT_RESOLVED: "complaint resolved: {reason}",
    SystemReason.COMPLAINT_REOPENED: "the complaint was reopened: {reason}",
    SystemReason.CUSTOMER_SATISFIED: "customer satisfied",
    SystemReason.CUSTOMER_NOT_SATISFIED: "customer not satisfied: {note}",
    SystemReason.CUSTOMER_NOT_SATISFIED_SILENT: "customer not satisfied: no reason given",
    SystemReason.CUSTOMER_ANSWER_BY_LINK: "the customer's answer by link",
    SystemReason.MERGED_SAME_TASK: "complaint {duplicate} merged into {survivor}, which has the same task",
    SystemReason.WAITING_ON_CUSTOMER: "waiting on the customer: {reason}",
    SystemReason.CUSTOMER_ANSWERED: "the customer answered",
    SystemReason.CUSTOMER_MESSAGE: "customer message via {channel}",
    SystemReason.CUSTOMER_MESSAGE_NO_CHANNEL: "customer message via unknown channel",
    SystemReason.NO_CUSTOMER_RESPONSE: "closed - no customer response",
    SystemReason.NO_CUSTOMER_RESPONSE_CAUSE: "closed - no customer response: the customer did not answer",
    SystemReason.FOLLOW_UP_DUE: "customer follow-up",
    SystemReason.PROMISE_NOT_KEPT: "not kept by {due}",
    SystemReason.PERSONAL_DATA_ERASED: "personal data erased on request",
    SystemReason.ROOT_CAUSE_ASKED: "waiting for a root cause",
    SystemReason.EFFECTIVENESS_CHECK_DUE: "effectiveness check due",
    SystemReason.EFFECTIVENESS_COUNTS: "{before} matching complaints in the {days} days before, {after} in the "
    "{days} days after",
    SystemReason.EFFECTIVENESS_COUNTS_REDUCTION: "{before} matching complaints in the {days} days before, {after} "
    "in the {days} days after ({reduction} reduction)",
    SystemReason.FIX_DID_NOT_WORK: "the fix did not work: {why}",
    SystemReason.JUDGED_INEFFECTIVE: "judged ineffective by {actor}",
    SystemReason.REPLAY_ACTION_DONE: "corrective action done (replay model)",
    SystemReason.REPLAY_FOLLOW_UP: "replayed follow-up",
}

_FIELD = re.compile(r"\{(\w+)\}")


def system_reason(code: SystemReason, **params: object) -> str:
    """The English text of system reason ``code`` with its ``params`` filled in (``str()`` of each), as stored.

    Raises ``KeyError`` when a parameter of the text is missing."""
    return SYSTEM_REASONS[code].format(**params)


def _pattern(text: str) -> re.Pattern[str]:
    """A template's text as a regular expression: each parameter a named group (a repeated one must repeat)."""
    out, seen, last = [], set(), 0
    for m in _FIELD.finditer(text):
        out.append(re.escape(text[last : m.start()]))
        name = m.group(1)
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        last = m.end()
    out.append(re.escape(text[last:]))
    return re.compile("".join(out), re.S)


_FIXED: dict[str, SystemReason] = {text: code for code, text in SYSTEM_REASONS.items() if not _FIELD.search(text)}
# the most specific first: the longest literal part (a text without parameters is looked up in _FIXED first)
_PATTERNS: list[tuple[SystemReason, re.Pattern[str]]] = sorted(
    ((code, _pattern(text)) for code, text in SYSTEM_REASONS.items() if _FIELD.search(text)),
    key=lambda cp: -len(_FIELD.sub("", SYSTEM_REASONS[cp[0]])),
)


def parse_reason(text: str | None) -> tuple[SystemReason, dict[str, str]] | None:
    """The system reason a stored ``text`` is, with its parameters (``{"reason": "..."}``), or None for a text
    a person wrote (or none)."""
    if not text:
        return None
    if text in _FIXED:
        return _FIXED[text], {}
    for code, pattern in _PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            return code, m.groupdict()
    return None
