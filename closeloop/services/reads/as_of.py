"""What the audit log says a row looked like at an instant: the monthly review's figures of a past month (and the
customer promises' figures it shows, :func:`closeloop.services.customers.promises.promise_figures`) are read as
recorded up to its end, so later work (a root cause corrected, a severity changed, a task cancelled, a merge) does
not change them. Shared as-of readers: they live with the read models so that neither user imports the other.

Every reader here is set-based: one or two statements for all the rows it is asked about, whatever their number.
The audit rows it reads (``transition``) are written by :func:`closeloop.services.transitions.apply` (status
changes) and :func:`~closeloop.services.transitions.record_event` (``root_cause``: data ``root_cause``/``previous``;
``reprioritize``: data ``from``/``to``; ``merge``: data ``into``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from models.tables import Transition


def states_at(s: Session, entity: str, as_of: datetime, among: Select | None = None) -> dict[int, str]:
    """``{id: status}`` of every ``entity`` (``complaint``, ``task``, ``improvement``, ``promise``; only the ids
    the one-column select ``among`` gives, when given) at ``as_of``: its latest audited change before that instant
    (ties at one instant: the later row wins). A row without an audit row before ``as_of`` is left out."""
    return {eid: state for eid, state, _ in latest_at(s, entity, as_of, among)}


def latest_at(s: Session, entity: str, as_of: datetime,
              among: Select | None = None) -> list[tuple[int, str, int | None]]:
    """``(id, status, complaint id)`` of the latest audit row before ``as_of`` of each ``entity`` row (of
    ``among``, when given; ties at one instant: the later row wins), in audit-row order. One statement."""
    scope = [Transition.entity == entity, Transition.at < as_of]
    if among is not None:
        scope.append(Transition.entity_id.in_(among))
    last = (select(Transition.entity_id.label("eid"), func.max(Transition.at).label("at"))
            .where(*scope).group_by(Transition.entity_id).subquery())
    rows = s.execute(select(Transition.entity_id, Transition.to_state, Transition.complaint_id)
                     .join(last, and_(Transition.entity_id == last.c.eid, Transition.at == last.c.at))
                     .where(Transition.entity == entity).order_by(Transition.id)).all()
    return [(eid, state, cid) for eid, state, cid in rows]


def values_at(s: Session, entity: str, trigger: str, keys: tuple[str, str], current: Mapping[int, Any],
              among: Select | None, as_of: datetime) -> dict[int, Any]:
    """``{id: value}`` at ``as_of`` of an attribute of the ``entity`` rows ``among`` (a one-column select of ids;
    None: every row, for an attribute that rarely changes) that only changes with an audit row of ``trigger``
    whose data holds ``keys`` = (new value, old value).

    The value at ``as_of`` is the new value of the latest such row before ``as_of``; without one, the old value of
    the first row after it (the value was not changed yet); without any row, ``current`` (it never changed). One
    statement."""
    new_key, old_key = keys
    scope = [Transition.entity == entity, Transition.trigger == trigger]
    if among is not None:
        scope.append(Transition.entity_id.in_(among))
    rows = s.execute(select(Transition.entity_id, Transition.at, Transition.data).where(*scope)
                     .order_by(Transition.entity_id, Transition.at, Transition.id)).all()
    out = dict(current)
    settled: set[int] = set()  # ids whose value at as_of is known from a row before it
    first_after: set[int] = set()
    for eid, at, data in rows:
        data = data or {}
        if at < as_of:
            out[eid] = data.get(new_key)
            settled.add(eid)
        elif eid not in settled and eid not in first_after:
            out[eid] = data.get(old_key)
            first_after.add(eid)
    return out


def merged_into_at(s: Session, as_of: datetime) -> dict[int, int]:
    """``{duplicate id: survivor id}`` of the complaints merged before ``as_of`` (audit row ``merge``, data
    ``into``), followed to the end of each chain as it stood then. One statement."""
    into = {eid: (data or {}).get("into") for eid, data in s.execute(
        select(Transition.entity_id, Transition.data).where(
            Transition.entity == "complaint", Transition.trigger == "merge", Transition.at < as_of))}
    out = {}
    for dup in into:
        root, seen = dup, {dup}
        while into.get(root) is not None and into[root] not in seen:
            root = into[root]
            seen.add(root)
        out[dup] = root
    return out


def improvement_causes_at(s: Session, as_of: datetime) -> dict[int, str | None]:
    """``{improvement id: root cause}`` at ``as_of`` of the records whose audit rows before it carry one (data
    ``root_cause``: the ``create`` row, and every trigger given a root cause,
    :func:`closeloop.services.capa.improvement.fire`); the latest wins. One statement."""
    out: dict[int, str | None] = {}
    for eid, data in s.execute(select(Transition.entity_id, Transition.data).where(
            Transition.entity == "improvement", Transition.at < as_of).order_by(Transition.at, Transition.id)):
        if data and "root_cause" in data:
            out[eid] = data["root_cause"]
    return out
