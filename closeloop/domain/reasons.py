"""The reasons the engine writes into the audit trail itself.

A reason a person typed is stored and shown as written. The engine's own reasons are stored in English (the
audit trail, the API and the exports read them as they always did) but are written only through
:func:`system_reason` from the one table :data:`SYSTEM_REASONS`. What it returns is an :class:`EngineReason`:
the English text (a ``str``, written wherever a reason was) that also carries its :class:`SystemReason` code
and parameters, which the audit step stores beside the text in the row's ``data`` (:data:`REASON_KEY`,
:func:`reason_data`; a person's reason is stored with that key null). A reader takes the code from there
(:func:`stored_reason`) and shows it in the reader's language
(:func:`closeloop.domain.reasons_i18n.translate_reason`); only a row written before codes were stored (no
key) is recognised from its text (:func:`parse_reason`). A parameter is a value the engine filled in (an id,
a channel, a count) or a reason of its own (a person's, shown as written, or another system reason, kept
with its own code).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any


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


#: The key of an audit row's ``data`` that says whose its reason is: ``{"code": "...", "params": {...}}`` for
#: one of the engine's (:meth:`EngineReason.data`), null for a person's; absent on rows written before it.
REASON_KEY = "system_reason"


class EngineReason(str):
    """One of the engine's own reasons: its English text as stored (this ``str`` itself), with its ``code`` and
    its ``params`` (each the ``str()`` of the value given, or a nested :class:`EngineReason`).

    Built by :func:`system_reason`; the audit step stores :meth:`data` beside the text. A ``str`` operation
    (``strip``, an f-string) gives a plain ``str``, which is stored as a person's reason would be."""

    code: SystemReason
    params: dict[str, str]  # a value is a plain str or a nested EngineReason (itself a str)

    def __new__(cls, code: SystemReason, params: Mapping[str, object]) -> EngineReason:
        kept = {k: v if isinstance(v, EngineReason) else str(v) for k, v in params.items()}
        self = super().__new__(cls, SYSTEM_REASONS[code].format(**kept))
        self.code, self.params = code, kept
        return self

    def __reduce__(self) -> tuple[type[EngineReason], tuple[SystemReason, dict[str, str]]]:
        return EngineReason, (self.code, self.params)

    def data(self) -> dict[str, object]:
        """``{"code": "complaint_resolved", "params": {"reason": "..."}}``, a nested reason as its own such dict
        (JSON as it is)."""
        return {"code": self.code.value,
                "params": {k: v.data() if isinstance(v, EngineReason) else v for k, v in self.params.items()}}

    @classmethod
    def from_data(cls, value: object) -> EngineReason | None:
        """The reason :meth:`data` gave ``value`` for; None for anything else (an unknown code, a missing
        parameter: a malformed row is shown as its text)."""
        try:
            return cls._build(value)
        except (TypeError, KeyError, ValueError, AttributeError, IndexError):
            return None

    @classmethod
    def _build(cls, value: Any) -> EngineReason:
        params = {k: cls._build(v) if isinstance(v, dict) else str(v) for k, v in value["params"].items()}
        return cls(SystemReason(value["code"]), params)


def system_reason(code: SystemReason, **params: object) -> EngineReason:
    """The English text of system reason ``code`` with its ``params`` filled in (``str()`` of each, a nested
    :class:`EngineReason` kept as it is), as stored; it carries the code and the parameters.

    Raises ``KeyError`` when a parameter of the text is missing."""
    return EngineReason(code, params)


def reason_data(reason: str | None) -> dict[str, object]:
    """What an audit row's ``data`` records of its ``reason``: ``{REASON_KEY: {...}}`` for an
    :class:`EngineReason`, ``{REASON_KEY: None}`` for any other text (a person's, even one that reads like
    the engine's), ``{}`` for no reason."""
    if reason is None:
        return {}
    return {REASON_KEY: reason.data() if isinstance(reason, EngineReason) else None}


def stored_reason(text: str | None, data: Mapping[str, Any] | None = None) -> EngineReason | None:
    """The engine's reason an audit row holds (``text`` its reason, ``data`` its data), or None for a person's
    (or none). From ``data[REASON_KEY]`` when the row has that key (null: a person's; malformed: None);
    otherwise, a row written before codes were stored (or a text kept outside the audit trail), recognised
    from ``text`` by :func:`parse_reason`, nested reasons too. Raises nothing."""
    if data and REASON_KEY in data:
        return EngineReason.from_data(data[REASON_KEY]) if data[REASON_KEY] is not None else None
    return _from_text(text)


def _from_text(text: str | None) -> EngineReason | None:
    found = parse_reason(text)
    if found is None:
        return None
    code, params = found
    return EngineReason(code, {k: _from_text(v) or v for k, v in params.items()})


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
