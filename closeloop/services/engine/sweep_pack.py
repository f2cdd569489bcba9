"""Step 3 of the sweep (:mod:`closeloop.services.engine.sweep`): drop the released notices that no longer
apply (K12) and pack the others into one digest outbox message per address, a page of released
notifications per transaction (:data:`PACK_PAGE`), so a backlog after downtime is never read whole."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, bindparam, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from closeloop.domain.notices import (
    NOTICES,
    DropReason,
    NoticeKind,
    NotificationStatus,
    Subject,
    chain_rank,
    still_applies,
)
from closeloop.services.bulk import enqueue, rowcount, select_rows, unindexed
from closeloop.services.engine.notify import render_digest
from closeloop.services.uow import unit_of_work
from models.tables import Compensation, Complaint, Notification, Promise, Task

if TYPE_CHECKING:  # the report type only; sweep.py imports this module
    from closeloop.services.engine.sweep import SweepReport


class _PackedElsewhere(Exception):
    pass


#: Most events in one digest message; a larger backlog (after downtime) is split into several messages.
DIGEST_MAX_ITEMS = 200
#: Most notification ids one "drop" UPDATE names: PostgreSQL takes at most 65,535 bound parameters per statement,
#: and a catch-up of 5% of 100,000 complaints drops about 90,000 superseded reminders in one sweep.
DROP_BATCH = 5000
#: Released notifications read, dropped and packed per transaction (:func:`pack`).
PACK_PAGE = 5000


def _drop_stale(s: Session, rows: Sequence[Any], now: datetime, report: SweepReport, tops: _ChainTops) -> set[int]:
    """K12: a released notice must still apply. Drop (status ``dropped``, the :class:`DropReason` in
    ``data.dropped``) each released pending notification of ``rows`` (:func:`_released`) whose task or
    complaint moved on (:func:`~closeloop.domain.notices.still_applies`) or that a later member of its chain
    fired for the same task, address and role superseded (80 % and 100 % reminders held overnight beside the
    level-1 escalation: only the escalation is sent). Source: Icinga/icinga2#5919, PR #7270. Returns the
    ids dropped. ``tops``: the chain ranks read by earlier pages of the same :func:`pack`."""
    nt = Notification.__table__
    top = _chain_tops(s, rows, tops)
    entries = _entry_statuses(s, rows)
    drops: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        reason = still_applies(r.kind, Subject(r.task_status, r.complaint_status, entries.get(r.key)))
        rank = chain_rank(r.kind, r.level, _detail(r.data))
        later = rank is not None and top.get((r.task_id, r.address, r.role, rank[0]), rank[1]) > rank[1]
        if reason is None and later:
            reason = DropReason.SUPERSEDED
        if reason is not None:
            drops[reason].append(r.id)
    for dropped_reason, ids in drops.items():
        for i in range(0, len(ids), DROP_BATCH):
            s.execute(update(nt).where(nt.c.id.in_(ids[i:i + DROP_BATCH]),
                                       unindexed(nt.c.status) == NotificationStatus.PENDING)
                      .values(status=NotificationStatus.DROPPED, dropped_reason=dropped_reason))
        report.dropped[dropped_reason] += len(ids)
    return {i for ids in drops.values() for i in ids}


#: notices about an entry whose status decides whether they still apply: the key prefix (the entry's id follows)
#: and the entry's table (``services/work/compensation.py``, ``services/customers/promises.py``)
_ENTRY_KEYS: dict[str, tuple[str, Any]] = {
    NoticeKind.COMPENSATION_PENDING: ("compensation-pending:", Compensation),
    NoticeKind.PROMISE_REMINDER: ("promise-reminder:", Promise),
}
_ENTRY_ID = re.compile(r"[0-9]{1,18}")


def _entry_statuses(s: Session, rows: Sequence[Any]) -> dict[str, str]:
    """The status of the compensation entry or promise each notice of ``rows`` is about (:data:`_ENTRY_KEYS`), by
    notice key (one statement per entry kind on the page; none without such notices)."""
    wanted: dict[str, dict[int, str]] = defaultdict(dict)
    for r in rows:
        prefix = _ENTRY_KEYS.get(r.kind, ("", None))[0]
        if prefix and r.key.startswith(prefix) and _ENTRY_ID.fullmatch(r.key[len(prefix):]):
            wanted[r.kind][int(r.key[len(prefix):])] = r.key
    found: dict[str, str] = {}
    for kind, ids in wanted.items():
        table = _ENTRY_KEYS[kind][1]
        for i, status in s.execute(select(table.id, table.status).where(table.id.in_(ids))):
            found[ids[i]] = status
    return found


def _released(s: Session, now: datetime, after: int, limit: int) -> tuple[int, Sequence[Any]] | None:
    """The next ``limit`` pending notifications released by ``now`` with an id above ``after``, oldest first,
    with their task's and complaint's status, and the last id of the page; None when there is none. The
    rows may be fewer than the ids, or none (another sweep packed them between the two reads): the caller
    goes on after the last id."""
    nt, tt, ct = Notification.__table__, Task.__table__, Complaint.__table__
    # the page's ids first, from the pending index alone (its entries hold the ids: a sort of ids), then
    # their rows by key: sorting the wide rows of every released notification for each page took
    # 0.1 s a page in a catch-up of 43,000
    ids = s.scalars(select(nt.c.id).where(nt.c.status == NotificationStatus.PENDING, nt.c.release_at <= now,
                                          nt.c.id > after).order_by(nt.c.id).limit(limit)).all()
    if not ids:
        return None
    return ids[-1], s.execute(select(nt.c.id, nt.c.kind, nt.c.level, nt.c.role, nt.c.recipient, nt.c.address,
                            nt.c.channel, nt.c.target, nt.c.language, nt.c.department, nt.c.complaint_id,
                            nt.c.improvement_id, nt.c.task_id, nt.c.key, nt.c.data,
                            tt.c.status.label("task_status"), ct.c.status.label("complaint_status"))
                     .outerjoin(tt, tt.c.id == nt.c.task_id).outerjoin(ct, ct.c.id == nt.c.complaint_id)
                     .where(nt.c.id.in_(ids), unindexed(nt.c.status) == NotificationStatus.PENDING)
                     .order_by(nt.c.id)).all()


def _detail(data: dict | None) -> int:
    """A notice's place in its chain from its ``data``: :func:`_params_detail` of ``data.params``."""
    return _params_detail((data or {}).get("params"))


def _params_detail(params: dict | None) -> int:
    """A notice's place in its chain from its ``data.params``: the reminder's percentage, else the page, else
    the level (the first that is set and not zero or empty), 0 without any."""
    params = params or {}
    return int(params.get("pct") or params.get("page") or params.get("level") or 0)


_NT = Notification.__table__
#: The kinds that belong to a chain (the only ones :func:`~closeloop.domain.notices.chain_rank` ranks).
_CHAIN_KINDS = sorted(kind.value for kind, spec in NOTICES.items() if spec.chain is not None)
#: The chain members of some tasks with their ``data.params`` only, extracted by the database (``JSON_EXTRACT``
#: / ``->``) and ranked in Python as before (:func:`_params_detail`): a catch-up reads some 60,000 of these rows, and
#: decoding each row's whole ``data`` (the rendered text with it) was most of the packing's time.
_CHAIN_ROWS = (select(_NT.c.kind, _NT.c.level, _NT.c.address, _NT.c.role, _NT.c.task_id,
                      type_coerce(_NT.c.data["params"], Text))  # SQLite: the JSON text; psycopg decodes json
               .where(_NT.c.task_id.in_(bindparam("ids", expanding=True)), _NT.c.kind.in_(_CHAIN_KINDS)))


@lru_cache(maxsize=4096)
def _text_detail(params: str) -> int:
    """:func:`_params_detail` of ``data.params`` as JSON text (SQLite), memoised (a catch-up ranks some 60,000
    rows on a few dozen texts)."""
    return _params_detail(json.loads(params))


class _ChainTops(dict):
    """Highest chain rank per (task, address, role, chain), and ``tasks``: the tasks whose notifications
    are all counted in it."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: set[int] = set()


def _chain_tops(s: Session, released: Sequence[Any], top: _ChainTops) -> _ChainTops:
    """``top`` completed with the tasks of ``released`` (one page of released rows): the highest chain rank
    fired so far per (task, address, role, chain), over every notification of each task (in any state, the
    pending ones of later pages included; 500 tasks a statement); one person in two roles still hears as
    both, C25. A task already in ``top`` (an earlier page of the same :func:`pack`: a catch-up's pages
    share most of their tasks) is not read again; a notice fired meanwhile by a concurrent sweep is
    then ranked by the next sweep, as one fired after this page's read already was."""
    ids = sorted({r.task_id for r in released if r.task_id is not None} - top.tasks)
    top.tasks.update(ids)
    for i in range(0, len(ids), 500):
        for kind, level, address, role, task_id, params in select_rows(s, _CHAIN_ROWS, {"ids": ids[i:i + 500]}):
            detail = _text_detail(params) if isinstance(params, str) else _params_detail(params)
            rank = chain_rank(kind, level, detail)
            if rank is not None:
                k = (task_id, address, role, rank[0])
                top[k] = max(top.get(k, rank[1]), rank[1])
    return top


def pack(sessions, now: datetime, report: SweepReport, *, page: int | None = None) -> None:
    """Drop the released notices that no longer apply (:func:`_drop_stale`), then pack the others into one
    digest per address (:data:`DIGEST_MAX_ITEMS` items at most), ``page`` released rows per transaction
    (default :data:`PACK_PAGE`, oldest first): the rows are read once for both, memory is bounded by the
    page (and the chain ranks of the tasks met so far, a few numbers per task), and a worker killed mid-way
    loses only its page's transaction (those rows stay pending and the next sweep packs them). An address
    with rows on two pages gets two messages."""
    after = 0
    tops = _ChainTops()
    while True:
        with unit_of_work(sessions) as s:
            found = _released(s, now, after, page or PACK_PAGE)
            if found is None:
                return
            after, released = found
            _pack_page(s, released, now, report, tops)


def _pack_page(s: Session, released: Sequence[Any], now: datetime, report: SweepReport, tops: _ChainTops) -> None:
    """Drop and pack one page of released rows inside the caller's transaction (``tops``: see
    :func:`_drop_stale`)."""
    dropped = _drop_stale(s, released, now, report, tops)
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for n in released:
        if n.id not in dropped:
            groups[(n.channel, n.target, n.address)].append(n)
    for (channel, target, address), group in groups.items():
        for i in range(0, len(group), DIGEST_MAX_ITEMS):
            if _pack_message(s, channel, target, address, group[i:i + DIGEST_MAX_ITEMS], now):
                report.messages += 1


def _pack_message(s: Session, channel: str, target: str, address: str, group: list, now: datetime) -> bool:
    """One digest outbox row for ``group`` (the rows of one address), its notifications marked packed, in a
    savepoint; False when another sweep packed (some of) them first (nothing of this message is kept)."""
    ids = [n.id for n in group]
    key = "digest:" + hashlib.sha256((address + ":" + ",".join(map(str, ids))).encode()).hexdigest()[:32]
    entries = _digest_entries(group)
    subject, body = render_digest(group[0].language, group[0].recipient, entries)
    nt = Notification.__table__
    try:
        with s.begin_nested():
            oid = enqueue(s, key=key, channel=channel, target=target, recipient=group[0].recipient,
                          subject=subject, body=body, now=now,
                          payload={"items": [{k: v for k, v in e.items() if k not in ("kind_label", "role_labels")}
                                             for e in entries]})
            if oid is None:
                raise _PackedElsewhere()
            done = rowcount(s.execute(update(nt).values(status=NotificationStatus.PACKED, outbox_id=oid).where(
                nt.c.id.in_(ids), unindexed(nt.c.status) == NotificationStatus.PENDING)))
            if done != len(ids):
                raise _PackedElsewhere()
    except (IntegrityError, _PackedElsewhere):
        return False
    return True


def _digest_entries(group: list) -> list[dict]:
    """One entry per event; an event reaching one address through several roles lists all roles (C25)."""
    by_event: dict[tuple, dict] = {}
    for n in group:
        event = (n.kind, n.complaint_id, n.task_id, n.level, (n.data or {}).get("text"))
        e = by_event.get(event)
        if e is None:
            e = by_event[event] = {"kind": n.kind, "level": n.level, "complaint_id": n.complaint_id,
                                   "improvement_id": n.improvement_id,
                                   "task_id": n.task_id, "department": n.department or "",
                                   "text": (n.data or {}).get("text", ""), "params": (n.data or {}).get("params"),
                                   "due_local": (n.data or {}).get("due_local"),
                                   "roles": [], "keys": []}
        if n.role not in e["roles"]:
            e["roles"].append(n.role)
        e["keys"].append(n.key)
    return list(by_event.values())


__all__ = ["pack", "DIGEST_MAX_ITEMS", "DROP_BATCH", "PACK_PAGE"]
