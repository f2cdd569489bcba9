"""Which texts stored outside the audit trail the engine wrote: a complaint's root-cause note, a reopened
task's title, a transferred task's reason, and the title and problem of an improvement record recurrence
detection proposed (:func:`record_texts`, with :mod:`closeloop.domain.record_texts`).

Each is written together with an audit row holding the same text as its reason, whose ``data`` says whose that
reason is (:func:`~closeloop.domain.reasons.reason_data`: the engine's code, or null for a person's). A page
passes that ``data`` to :func:`~closeloop.domain.reasons_i18n.translate_reason` with the text, so a person's
words that read like an engine sentence are shown as typed. When no such row matches the text (one written
before codes were stored has no key either), the data is None and the text is recognised from its English,
as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from closeloop.domain.record_texts import recognise
from closeloop.domain.task_kinds import REOPENED_PREFIX, SystemTaskKind, reopened_title
from closeloop.services.capa.improvement import SYSTEM  # the actor of the records recurrence detection proposes
from closeloop.services.uow import unit_of_work
from models.tables import Improvement, Task, Transition

#: The audit ``trigger`` of the rows that wrote each text (capa/root_cause.py:record, audit.py:add_task).
ROOT_CAUSE_EVENT = "root_cause"
CREATE = "create"


def root_cause_note_data(sessions, complaint_id: int, note: str | None) -> dict[str, Any] | None:
    """The ``data`` of the complaint's latest ``root_cause`` audit row when its reason is ``note`` (the
    complaint's ``root_cause_detail``: that row wrote it), else None (no note, or no row wrote it). Raises
    nothing."""
    if not note:
        return None
    with unit_of_work(sessions) as s:
        row = s.execute(select(Transition.reason, Transition.data)
                        .where(Transition.entity == "complaint", Transition.entity_id == complaint_id,
                               Transition.trigger == ROOT_CAUSE_EVENT)
                        .order_by(Transition.at.desc(), Transition.id.desc()).limit(1)).first()
    return dict(row.data or {}) if row is not None and row.reason == note else None


def reopened_title_data(sessions, tasks: Iterable[Task]) -> dict[int, dict[str, Any]]:
    """Task id -> the ``data`` of the audit row that wrote the reason in its title, for each ``reopened`` task
    of ``tasks`` whose title is still :func:`~closeloop.domain.task_kinds.reopened_title` of that reason: the
    ``create`` row of the task the reopen made (a transferred task carries its origin's title, so the chain of
    ``transferred_from_id`` is followed back to it). Other tasks are absent. Two or three queries whatever the
    number of tasks (one more per transfer in the longest chain). Raises nothing."""
    wanted = {t.id: t for t in tasks if t.kind == SystemTaskKind.REOPENED and t.title.startswith(REOPENED_PREFIX)}
    if not wanted:
        return {}
    parent: dict[int, int | None] = {tid: t.transferred_from_id for tid, t in wanted.items()}
    with unit_of_work(sessions) as s:
        pending = {p for p in parent.values() if p is not None and p not in parent}
        while pending:
            rows = s.execute(select(Task.id, Task.transferred_from_id).where(Task.id.in_(pending))).all()
            parent.update({tid: up for tid, up in rows})
            pending = {up for _, up in rows if up is not None and up not in parent}
        origin = {tid: _origin(tid, parent) for tid in wanted}
        made = {eid: (reason, data) for eid, reason, data in s.execute(
            select(Transition.entity_id, Transition.reason, Transition.data)
            .where(Transition.entity == "task", Transition.trigger == CREATE,
                   Transition.entity_id.in_(set(origin.values()))))}
    out: dict[int, dict[str, Any]] = {}
    for tid, task in wanted.items():
        reason, data = made.get(origin[tid], (None, None))
        if reason is not None and task.title == reopened_title(reason):
            out[tid] = dict(data or {})
    return out


def transfer_reason_data(sessions, tasks: Iterable[Task]) -> dict[int, dict[str, Any]]:
    """Task id -> the ``data`` of the ``create`` audit row that wrote its ``transfer_reason`` (the transfer made
    the task with that reason: services/work/tasks.py:transfer_in_session), for each of ``tasks`` that has a
    transfer reason and such a row holding the same text. Other tasks are absent (their reason is recognised
    from its text). One query whatever the number of tasks, none without a transferred one. Raises nothing."""
    wanted = {t.id: t.transfer_reason for t in tasks if t.transfer_reason}
    if not wanted:
        return {}
    rows = _create_rows(sessions, "task", set(wanted))
    return {tid: dict(data or {}) for tid, reason, data in rows if reason is not None and reason == wanted[tid]}


def _create_rows(sessions, entity: str, ids: set[int]) -> list[Any]:
    """``(entity_id, reason, data)`` of the ``create`` audit rows of ``entity`` ``ids``: one query."""
    with unit_of_work(sessions) as s:
        return list(s.execute(select(Transition.entity_id, Transition.reason, Transition.data)
                              .where(Transition.entity == entity, Transition.trigger == CREATE,
                                     Transition.entity_id.in_(ids))).all())


def _origin(task_id: int, parent: dict[int, int | None]) -> int:
    """The first task of ``task_id``'s transfer chain (``parent``: each task's ``transferred_from_id``)."""
    while (up := parent.get(task_id)) is not None:
        task_id = up
    return task_id


def record_texts(sessions, records: Iterable[Improvement]) -> dict[int, dict[str, dict[str, Any]]]:
    """Improvement record id -> ``{"title": data, "problem": data}`` for the texts of ``records`` the engine
    wrote (recurrence detection), each ``data`` as :func:`~closeloop.domain.record_texts.render` reads it: from
    the record's ``create`` audit row (``data["texts"]``) while its reason is still the record's title; for a row
    without that key (written before codes were stored) and a record the system created, recognised from its
    text and match (:func:`~closeloop.domain.record_texts.recognise`). A person's texts (an empty ``texts``, or a
    record a person created) are absent, and shown as typed. One query whatever the number. Raises nothing."""
    recs = {r.id: r for r in records}
    if not recs:
        return {}
    made = {eid: (reason, data or {}) for eid, reason, data in _create_rows(sessions, "improvement", set(recs))}
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for rid, rec in recs.items():
        reason, data = made.get(rid, (None, {}))
        if "texts" in data:
            texts = dict(data["texts"] or {}) if reason == rec.title else {}
        else:
            texts = recognise(rec.title, rec.problem or "", rec.match or {}) if rec.created_by == SYSTEM else {}
        if texts:
            out[rid] = texts
    return out
