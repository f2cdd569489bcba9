"""The history the clocks and the scheduler read, loaded for many complaints in a few set-based queries.

The SLA clocks are rebuilt from the audit log (``transition`` rows); the scheduler also needs each
complaint's tasks, its transfer hops, its last status change and when the customer was first told
something. :meth:`History.load` reads all of that for a batch of complaints in five queries, whatever
the batch size (the sweep's rescheduling, a configuration change reaching 100,000 open complaints);
a single complaint is a batch of one (a status change, a page showing its clocks).

Shapes: transitions are :class:`Change` tuples in audit order (``at``, then ``id``); instants are
UTC-aware; the loaded ``Complaint`` and ``Task`` rows are the session's own ORM objects (changing one
is flushed with the caller's transaction).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Exists,
    ScalarSelect,
    String,
    bindparam,
    func,
    inspect,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from closeloop.domain.customer import MessageDirection
from closeloop.domain.sla import StatusChange
from closeloop.services.bulk import select_rows, unindexed
from models.tables import Complaint, Improvement, Message, Outbox, Task, Transition

_R = TypeVar("_R")

#: Rows per ``IN (...)`` list (below SQLite's and PostgreSQL's parameter limits).
CHUNK = 500


# The statements, built once (an expanding ``ids`` parameter): History.load runs on every status change.
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_TR = Transition.__table__
_COMPLAINTS = select(Complaint).where(Complaint.id.in_(_IDS))
_TASKS = select(Task).where(Task.complaint_id.in_(_IDS)).order_by(Task.id)
# read-only loads (rescheduling: 100,000 complaints after a configuration change): plain rows of the
# columns the clocks and the scheduler read, no ORM objects
_CT, _TT = Complaint.__table__, Task.__table__


class PlainComplaint(NamedTuple):
    """The complaint columns the clocks and the scheduler read (read-only loads)."""

    id: int
    status: str
    severity: str
    risk_flags: list[str]
    received_at: datetime
    transfer_count: int
    due_at: datetime | None
    version: int
    customer_id: int | None


class PlainTask(NamedTuple):
    """The task columns the clocks and the scheduler read (read-only loads)."""

    id: int
    complaint_id: int
    improvement_id: int | None
    department: str
    kind: str
    status: str
    assignee: str | None
    transferred_from_id: int | None
    created_at: datetime
    due_at: datetime | None
    ack_due_at: datetime | None
    version: int


_PLAIN_COMPLAINTS = select(*(_CT.c[n] for n in PlainComplaint._fields)).where(_CT.c.id.in_(_IDS))
_PLAIN_TASKS = (select(*(_TT.c[n] for n in PlainTask._fields)).where(_TT.c.complaint_id.in_(_IDS))
                .order_by(_TT.c.id))
_TRANSITIONS = (select(_TR.c.complaint_id, _TR.c.id, _TR.c.entity, _TR.c.entity_id, _TR.c.from_state, _TR.c.to_state,
                       _TR.c.trigger, _TR.c.reason, _TR.c.at,
                       type_coerce(_TR.c.data, String))  # the JSON text, decoded when read (Change.data)
                # the entity re-check unindexed: without statistics SQLite answered from ix_transition_entity,
                # scanning every audit row of every complaint (0.2 CPU-s per 500 complaints at 100,000)
                .where(_TR.c.complaint_id.in_(_IDS), unindexed(_TR.c.entity).in_(("complaint", "task")))
                .order_by(_TR.c.at, _TR.c.id))
#: the columns of :data:`_TRANSITIONS`, for :func:`audit_json`
_TRANSITION_COLUMNS = (_TR.c.complaint_id, _TR.c.id, _TR.c.entity, _TR.c.entity_id, _TR.c.from_state, _TR.c.to_state,
                       _TR.c.trigger, _TR.c.reason, _TR.c.at, _TR.c.data)


def audit_json(complaint_id) -> ScalarSelect:
    """SQLite: the audit rows :meth:`History.load` reads of the complaint ``complaint_id`` (a column of the
    enclosing statement) as one JSON text, a list of arrays of :data:`_TRANSITIONS`'s columns as stored (the
    instant as its text, the data as its JSON text), in no order: for a statement that reads them beside other
    rows (a completion's one read); :func:`stored_audit` decodes it."""
    return (select(func.json_group_array(func.json_array(*_TRANSITION_COLUMNS)))
            # the states as literals, not an expanding list: no per-run expansion of the statement's text
            .where(_TR.c.complaint_id == complaint_id, unindexed(_TR.c.entity).in_([literal("complaint"),
                                                                                   literal("task")]))
            .scalar_subquery())


def stored_audit(session: Session, text: str) -> list[tuple]:
    """The rows of an :func:`audit_json` text as ``select_rows`` gives those of :data:`_TRANSITIONS`: in its
    order (the instant's stored text, then the id), the instants UTC-aware, the data its JSON text."""
    rows = json.loads(text)
    rows.sort(key=itemgetter(8, 1))
    parse = _TR.c.at.type._cached_result_processor(session.get_bind().dialect, None)
    if parse is not None:
        for r in rows:
            r[8] = parse(r[8])
    return list(map(tuple, rows))


#: the audit rows of tasks a merge moved here from another complaint: filed under the complaint they were made on
#: (the audit log is not rewritten), found by the task (``ix_transition_entity``)
_MOVED_TASK_ROWS = (select(_TR.c.id, _TR.c.entity, _TR.c.entity_id, _TR.c.from_state, _TR.c.to_state, _TR.c.trigger,
                           _TR.c.reason, _TR.c.at, type_coerce(_TR.c.data, String))
                    .where(_TR.c.entity == "task", _TR.c.entity_id.in_(bindparam("task_ids", expanding=True)))
                    .order_by(_TR.c.at, _TR.c.id))
_CONTACTS = (select(Message.complaint_id, Message.at, Message.outbox_id, Outbox.delivered_at)
             .outerjoin(Outbox, Outbox.id == Message.outbox_id)
             .where(Message.complaint_id.in_(_IDS), Message.direction == MessageDirection.OUTBOUND))


def _in_session(session: Session, ids: list[int]) -> list[Complaint]:
    """The complaints of ``ids`` the session holds with every attribute loaded: a SELECT would return these very
    objects, their attributes untouched (no ``populate_existing``), so it is skipped for them. Expired ones
    (after a commit or a rolled-back savepoint) are left to the SELECT, which also leaves out deleted rows."""
    found = []
    for i in ids:
        obj = session.identity_map.get(identity_key(Complaint, i))
        if obj is not None and not inspect(obj).expired_attributes:
            found.append(obj)
    return found


def pending_audit(session: Session) -> list[Transition] | None:
    """The session's unflushed audit rows in flush order, when they and column changes of loaded complaints and
    tasks (status, stamps, assignee, due instants: not the keys a history is read by) are its only pending
    changes; None otherwise (a new task or message, a deletion, another row changed, a naive instant that the
    flush must refuse): then a read must flush first to see what the flush would store."""
    if session.deleted:
        return None
    pending = []
    for obj in session.new:
        if type(obj) is not Transition or obj.at is None or obj.at.utcoffset() is None:
            return None
        pending.append(obj)
    for obj in session.dirty:
        if type(obj) is Task:
            state = inspect(obj)
            changed = state.committed_state  # the attributes set since the load (only they can have changed)
            if any(k in changed and state.attrs[k].history.has_changes() for k in _TASK_KEYS):
                return None
        elif type(obj) is not Complaint:
            return None
    pending.sort(key=lambda tr: inspect(tr).insert_order or 0)  # set when added
    return pending


#: task columns a history is read by or walks (the complaint's tasks, the transfer chain, the clocks' start)
_TASK_KEYS = ("complaint_id", "transferred_from_id", "created_at")
#: stand-in ids of unflushed audit rows: above every stored id, in flush order
_PENDING_ID = 1 << 62


def _text(value: str | None) -> str | None:
    return None if value is None else str(value)


def _audit_order(change: Change) -> tuple[datetime, int]:
    return change.at, change.id


class Change(NamedTuple):
    """One audit row as the clocks and the scheduler read it (``data``: its JSON object, ``{}`` for none).

    ``stored_data`` is the column as the driver gives it (SQLite: the JSON text; PostgreSQL: decoded
    already); ``data`` decodes it on each read, which only waits and transfers do: a policy change
    reads 500,000 audit rows and none of their data."""

    id: int
    entity: str
    entity_id: int
    from_state: str | None
    to_state: str
    trigger: str
    reason: str | None
    at: datetime
    stored_data: Any

    @property
    def data(self) -> dict:
        value = self.stored_data
        return (json.loads(value) if isinstance(value, str) else value) or {}


class History:
    """Complaints, their tasks, audit rows and first customer contact, by complaint id."""

    def __init__(self) -> None:
        self.complaints: dict[int, Complaint] = {}
        self.tasks: dict[int, list[Task]] = defaultdict(list)   # complaint id -> tasks, by id
        self.task_by_id: dict[int, Task] = {}
        self.changes_of: dict[tuple[str, int], list[Change]] = defaultdict(list)
        self.transfers: dict[int, list[Change]] = defaultdict(list)  # complaint id -> task transfer rows
        self.first_contact: dict[int, datetime] = {}
        self._changes: dict[tuple[str, tuple[int, ...]], list[StatusChange]] = {}
        self._memo: dict[tuple, Any] = {}

    @classmethod
    def load(cls, session: Session, complaint_ids: Iterable[int], *, plain: bool = False,
             unflushed: bool = False, tasks_of: Mapping[int, list[Task]] | None = None,
             contacts: bool = True, audit_of: Mapping[int, list[tuple]] | None = None) -> History:
        """Read the history of ``complaint_ids`` (missing ids are left out) in five queries per
        :data:`CHUNK` complaints; flushes the session first so pending changes are seen. ``plain``: the
        complaints and tasks as read-only rows of the columns the clocks and the scheduler read
        (attribute access as on the ORM objects; for rescheduling, which changes none of them).

        ``unflushed`` (a status change refreshing its complaint's clocks): when the session's only pending
        changes are audit rows and column changes of loaded complaints and tasks (:func:`pending_audit`),
        nothing is flushed: the loaded rows are the session's own objects with their changes, and the pending
        audit rows are merged in audit order after the stored ones of the same instant (where their ids, larger
        than any stored, put them; their ``id`` here is a stand-in above every stored id). The change is then
        written in one flush (one UPDATE per row) instead of one before the read and one after.

        ``tasks_of``: complaint id -> all its tasks, the session's objects, when the caller holds them (a
        completion's settle read them): not read again for a chunk whose complaints all have them.

        ``contacts`` False: the first contacts are not read (``first_contact`` stays empty: for a caller that
        computes no first-response clock, such as the refresh of the stored due instants).

        ``audit_of``: complaint id -> its stored audit rows (:func:`stored_audit`), when the caller read them in
        this transaction and nothing was flushed since (the unflushed pending rows are merged as above): not read
        again for a chunk whose complaints all have them; ignored when this load flushes."""
        pending = pending_audit(session) if unflushed and not plain else None
        if pending is None:
            session.flush()
            audit_of = None
        h = cls()
        ids = sorted(set(complaint_ids))
        with session.no_autoflush:
            for i in range(0, len(ids), CHUNK):
                h._load_chunk(session, ids[i:i + CHUNK], plain, tasks_of, contacts, audit_of)
        if pending:
            h._merge_pending(pending, set(ids))
        return h

    def _merge_pending(self, pending: list[Transition], ids: set[int]) -> None:
        """Add the unflushed audit rows ``pending`` (in flush order) of the complaints ``ids`` as a load would
        read them after the flush: UTC instants, plain strings, ``{}`` for no data, after the stored rows."""
        touched: dict[int, list[Change]] = {}  # the lists grown, by identity
        for n, tr in enumerate(pending):
            if tr.complaint_id not in ids or tr.entity not in ("complaint", "task"):
                continue
            change = Change(_PENDING_ID + n, str(tr.entity), tr.entity_id, _text(tr.from_state), str(tr.to_state),
                            str(tr.trigger), tr.reason, tr.at.astimezone(UTC), dict(tr.data or {}))
            grown = [self.changes_of[(change.entity, change.entity_id)]]
            if change.entity == "task" and change.trigger == "transfer":
                grown.append(self.transfers[tr.complaint_id])
            for rows in grown:
                rows.append(change)
                touched[id(rows)] = rows
        for rows in touched.values():
            rows.sort(key=_audit_order)

    def _load_chunk(self, session: Session, ids: list[int], plain: bool,
                    tasks_of: Mapping[int, list[Task]] | None = None, contacts: bool = True,
                    audit_of: Mapping[int, list[tuple]] | None = None) -> None:
        params = {"ids": ids}
        if plain:
            complaints: Iterable = map(PlainComplaint._make, select_rows(session, _PLAIN_COMPLAINTS, params))
        else:
            loaded = _in_session(session, ids)
            missing = sorted(set(ids) - {c.id for c in loaded})
            complaints = loaded + (list(session.scalars(_COMPLAINTS, {"ids": missing}).all()) if missing else [])
        for c in complaints:
            self.complaints[c.id] = cast(Complaint, c)
        if plain:
            tasks: Iterable = map(PlainTask._make, select_rows(session, _PLAIN_TASKS, params))
        elif tasks_of is not None and all(i in tasks_of for i in ids):  # as _TASKS would return them
            tasks = sorted((t for i in ids for t in tasks_of[i]), key=lambda t: t.id)
        else:
            tasks = session.scalars(_TASKS, params).all()
        task_ids = []
        for t in tasks:
            assert t.complaint_id is not None  # selected by complaint
            self.tasks[t.complaint_id].append(cast(Task, t))
            self.task_by_id[t.id] = cast(Task, t)
            task_ids.append(t.id)
        changes_of, transfers = self.changes_of, self.transfers
        if audit_of is not None and all(i in audit_of for i in ids):  # as _TRANSITIONS would return them
            stored: Iterable[tuple] = (r for i in ids for r in audit_of[i])
        else:
            stored = select_rows(session, _TRANSITIONS, params)
        for r in stored:  # complaint id, then a Change's fields
            change = Change(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
            changes_of[(r[2], r[3])].append(change)
            if r[2] == "task" and r[6] == "transfer":
                transfers[r[0]].append(change)
        self._load_moved_tasks(session, task_ids)
        if contacts:
            self._load_contacts(session, params)

    def _load_moved_tasks(self, session: Session, task_ids: list[int]) -> None:
        """The whole audit history of the tasks whose creation is not among the rows read by complaint: a merge
        moved them here, and their rows before it stay filed under the duplicate (their clocks were computed
        from no history: a paused, acknowledged task ran again as open). One statement, only when there are
        such tasks; every task has its ``create`` row (the one with no earlier state)."""
        changes_of = self.changes_of
        moved = [i for i in task_ids if not any(c.from_state is None for c in changes_of.get(("task", i), ()))]
        if not moved:
            return
        found: dict[int, list[Change]] = defaultdict(list)
        for r in select_rows(session, _MOVED_TASK_ROWS, {"task_ids": moved}):
            found[r[2]].append(Change(*r))
        for i, rows in found.items():
            changes_of[("task", i)] = rows  # every row of the task, those made since the merge included

    def _load_contacts(self, session: Session, params: dict[str, Any]) -> None:
        # the first contact: an outbound message counts when its outbox row was delivered (a pending or failed
        # one has not reached the customer); one without an outbox row (a recorded phone call) at its time
        for cid, at, outbox_id, delivered in select_rows(session, _CONTACTS, params):
            when = delivered if outbox_id is not None else at
            if when is not None and (cid not in self.first_contact or when < self.first_contact[cid]):
                self.first_contact[cid] = when

    # ------------------------------------------------------------------ reads
    def cached(self, fn: Callable[..., _R], *args: Hashable) -> _R:
        """``fn(*args)``, computed once per distinct ``args`` while this history lives (one batch, one
        status change): clocks and timer instants of tasks and complaints that share a calendar, targets,
        start, status history and ``now`` are computed once (the tasks of a complaint created together at
        triage; a backlog imported in one run, its tasks stamped with one instant). ``fn`` must be a pure
        function of ``args`` (calendars hash by identity); callers do not change the result."""
        key = (fn, args)
        try:
            return self._memo[key]
        except KeyError:
            found = self._memo[key] = fn(*args)
            return found

    def changes(self, entity: str, ids: Iterable[int]) -> list[StatusChange]:
        """Status changes of the ``entity`` rows ``ids``, merged in audit order (built once per argument:
        a task's clocks and timers ask for the same ones several times; callers do not change the list)."""
        key = (entity, tuple(ids))
        found = self._changes.get(key)
        if found is None:
            rows = [c for i in key[1] for c in self.changes_of.get((entity, i), ())]
            rows.sort(key=lambda c: (c.at, c.id))
            found = self._changes[key] = [StatusChange(c.at, c.to_state) for c in rows]
        return found

    def chain(self, task: Task) -> list[Task]:
        """The task and the tasks it was transferred from, oldest first."""
        chain = [task]
        while chain[0].transferred_from_id is not None:
            chain.insert(0, self.task_by_id[chain[0].transferred_from_id])
        return chain

    def last_change(self, complaint_id: int) -> Change | None:
        """The complaint's latest audit row that changed its status (None before any)."""
        for c in reversed(self.changes_of.get(("complaint", complaint_id), ())):
            if c.from_state is not None and c.to_state != c.from_state:
                return c
        return None

    def last_entry(self, task_id: int, status: str) -> Change | None:
        """The task's latest audit row that entered ``status`` (None if it never did)."""
        for c in reversed(self.changes_of.get(("task", task_id), ())):
            if c.to_state == status:
                return c
        return None


def complaint_changed_after(complaint_id: ColumnElement[Any], now: datetime) -> Exists:
    """EXISTS an audit row of the complaint ``complaint_id`` (its own or a task's) stamped after ``now`` (UTC-aware):
    its ledger read as of ``now`` is cut before its end (a sweep run as of a past moment). An index probe
    (``ix_transition_complaint_at``)."""
    return select(_TR.c.id).where(_TR.c.complaint_id == complaint_id, _TR.c.at > now).exists()


def record_changed_after(record_id: ColumnElement[Any], now: datetime) -> ColumnElement[bool]:
    """EXISTS an audit row of the improvement record ``record_id`` or of one of its action tasks stamped after
    ``now``; see :func:`complaint_changed_after`. Index probes: ``ix_transition_entity`` for the record, and from
    the record's tasks (``ix_task_improvement_id``) to their rows (``ix_transition_entity``); driven from the audit
    rows instead, SQLite walked every task row of the log for each probe."""
    task = Task.__table__
    of_record = select(_TR.c.id).where(_TR.c.entity == "improvement", _TR.c.entity_id == record_id, _TR.c.at > now)
    of_action = select(task.c.id).where(task.c.improvement_id == record_id, select(_TR.c.id).where(
        _TR.c.entity == "task", _TR.c.entity_id == task.c.id, _TR.c.at > now).exists())
    return or_(of_record.exists(), of_action.exists())


def complaints_changed_after(session: Session, complaint_ids: Iterable[int], now: datetime) -> set[int]:
    """The complaints among ``complaint_ids`` for which :func:`complaint_changed_after` holds; one query per
    :data:`CHUNK` ids."""
    ids, out, c = sorted(set(complaint_ids)), set[int](), Complaint.__table__.c
    for i in range(0, len(ids), CHUNK):
        out.update(session.scalars(select(c.id).where(c.id.in_(ids[i:i + CHUNK]),
                                                      complaint_changed_after(c.id, now))))
    return out


def records_changed_after(session: Session, record_ids: Iterable[int], now: datetime) -> set[int]:
    """The improvement records among ``record_ids`` for which :func:`record_changed_after` holds; one query per
    :data:`CHUNK` ids."""
    ids, out, r = sorted(set(record_ids)), set[int](), Improvement.__table__.c
    for i in range(0, len(ids), CHUNK):
        out.update(session.scalars(select(r.id).where(r.id.in_(ids[i:i + CHUNK]), record_changed_after(r.id, now))))
    return out


__all__ = ["History", "Change", "CHUNK", "PlainComplaint", "PlainTask", "complaint_changed_after",
           "complaints_changed_after", "record_changed_after", "records_changed_after"]
