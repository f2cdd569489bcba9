"""Intake: validate, de-duplicate, triage, route and create tasks, set-based and batched.

:func:`intake_batch` is shared by the file import and single-complaint intake.
It works inside the caller's transaction and only flushes (the caller
commits), so a batch lands whole or not at all. Per batch it issues a fixed
number of statements (bulk inserts with RETURNING), not one per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, case, insert, or_, select, text, update
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import COMPLAINT_MACHINE, ComplaintStatus, ComplaintTrigger
from closeloop.domain.dedupe import PriorComplaint, count_in_window, likely_duplicate_of
from closeloop.domain.facts import ComplaintFacts, check_ref
from closeloop.domain.machine import TransitionRecord
from closeloop.domain.routing import Route, TaskTemplate
from closeloop.domain.task import TaskStatus
from closeloop.domain.triage import TriageResult
from closeloop.services.audit import audit_dict
from closeloop.services.bulk import insert_rows
from closeloop.services.customers.notices import acknowledge_new
from closeloop.services.customers.profiles import store_profiles
from closeloop.services.intake.items import IntakeItem, IntakeResult
from closeloop.services.intake.recurrence import FACT_COLUMNS
from closeloop.services.intake.recurrence import detect as detect_recurrence
from closeloop.services.reads.search import complaint_document, index_complaints
from models.tables import Complaint, Customer, Message, Task, TaskDependency, Transition

SYSTEM = "system"


def intake_batch(session: Session, items: Sequence[IntakeItem], *, config: Config, now: datetime,
                 routing_config_id: int | None, actor: str = SYSTEM) -> IntakeResult:
    """Take in ``items`` within the session's transaction (flushes, never commits).

    - Same ``(source, external_ref)`` as an existing complaint, or earlier in
      this batch: counted as a duplicate, nothing written, its id returned.
    - ``reject_reason`` set: stored as ``rejected`` with no tasks.
    - Otherwise triaged (severity, risk flags; repeat complainer from the
      customer's earlier complaints), routed (fallback = triage queue, never
      dropped) and given its tasks; a task with ``depends_on`` starts ``blocked``.
    - Same customer and category within the de-dup window: linked as a likely duplicate.
    - Recurrence (:mod:`closeloop.services.intake.recurrence`): linked to matching improvement records,
      or a new record proposed for a cluster.
    - The customer's profile and contact points are stored (later rows of a customer win), and each
      new complaint is acknowledged to a reachable customer through the outbox
      (:func:`closeloop.services.customers.notices.acknowledge_new`).

    ``now`` (UTC-aware) stamps creation; the ``receive`` audit row carries ``received_at``. Raises
    ``InvalidInput`` (``customer_ref``) for a new customer's ref no URL can carry (the session's writes are
    then to be rolled back); a stored customer's ref is taken whatever it is.
    """
    result = IntakeResult()
    if not items:
        return result
    fresh = _split_duplicates(session, items, result)  # 1. idempotency on (source, external_ref)
    if not fresh:
        return result
    b = _Batch(session, items, config, now, actor, result)
    _load_customers(b, fresh)  # 2. customers and their earlier complaints
    _decide(b, fresh, routing_config_id)  # 3. decide each complaint (pure), in the order received
    _insert_complaints(b)  # 4. insert complaints, then resolve in-batch references
    _insert_children(b)  # 5. tasks, dependencies, audit rows, first inbound message, search, acknowledgements
    _finish(b)  # 6. customer history counts; 7. recurrence
    return result


@dataclass
class _Batch:
    """The fresh part of one batch, carried through the steps of :func:`intake_batch`.

    ``customer_ids``: customer ref -> id; ``prior``: customer id -> earlier complaints (in the
    de-dup/repeat horizon; a negative id is a batch position); ``rows``: the complaint rows in the
    order received; ``decisions``: per row ``(item index, task templates, likely-duplicate ref)``;
    ``new_ids``: per row the inserted complaint id.
    """

    session: Session
    items: Sequence[IntakeItem]
    config: Config
    now: datetime
    actor: str
    result: IntakeResult
    customer_ids: dict[str, int] = field(default_factory=dict)
    prior: defaultdict[int | None, list[PriorComplaint]] = field(default_factory=lambda: defaultdict(list))
    rows: list[dict] = field(default_factory=list)
    decisions: list[tuple[int, list[TaskTemplate], int | None]] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)
    fire_memo: dict[tuple, TransitionRecord] = field(default_factory=dict)
    route_memo: dict[tuple, Route] = field(default_factory=dict)
    route_facts: list[str] = field(default_factory=list)
    triage_memo: dict[tuple, TriageResult] = field(default_factory=dict)
    json_memo: dict[tuple, Any] = field(default_factory=dict)
    task_memo: dict[tuple, dict] = field(default_factory=dict)

    def route(self, f: ComplaintFacts) -> Route:
        """``config.router.route(f)``, memoised for the batch on the facts its rules test (all it reads)."""
        if not self.route_facts:
            self.route_facts = sorted({n for rule in self.config.router.rules for n in rule.when}) or ["source"]
        key = tuple([getattr(f, name) for name in self.route_facts])
        if key not in self.route_memo:
            self.route_memo[key] = self.config.router.route(f)
        return self.route_memo[key]

    def triage(self, f: ComplaintFacts, earlier: int, base: str | None) -> TriageResult:
        """``config.triage.assess``, memoised for the batch on what it reads (text, tags, channel, the
        earlier complaints in the window and the route's severity)."""
        key = (f.text, f.tags, f.channel, earlier, base)
        if key not in self.triage_memo:
            self.triage_memo[key] = self.config.triage.assess(f, earlier_complaints_in_window=earlier,
                                                              base_severity=base)
        return self.triage_memo[key]

    def add_business_time(self, cal, start: datetime, duration: timedelta) -> datetime:
        """``cal.add_business_time(start, duration)``, memoised (:func:`_business_time`)."""
        return _business_time(cal, start, duration)

    def fired(self, trigger: ComplaintTrigger, reason: str | None) -> TransitionRecord:
        """The record of firing ``trigger`` on a received complaint at ``now`` by the batch's actor: the
        same for every complaint of the batch with this reason (built once; a refusal raises each time)."""
        key = (trigger, reason)
        if key not in self.fire_memo:
            self.fire_memo[key] = COMPLAINT_MACHINE.fire(ComplaintStatus.RECEIVED, trigger, at=self.now,
                                                         actor=self.actor, reason=reason)
        return self.fire_memo[key]

    def shared(self, key: tuple, value: Any) -> Any:
        """One object per ``key`` for the batch: a JSON value many rows hold (``key`` names everything in
        it), which ``insert_rows`` then serialises once."""
        return self.json_memo.setdefault(key, value)

    def accepted_ids(self) -> list[int]:
        """The new complaint ids of the rows that are complaints (not rejected), in the order received."""
        return [cid for (i, _, _), cid in zip(self.decisions, self.new_ids, strict=True)
                if not self.items[i].reject_reason]


@lru_cache(maxsize=4096)
def _business_time(cal, start: datetime, duration: timedelta) -> datetime:
    """``cal.add_business_time(start, duration)``, memoised across batches and imports (a pure function of
    the calendar, held by the cache so never confused with another, and the instant: the tasks of a batch
    share ``now`` and many complaints share a received instant)."""
    return cal.add_business_time(start, duration)


def _split_duplicates(session: Session, items: Sequence[IntakeItem], result: IntakeResult) -> list[int]:
    """Count and resolve the duplicates of ``items``; return the indexes of the fresh ones.

    An existing ``(source, external_ref)`` gets its id in ``result.ids``; a repeat within the batch
    gets ``-1 - first index`` there, resolved by :func:`_insert_complaints`. One select per 1,000 keys.
    """
    keys = [(i.facts.source, i.facts.external_ref) for i in items]
    wanted = set(keys)
    existing: dict[tuple[str, str], int] = {}
    for chunk in _chunks(sorted(wanted, key=lambda k: (k[1], k[0])), 1000):
        existing.update({(s, r): cid for s, r, cid in _existing(session, chunk) if (s, r) in wanted})
    fresh: list[int] = []
    seen: dict[tuple[str, str], int] = {}
    for idx, key in enumerate(keys):
        if key in existing:
            result.duplicates += 1
            result.ids[idx] = existing[key]
        elif key in seen:
            result.duplicates += 1
            seen_idx = seen[key]
            result.ids[idx] = -1 - seen_idx  # resolved after insert
        else:
            seen[key] = idx
            fresh.append(idx)
    return fresh


_EXISTING_PG = text(
    "SELECT k.s, k.r, c.id FROM unnest(CAST(:s AS VARCHAR[]), CAST(:r AS VARCHAR[])) AS k(s, r) "
    "CROSS JOIN LATERAL (SELECT id FROM complaint WHERE source = k.s AND external_ref = k.r) AS c")


def _existing(session: Session, keys: Sequence[tuple[str, str]]):
    """``(source, external_ref, id)`` of the complaints among ``keys`` (a superset on SQLite: filter it).

    PostgreSQL: one unique-index probe per key (a lateral join): while an import's own rows have no
    statistics yet, the planner answers any IN list with a scan of every row of the source, so the
    lookup would grow with the table. SQLite: two IN lists, both answered by the unique index."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(_EXISTING_PG, {"s": [k[0] for k in keys], "r": [k[1] for k in keys]})
    return session.execute(select(Complaint.source, Complaint.external_ref, Complaint.id).where(
        Complaint.source.in_(sorted({s for s, _ in keys})), Complaint.external_ref.in_([r for _, r in keys])))


def _load_customers(b: _Batch, fresh: list[int]) -> None:
    """Find or create the customers of the fresh items, store their profiles, and load their complaints
    received within the repeat/de-dup horizon before the earliest fresh item into ``b.prior``."""
    items, config = b.items, b.config
    b.customer_ids = customer_ids = _customers(b.session, [items[i].facts for i in fresh])
    store_profiles(b.session, {customer_ids[f.customer_ref]: f.customer for f in (items[i].facts for i in fresh)
                               if f.customer is not None and f.customer_ref}, b.now)
    horizon = max(timedelta(days=config.triage.policy.repeat_window_days), config.dedupe_window)
    cids = sorted({c for c in customer_ids.values()})
    if cids:
        earliest = min(items[i].facts.received_at for i in fresh) - horizon
        for chunk in _chunks(cids, 400):
            q = select(Complaint.customer_id, Complaint.id, Complaint.category, Complaint.received_at,
                       Complaint.status).where(Complaint.customer_id.in_(chunk), Complaint.received_at >= earliest)
            for cust, cid, cat, received, status in b.session.execute(q):
                b.prior[cust].append(PriorComplaint(cid, cat, received, status == ComplaintStatus.MERGED))


def _decide(b: _Batch, fresh: list[int], routing_config_id: int | None) -> None:
    """Triage and route each fresh item in the order received (no queries): fills ``b.rows`` and
    ``b.decisions``; counts fallbacks. Later rows of a customer see earlier ones of the batch."""
    items, config, prior = b.items, b.config, b.prior
    repeat_window = timedelta(days=config.triage.policy.repeat_window_days)
    order = sorted(fresh, key=lambda i: (items[i].facts.received_at, i))
    for pos, idx in enumerate(order):
        item = items[idx]
        f = item.facts
        cust = b.customer_ids.get(f.customer_ref) if f.customer_ref else None
        earlier = prior.get(cust, []) if cust else []
        dup_ref: int | None = None
        if item.reject_reason:
            severity, flags, reasons, rule, templates = "P4", [], [item.reject_reason], None, []
            status = ComplaintStatus.REJECTED
        else:
            route = b.route(f)
            earlier_n = count_in_window(f.received_at, (p.received_at for p in earlier), repeat_window) if earlier \
                else 0
            tri = b.triage(f, earlier_n, route.severity)
            severity, rule, templates = tri.severity, route.rule, list(route.tasks)
            flags, reasons = b.shared(("flags", tri.flags), list(tri.flags)), b.shared(("reasons", tri.reasons),
                                                                                       list(tri.reasons))
            status = ComplaintStatus.TRIAGED
            if earlier:
                dup_ref = likely_duplicate_of(f.category, f.received_at, earlier, config.dedupe_window)
            if route.is_fallback:
                b.result.fallback += 1
        if cust:
            # later rows of this batch see this one as an earlier complaint (negative id = batch position)
            prior[cust].append(PriorComplaint(-1 - pos, f.category, f.received_at, False))
        row = _complaint_row(f, status, severity, flags, reasons, rule, routing_config_id, cust, b.now)
        row["tags"] = b.shared(("tags", f.tags), row["tags"])
        if status != ComplaintStatus.REJECTED:
            target = config.sla.for_customer(severity).resolve
            if target is not None:
                row["due_at"] = b.add_business_time(config.customer_calendar, f.received_at, target)
        b.rows.append(row)
        b.decisions.append((idx, templates, dup_ref))


def _insert_complaints(b: _Batch) -> None:
    """Insert ``b.rows`` in one batched statement, fill ``b.new_ids`` and the result's ids (in-batch
    repeats resolved), and mark likely duplicates (one executemany update)."""
    session, result = b.session, b.result
    # Core inserts on the tables: batched on every backend (an ORM insert with RETURNING in parameter
    # order falls back to one row per statement on SQLite; None-valued keys split ORM batches).
    ct = Complaint.__table__
    got = {(src, ref): cid for cid, src, ref in insert_rows(session, ct, b.rows,
                                                            returning=("id", "source", "external_ref"))}
    b.new_ids = new_ids = [got[(r["source"], r["external_ref"])] for r in b.rows]
    for (idx, _, _), cid in zip(b.decisions, new_ids, strict=True):
        result.ids[idx] = cid
        result.created_ids.add(cid)
    for idx, ref in list(result.ids.items()):
        if ref < 0:
            result.ids[idx] = result.ids[-1 - ref]
    dup_updates = []
    for (_, _, dup_ref), cid in zip(b.decisions, new_ids, strict=True):
        if dup_ref is not None:
            original = new_ids[-1 - dup_ref] if dup_ref < 0 else dup_ref
            dup_updates.append({"cid": cid, "dup": original})
    if dup_updates:
        result.likely_duplicates += len(dup_updates)
        session.execute(update(ct).where(ct.c.id == bindparam("cid")).values(likely_duplicate_of_id=bindparam("dup")),
                        dup_updates)


@dataclass
class _Children:
    """The rows written beside the complaints: audit rows, inbound messages, search documents, and the
    task rows with ``(complaint id, template)`` for each."""

    audits: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    docs: list[dict] = field(default_factory=list)
    task_rows: list[dict] = field(default_factory=list)
    task_meta: list[tuple[int, TaskTemplate]] = field(default_factory=list)


def _insert_children(b: _Batch) -> None:
    """Write each new complaint's audit rows, first inbound message, search document and tasks (with
    their dependencies and audit rows), then acknowledge the new complaints to their customers."""
    kids = _Children()
    for (idx, templates, _), cid, crow in zip(b.decisions, b.new_ids, b.rows, strict=True):
        _complaint_children(b, kids, b.items[idx], cid, crow)
        for t in templates:
            kids.task_rows.append(_task_row(b, cid, t, crow["severity"]))
            kids.task_meta.append((cid, t))
            b.result.tasks_by_department[t.department] += 1
    if kids.task_rows:
        _insert_tasks(b, kids)
    insert_rows(b.session, Transition.__table__, kids.audits)
    insert_rows(b.session, Message.__table__, kids.messages)
    index_complaints(b.session, kids.docs)
    if any(row["customer_id"] is not None for row in b.rows):  # acknowledgements reach customers only
        acknowledge_new(b.session, b.config, b.accepted_ids(), b.now)


def _complaint_children(b: _Batch, kids: _Children, item: IntakeItem, cid: int, crow: dict) -> None:
    """Add complaint ``cid``'s search document, its ``receive`` and triage/reject audit rows and its
    first inbound message (when it has text) to ``kids``."""
    f, actor, now = item.facts, b.actor, b.now
    kids.docs.append({"complaint_id": cid, "doc": complaint_document(f)})
    kids.audits.append(audit_dict("complaint", cid, cid, None, ComplaintStatus.RECEIVED, "receive", actor,
                                  f.received_at, data={"source": f.source, "external_ref": f.external_ref}))
    rec = b.fired(ComplaintTrigger.REJECT if item.reject_reason else ComplaintTrigger.TRIAGE, item.reject_reason)
    data = b.shared(("triage", crow["route_rule"], crow["severity"], tuple(crow["risk_flags"])),
                    {"route": crow["route_rule"], "severity": crow["severity"], "flags": crow["risk_flags"]})
    kids.audits.append(audit_dict("complaint", cid, cid, rec.from_state, rec.to_state, rec.trigger, actor, now,
                                  reason=rec.reason, data=data))
    if f.text:
        kids.messages.append({"complaint_id": cid, "original_complaint_id": cid, "direction": "inbound",
                              "channel": f.channel, "author": "customer", "body": f.text, "at": f.received_at})


def _task_row(b: _Batch, cid: int, t: TaskTemplate, severity: str) -> dict:
    """The task row of template ``t`` on complaint ``cid``: ``blocked`` without clocks when it depends on
    another task, else ``open`` with its department's resolve/acknowledge due instants from ``b.now``
    (the same for every complaint of the batch with this template and severity: built once)."""
    key = (t, severity)
    if key not in b.task_memo:
        now = b.now
        status = TaskStatus.BLOCKED if t.depends_on else TaskStatus.OPEN
        due = ack_due = None
        if status == TaskStatus.OPEN:  # a blocked task's clocks wait for it to unblock
            targets = b.config.sla.for_department(t.department, severity)
            cal = b.config.department_calendar(t.department)
            if targets.resolve is not None:
                due = b.add_business_time(cal, now, targets.resolve)
            if targets.acknowledge is not None:
                ack_due = b.add_business_time(cal, now, targets.acknowledge)
        b.task_memo[key] = {"department": t.department, "kind": t.kind, "title": t.title,
                            "instructions": t.instructions, "status": status, "created_at": now,
                            "updated_at": now, "version": 1, "due_at": due, "ack_due_at": ack_due}
    return {"complaint_id": cid, **b.task_memo[key]}


def _insert_tasks(b: _Batch, kids: _Children) -> None:
    """Insert ``kids.task_rows`` (one statement), then their dependencies; add their ``create`` audit
    rows to ``kids.audits``."""
    tt = Task.__table__
    got_tasks = {(cid, kind): tid for tid, cid, kind in insert_rows(b.session, tt, kids.task_rows,
                                                                    returning=("id", "complaint_id", "kind"))}
    task_ids = [got_tasks[(r["complaint_id"], r["kind"])] for r in kids.task_rows]
    b.result.tasks += len(task_ids)
    by_kind: dict[tuple[int, str], int] = {}
    for (cid, t), tid in zip(kids.task_meta, task_ids, strict=True):
        by_kind[(cid, t.kind)] = tid
    deps: list[dict[str, int]] = []
    for (cid, t), tid, row in zip(kids.task_meta, task_ids, kids.task_rows, strict=True):
        data = b.shared(("task", t.department, t.kind), {"department": t.department, "kind": t.kind})
        kids.audits.append(audit_dict("task", tid, cid, None, row["status"], "create", b.actor, b.now, data=data))
        deps.extend({"task_id": tid, "depends_on_id": by_kind[(cid, d)]} for d in t.depends_on)
    insert_rows(b.session, TaskDependency.__table__, deps)


def _finish(b: _Batch) -> None:
    """Update the customers' history counts, count created and rejected complaints, then link the new
    complaints to open improvement records or propose records for clusters (a few queries per batch)."""
    items, result = b.items, b.result
    _update_customer_counts(b.session, [(b.customer_ids.get(items[i].facts.customer_ref or ""),
                                         items[i].facts.received_at) for i, _, _ in b.decisions])
    result.created += sum(1 for i, _, _ in b.decisions if not items[i].reject_reason)
    result.rejected += sum(1 for i, _, _ in b.decisions if items[i].reject_reason)
    recur = detect_recurrence(b.session, b.config, _recurrence_facts(b), b.now)
    result.recurrence_links += recur.links
    result.proposed_records.extend(recur.proposed)


def _recurrence_facts(b: _Batch) -> list[dict]:
    """The batch's accepted complaints as recurrence reads them (``FACT_COLUMNS`` as stored: ``received_at``
    in UTC), in id order, from the rows just inserted."""
    facts = []
    for (i, _, _), cid, row in zip(b.decisions, b.new_ids, b.rows, strict=True):
        if not b.items[i].reject_reason:
            c = {name: row[name] for name in FACT_COLUMNS[2:]}
            c["id"], c["received_at"] = cid, row["received_at"].astimezone(UTC)
            facts.append(c)
    facts.sort(key=lambda c: c["id"])
    return facts


def _complaint_row(f: ComplaintFacts, status, severity, flags, reasons, rule, rc_id, cust, now) -> dict:
    return {
        "source": f.source, "external_ref": f.external_ref, "status": status, "severity": severity,
        "risk_flags": flags, "triage_reasons": reasons,
        "category": f.category, "subcategory": f.subcategory, "product": f.product,
        "sub_product": f.sub_product, "issue": f.issue, "sub_issue": f.sub_issue,
        "channel": f.channel, "company": f.company, "region": f.region,  # bounds: ComplaintFacts
        "tags": list(f.tags), "extra": dict(f.extra), "customer_id": cust,
        "route_rule": rule, "routing_config_id": rc_id,
        "transfer_count": 0, "reopen_count": 0,
        "received_at": f.received_at, "created_at": now, "updated_at": now, "version": 1, "due_at": None,
    }


def _customers(session: Session, facts: list[ComplaintFacts]) -> dict[str, int]:
    """``{customer_ref: customer id}`` of ``facts``, the customers not stored yet created. A stored ref is
    taken as it is (one stored before a rule on refs keeps working); a new one must pass
    :func:`~closeloop.domain.facts.check_ref` (``InvalidInput`` naming ``customer_ref``, nothing written)."""
    refs = sorted({f.customer_ref for f in facts if f.customer_ref})
    found: dict[str, int] = {}
    for chunk in _chunks(refs, 400):
        found.update(dict(session.execute(select(Customer.ref, Customer.id).where(Customer.ref.in_(chunk))).all()))
    missing = [r for r in refs if r not in found]
    for ref in missing:
        check_ref(ref)  # not stored
    if missing:
        cu = Customer.__table__
        found.update({ref: cid for cid, ref in session.execute(
            insert(cu).returning(cu.c.id, cu.c.ref), [{"ref": r, "complaint_count": 0} for r in missing])})
    return found


def _update_customer_counts(session: Session, pairs: list[tuple[int | None, datetime]]) -> None:
    """Add the batch's complaints to their customers' count, first and last complaint instants in one
    statement, relative to the stored values (no read first: two intakes at once both count)."""
    agg: dict[int, list[datetime]] = defaultdict(list)
    for cust, at in pairs:
        if cust:
            agg[cust].append(at)
    if not agg:
        return
    tbl = Customer.__table__
    first, last = bindparam("first", type_=tbl.c.first_complaint_at.type), \
        bindparam("last", type_=tbl.c.last_complaint_at.type)
    session.execute(update(tbl).where(tbl.c.id == bindparam("cid")).values(
        complaint_count=tbl.c.complaint_count + bindparam("k"),
        first_complaint_at=case((or_(tbl.c.first_complaint_at.is_(None), tbl.c.first_complaint_at > first), first),
                                else_=tbl.c.first_complaint_at),
        last_complaint_at=case((or_(tbl.c.last_complaint_at.is_(None), tbl.c.last_complaint_at < last), last),
                               else_=tbl.c.last_complaint_at)),
        [{"cid": cid, "k": len(times), "first": min(times), "last": max(times)} for cid, times in sorted(agg.items())])


def _chunks(seq: Sequence, size: int):
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
