"""Audit rows: every transition the domain accepts is stored as a ``Transition`` row.

Its reason is stored as text (the English of the engine's own) and its ``data`` says whose it is
(:func:`~closeloop.domain.reasons.reason_data`: the engine's code and parameters, or null for a person's)."""

from __future__ import annotations

from datetime import datetime

from closeloop.domain.machine import TransitionRecord
from closeloop.domain.reasons import reason_data
from closeloop.services import plain_flush as _plain_flush  # noqa: F401  (registers its flush hook)
from models.tables import Transition


def audit_row(rec: TransitionRecord, entity_id: int, complaint_id: int | None) -> Transition:
    return Transition(
        entity=rec.entity, entity_id=entity_id, complaint_id=complaint_id,
        from_state=rec.from_state, to_state=rec.to_state, trigger=rec.trigger,
        actor=rec.actor, reason=_text(rec.reason), at=rec.at, data={**rec.data, **reason_data(rec.reason)},
    )


def audit_dict(entity: str, entity_id: int, complaint_id: int | None, from_state: str | None, to_state: str,
               trigger: str, actor: str, at: datetime, reason: str | None = None,
               data: dict | None = None) -> dict:
    """The same row as a dict, for bulk inserts (import)."""
    return {
        "entity": entity, "entity_id": entity_id, "complaint_id": complaint_id,
        "from_state": from_state, "to_state": to_state, "trigger": trigger,
        "actor": actor, "reason": _text(reason), "at": at, "data": {**(data or {}), **reason_data(reason)},
    }


def _text(reason: str | None) -> str | None:
    """The reason as the plain ``str`` stored (an :class:`~closeloop.domain.reasons.EngineReason`'s text)."""
    return None if reason is None else str(reason)


def add_task(session, task, *, actor: str, at: datetime, reason: str | None = None, data: dict | None = None):
    """Add a new ``Task`` row, flush it for its id and write its ``create`` audit row (no commit).

    ``data`` defaults to ``{"department": task.department}``. Returns the task.
    """
    session.add(task)
    session.flush()
    session.add(Transition(**audit_dict("task", task.id, task.complaint_id, None, task.status, "create", actor, at,
                                        reason=reason, data=data or {"department": task.department})))
    return task
