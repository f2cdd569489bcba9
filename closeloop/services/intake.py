"""Intake: validate, de-duplicate, triage, route and create tasks, set-based and batched.

:func:`intake_batch` is shared by the file import and single-complaint intake.
It works inside the caller's transaction and only flushes (the caller
commits), so a batch lands whole or not at all. Per batch it issues a fixed
number of statements (bulk inserts with RETURNING), not one per row.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import COMPLAINT_MACHINE, ComplaintStatus, ComplaintTrigger
from closeloop.domain.dedupe import PriorComplaint, count_in_window, likely_duplicate_of
from closeloop.domain.facts import ComplaintFacts
from closeloop.domain.task import TaskStatus
from models.tables import Complaint, Customer, Message, Task, TaskDependency, Transition

from .audit import audit_dict
from .customers.notices import acknowledge_new
from .customers.profiles import store_profiles
from .recurrence import detect as detect_recurrence
from .search import complaint_document, index_complaints

SYSTEM = "system"


@dataclass
class IntakeItem:
    """One row to take in: its facts, and a reason if it is valid but not a complaint."""

    facts: ComplaintFacts
    reject_reason: str | None = None
    line: int | None = None


@dataclass
class IntakeResult:
    """What a batch did. ``ids`` maps each input index to its complaint id (existing id for duplicates)."""

    created: int = 0
    rejected: int = 0
    duplicates: int = 0
    fallback: int = 0
    likely_duplicates: int = 0
    tasks: int = 0
    tasks_by_department: Counter = field(default_factory=Counter)
    ids: dict[int, int] = field(default_factory=dict)
    created_ids: set[int] = field(default_factory=set)
    recurrence_links: int = 0
    proposed_records: list[int] = field(default_factory=list)

    def add(self, other: IntakeResult) -> None:
        self.proposed_records.extend(other.proposed_records)
        for name in ("created", "rejected", "duplicates", "fallback", "likely_duplicates", "tasks",
                     "recurrence_links"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.tasks_by_department.update(other.tasks_by_department)


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
    - Recurrence (:mod:`closeloop.services.recurrence`): linked to matching improvement records,
      or a new record proposed for a cluster.
    - The customer's profile and contact points are stored (later rows of a customer win), and each
      new complaint is acknowledged to a reachable customer through the outbox
      (:func:`closeloop.services.customers.notices.acknowledge_new`).

    ``now`` (UTC-aware) stamps creation; the ``receive`` audit row carries ``received_at``.
    """
    result = IntakeResult()
    if not items:
        return result

    # 1. idempotency on (source, external_ref)
    keys = [(i.facts.source, i.facts.external_ref) for i in items]
    existing: dict[tuple[str, str], int] = {}
    for chunk in _chunks(sorted(set(keys)), 400):
        hits = session.execute(
            select(Complaint.source, Complaint.external_ref, Complaint.id)
            .where(tuple_(Complaint.source, Complaint.external_ref).in_(chunk))
        )
        existing.update({(s, r): cid for s, r, cid in hits})
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
    if not fresh:
        return result

    # 2. customers and their earlier complaints
    customer_ids = _customers(session, [items[i].facts for i in fresh])
    store_profiles(session, {customer_ids[f.customer_ref]: f.customer for f in (items[i].facts for i in fresh)
                             if f.customer is not None and f.customer_ref}, now)
    repeat_window = timedelta(days=config.triage.policy.repeat_window_days)
    dedupe_window = config.dedupe_window
    horizon = max(repeat_window, dedupe_window)
    prior: dict[int | None, list[PriorComplaint]] = defaultdict(list)
    cids = sorted({c for c in customer_ids.values()})
    if cids:
        earliest = min(items[i].facts.received_at for i in fresh) - horizon
        for chunk in _chunks(cids, 400):
            q = select(Complaint.customer_id, Complaint.id, Complaint.category, Complaint.received_at,
                       Complaint.status).where(Complaint.customer_id.in_(chunk), Complaint.received_at >= earliest)
            for cust, cid, cat, received, status in session.execute(q):
                prior[cust].append(PriorComplaint(cid, cat, received, status == ComplaintStatus.MERGED))

    # 3. decide each complaint (pure), in the order received
    order = sorted(fresh, key=lambda i: (items[i].facts.received_at, i))
    rows: list[dict] = []
    decisions: list[tuple[int, list, int | None]] = []  # (item index, task templates, dup ref)
    for pos, idx in enumerate(order):
        item = items[idx]
        f = item.facts
        cust = customer_ids.get(f.customer_ref) if f.customer_ref else None
        earlier = prior.get(cust, []) if cust else []
        dup_ref: int | None = None
        if item.reject_reason:
            severity, flags, reasons, rule, templates = "P4", [], [item.reject_reason], None, []
            status = ComplaintStatus.REJECTED
        else:
            route = config.router.route(f)
            earlier_n = count_in_window(f.received_at, (p.received_at for p in earlier), repeat_window)
            tri = config.triage.assess(f, earlier_complaints_in_window=earlier_n, base_severity=route.severity)
            severity, flags, reasons = tri.severity, list(tri.flags), list(tri.reasons)
            rule, templates = route.rule, list(route.tasks)
            status = ComplaintStatus.TRIAGED
            dup_ref = likely_duplicate_of(f.category, f.received_at, earlier, dedupe_window)
            if route.is_fallback:
                result.fallback += 1
        if cust:
            # later rows of this batch see this one as an earlier complaint (negative id = batch position)
            prior[cust].append(PriorComplaint(-1 - pos, f.category, f.received_at, False))
        row = _complaint_row(f, status, severity, flags, reasons, rule, routing_config_id, cust, now)
        if status != ComplaintStatus.REJECTED:
            target = config.sla.for_customer(severity).resolve
            if target is not None:
                row["due_at"] = config.customer_calendar.add_business_time(f.received_at, target)
        rows.append(row)
        decisions.append((idx, templates, dup_ref))

    # 4. insert complaints, then resolve in-batch references
    # Core inserts on the tables: batched on every backend (an ORM insert with RETURNING in parameter
    # order falls back to one row per statement on SQLite; None-valued keys split ORM batches).
    ct = Complaint.__table__
    got = {(src, ref): cid for cid, src, ref in session.execute(
        insert(ct).returning(ct.c.id, ct.c.source, ct.c.external_ref), rows)}
    new_ids = [got[(r["source"], r["external_ref"])] for r in rows]
    for (idx, _, _), cid in zip(decisions, new_ids, strict=True):
        result.ids[idx] = cid
        result.created_ids.add(cid)
    for idx, ref in list(result.ids.items()):
        if ref < 0:
            result.ids[idx] = result.ids[-1 - ref]
    dup_updates = []
    for (_, _, dup_ref), cid in zip(decisions, new_ids, strict=True):
        if dup_ref is not None:
            original = new_ids[-1 - dup_ref] if dup_ref < 0 else dup_ref
            dup_updates.append({"cid": cid, "dup": original})
    if dup_updates:
        result.likely_duplicates += len(dup_updates)
        tbl = Complaint.__table__
        session.execute(update(tbl).where(tbl.c.id == bindparam("cid")).values(likely_duplicate_of_id=bindparam("dup")),
                        dup_updates)

    # 5. tasks, dependencies, audit rows, first inbound message
    task_rows, task_meta, audits, messages = [], [], [], []
    docs = []
    for (idx, templates, _), cid, crow in zip(decisions, new_ids, rows, strict=True):
        f = items[idx].facts
        docs.append({"complaint_id": cid, "doc": complaint_document(f)})
        audits.append(audit_dict("complaint", cid, cid, None, ComplaintStatus.RECEIVED, "receive", actor,
                                 f.received_at, data={"source": f.source, "external_ref": f.external_ref}))
        trig = ComplaintTrigger.REJECT if items[idx].reject_reason else ComplaintTrigger.TRIAGE
        rec = COMPLAINT_MACHINE.fire(ComplaintStatus.RECEIVED, trig, at=now, actor=actor,
                                     reason=items[idx].reject_reason)
        audits.append(audit_dict("complaint", cid, cid, rec.from_state, rec.to_state, rec.trigger, actor, now,
                                 reason=rec.reason, data={"route": crow["route_rule"], "severity": crow["severity"],
                                                          "flags": crow["risk_flags"]}))
        if f.text:
            messages.append({"complaint_id": cid, "original_complaint_id": cid, "direction": "inbound",
                             "channel": f.channel, "author": "customer", "body": f.text, "at": f.received_at})
        for t in templates:
            status = TaskStatus.BLOCKED if t.depends_on else TaskStatus.OPEN
            due = ack_due = None
            if status == TaskStatus.OPEN:  # a blocked task's clocks wait for it to unblock
                targets = config.sla.for_department(t.department, crow["severity"])
                cal = config.department_calendar(t.department)
                if targets.resolve is not None:
                    due = cal.add_business_time(now, targets.resolve)
                if targets.acknowledge is not None:
                    ack_due = cal.add_business_time(now, targets.acknowledge)
            task_rows.append({"complaint_id": cid, "department": t.department, "kind": t.kind, "title": t.title,
                              "instructions": t.instructions, "status": status, "created_at": now,
                              "updated_at": now, "version": 1, "due_at": due, "ack_due_at": ack_due})
            task_meta.append((cid, t))
            result.tasks_by_department[t.department] += 1
    if task_rows:
        tt = Task.__table__
        got_tasks = {(cid, kind): tid for tid, cid, kind in session.execute(
            insert(tt).returning(tt.c.id, tt.c.complaint_id, tt.c.kind), task_rows)}
        task_ids = [got_tasks[(r["complaint_id"], r["kind"])] for r in task_rows]
        result.tasks += len(task_ids)
        by_kind: dict[tuple[int, str], int] = {}
        for (cid, t), tid in zip(task_meta, task_ids, strict=True):
            by_kind[(cid, t.kind)] = tid
        deps: list[dict[str, int]] = []
        for (cid, t), tid, row in zip(task_meta, task_ids, task_rows, strict=True):
            audits.append(audit_dict("task", tid, cid, None, row["status"], "create", actor, now,
                                     data={"department": t.department, "kind": t.kind}))
            deps.extend({"task_id": tid, "depends_on_id": by_kind[(cid, d)]} for d in t.depends_on)
        if deps:
            session.execute(insert(TaskDependency.__table__), deps)
    session.execute(insert(Transition.__table__), audits)
    if messages:
        session.execute(insert(Message.__table__), messages)
    index_complaints(session, docs)
    acknowledge_new(session, config,
                    [cid for (i, _, _), cid in zip(decisions, new_ids, strict=True) if not items[i].reject_reason], now)

    # 6. customer history counts
    _update_customer_counts(session, [(customer_ids.get(items[i].facts.customer_ref or ""), items[i].facts.received_at)
                                      for i, _, _ in decisions])
    result.created += sum(1 for i, _, _ in decisions if not items[i].reject_reason)
    result.rejected += sum(1 for i, _, _ in decisions if items[i].reject_reason)

    # 7. recurrence: link to open records, propose records for clusters (a few queries per batch)
    recur = detect_recurrence(session, config, [cid for (i, _, _), cid in zip(decisions, new_ids, strict=True)
                                                if not items[i].reject_reason], now)
    result.recurrence_links += recur.links
    result.proposed_records.extend(recur.proposed)
    return result


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
    refs = sorted({f.customer_ref for f in facts if f.customer_ref})
    found: dict[str, int] = {}
    for chunk in _chunks(refs, 400):
        found.update(dict(session.execute(select(Customer.ref, Customer.id).where(Customer.ref.in_(chunk))).all()))
    missing = [r for r in refs if r not in found]
    if missing:
        cu = Customer.__table__
        found.update({ref: cid for cid, ref in session.execute(
            insert(cu).returning(cu.c.id, cu.c.ref), [{"ref": r, "complaint_count": 0} for r in missing])})
    return found


def _update_customer_counts(session: Session, pairs: list[tuple[int | None, datetime]]) -> None:
    agg: dict[int, list[datetime]] = defaultdict(list)
    for cust, at in pairs:
        if cust:
            agg[cust].append(at)
    if not agg:
        return
    ids = sorted(agg)
    current = {cid: (n, first, last) for cid, n, first, last in session.execute(
        select(Customer.id, Customer.complaint_count, Customer.first_complaint_at, Customer.last_complaint_at)
        .where(Customer.id.in_(ids)))}
    params = []
    for cid in ids:
        n, first, last = current[cid]
        times = agg[cid]
        params.append({"cid": cid, "n": n + len(times),
                       "first": min([t for t in (first, *times) if t is not None]),
                       "last": max([t for t in (last, *times) if t is not None])})
    tbl = Customer.__table__
    session.execute(update(tbl).where(tbl.c.id == bindparam("cid")).values(
        complaint_count=bindparam("n"), first_complaint_at=bindparam("first"), last_complaint_at=bindparam("last")),
        params)


def _chunks(seq: Sequence, size: int):
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
