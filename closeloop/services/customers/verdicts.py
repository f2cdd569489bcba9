"""The customer's verdict from a follow-up link (issue 13 §6): checked, recorded once, audited.

The verdict goes the same way as an agent's (``lifecycle.record_follow_up``): solved closes the
complaint; not solved reopens it to the department that did the work. The actor in the audit log
is ``customer (link)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from closeloop.config import Config
from closeloop.domain.errors import Conflict, IllegalTransition
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.domain.task import ACTIVE_STATES, TaskStatus
from closeloop.domain.task_kinds import SystemTaskKind
from closeloop.services.customers.links import LinkRefused, Verdict, VerdictLinks
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, Customer, Task

ACTOR = "customer (link)"


class ClickOutcome(StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"  # the follow-up was answered before (another click, a reply, an agent)
    CLOSED = "closed"  # the follow-up was withdrawn (cancelled: the complaint was reopened meanwhile)


@dataclass(frozen=True)
class Click:
    outcome: ClickOutcome
    verdict: Verdict
    language: str


def link_language(sessions, config: Config, task_id: int) -> str:
    """The served language of the customer the follow-up task asks (the default for an unknown task)."""
    with unit_of_work(sessions) as s:
        lang = s.scalar(select(Customer.language).join(Complaint, Complaint.customer_id == Customer.id)
                        .join(Task, Task.complaint_id == Complaint.id).where(Task.id == task_id))
    return config.model.customers.language_for(lang)


def withdrawn(sessions, task_id: int) -> bool:
    """True when follow-up task ``task_id`` was cancelled (the complaint reopened before the customer answered):
    its links are no longer open and record nothing."""
    with unit_of_work(sessions) as s:
        return s.scalar(select(Task.status).where(Task.id == task_id)) == TaskStatus.CANCELLED


def record_click(sessions, config: Config, links: VerdictLinks, task_id: int, verdict: str, expires: int,
                 signature: str, *, at: datetime) -> Click:
    """Check the link and record its verdict once. Raises :class:`LinkRefused` for a forged, expired or
    foreign link (a task that is not a follow-up); a second click is ``already`` and changes nothing, a click on
    a follow-up cancelled by a reopen is ``closed`` and changes nothing."""
    # deferred: import cycle: lifecycle -> tasks -> customers -> verdicts
    from closeloop.services.work.lifecycle import (
        record_follow_up_in_session,  # lifecycle -> tasks -> ... imports nothing from here
    )

    v = links.check(task_id, verdict, expires, signature, at)
    language = link_language(sessions, config, task_id)
    try:
        with unit_of_work(sessions) as s:
            task = s.get(Task, task_id)
            if task is None or task.kind != SystemTaskKind.FOLLOW_UP:
                raise LinkRefused(f"task {task_id} is not a customer follow-up")
            if task.status not in ACTIVE_STATES:
                closed = task.status == TaskStatus.CANCELLED
                return Click(ClickOutcome.CLOSED if closed else ClickOutcome.ALREADY, v, language)
            record_follow_up_in_session(s, task, config=config, satisfied=v is Verdict.SOLVED,
                                        note=system_reason(SystemReason.CUSTOMER_ANSWER_BY_LINK), actor=ACTOR, at=at)
    except (IllegalTransition, Conflict):  # a concurrent click won
        return Click(ClickOutcome.ALREADY, v, language)
    return Click(ClickOutcome.RECORDED, v, language)
