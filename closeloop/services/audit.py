"""Audit rows: every transition the domain accepts is stored as a ``Transition`` row."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from closeloop.domain.machine import TransitionRecord
from models.db import CloseloopSession
from models.tables import Transition


def audit_row(rec: TransitionRecord, entity_id: int, complaint_id: int | None) -> Transition:
    return Transition(
        entity=rec.entity, entity_id=entity_id, complaint_id=complaint_id,
        from_state=rec.from_state, to_state=rec.to_state, trigger=rec.trigger,
        actor=rec.actor, reason=rec.reason, at=rec.at, data=dict(rec.data),
    )


def audit_dict(entity: str, entity_id: int, complaint_id: int | None, from_state: str | None, to_state: str,
               trigger: str, actor: str, at: datetime, reason: str | None = None,
               data: dict | None = None) -> dict:
    """The same row as a dict, for bulk inserts (import)."""
    return {
        "entity": entity, "entity_id": entity_id, "complaint_id": complaint_id,
        "from_state": from_state, "to_state": to_state, "trigger": trigger,
        "actor": actor, "reason": reason, "at": at, "data": data or {},
    }


def add_task(session, task, *, actor: str, at: datetime, reason: str | None = None, data: dict | None = None):
    """Add a new ``Task`` row, flush it for its id and write its ``create`` audit row (no commit).

    ``data`` defaults to ``{"department": task.department}``. Returns the task.
    """
    session.add(task)
    session.flush()
    session.add(Transition(**audit_dict("task", task.id, task.complaint_id, None, task.status, "create", actor, at,
                                        reason=reason, data=data or {"department": task.department})))
    return task


#: the audit columns a row is written with (all but the key), and their INSERT, built once
_AUDIT_KEYS = tuple(c.key for c in Transition.__table__.columns if c.key != "id")
_INSERT_AUDIT = insert(Transition.__table__)


@event.listens_for(CloseloopSession, "before_flush")
def _insert_audit_rows(session: Session, _flush_context, instances) -> None:
    """closeloop's sessions only (:class:`~models.db.CloseloopSession`; another library's sessions are left
    alone). SQLite: a flush whose only new rows are audit rows with every column given (what :func:`audit_row` and
    :func:`audit_dict` build) writes them in one ``executemany`` of a plain INSERT, in the order they were added
    (the ids the flush would give them), and drops them from the session: the ORM would insert them one
    statement each with ``RETURNING id`` (SQLite has no sentinel for batching them), for ids nothing reads.
    Anything else (another new row, whose key an audit row may refer to; a deletion; an audit row with its
    own id or a column left to its default; PostgreSQL) is flushed by the ORM as before."""
    if instances is not None or session.deleted:
        return
    new = session.new
    if not new or session.get_bind(Transition).dialect.name != "sqlite":
        return
    rows = []
    for obj in new:
        if type(obj) is not Transition:
            return
        state = inspect(obj)
        values = state.dict
        if values.get("id") is not None or any(k not in values for k in _AUDIT_KEYS):
            return
        rows.append((state.insert_order, obj, {k: values[k] for k in _AUDIT_KEYS}))
    rows.sort(key=itemgetter(0))
    session.connection(bind_arguments={"mapper": Transition}).execute(_INSERT_AUDIT, [r[2] for r in rows])
    for _, obj, _ in rows:
        session.expunge(obj)
