"""Recurrence detection at intake, once per batch (a fixed number of queries, not one per row).

For the complaints a batch created (rejected ones excluded):

1. **Link to a record.** A complaint whose facts equal every fact of an open record's
   ``match`` (any status but ``effective``/``rejected``), or of one verified ``effective``
   within ``[improvement] recent_verified_days`` of ``now``, is linked to it
   (``source = recurrence``, actor ``system``): evidence that the problem recurs. The root cause
   is not known at intake, so matching here uses the facts only. A record whose stored match names
   a fact that is not a complaint fact matches nothing (skipped, with a warning; intake never fails).
2. **Propose a record.** A complaint not linked that way, with at least ``cluster_size`` (K)
   complaints of the same ``match_on`` facts received within ``cluster_days`` (W) up to it,
   and no record for those facts (a record rejected within ``recent_verified_days`` also
   counts, so a rejected proposal is not made again at once), proposes one: status
   ``proposed``, actor ``system``, owner the department of the newest complaint's first task,
   the cluster (the complaints within W up to the one that completed it) linked as ``cluster`` and
   the matching complaints received after it (a batch of history) as ``recurrence``, as they would
   have been one by one; the operations manager is notified (a notification packed into the
   outbox by the sweep, key ``improvement-proposed:{record}``).

A complaint without grouping facts (every ``match_on`` fact empty, or only the channel ``source`` set:
:func:`~closeloop.services.capa.effectiveness.has_grouping_facts`) is neither linked nor counted: unrelated
e-mails without a category or product are not one problem, and a record proposed from them would tell their
customers it was fixed. A batch of imported history goes the same way.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.improvement import ImprovementStatus
from closeloop.domain.notices import NoticeKind, Role
from closeloop.domain.record_texts import facts_label, recurring_texts
from closeloop.services.bulk import insert_rows
from closeloop.services.capa.effectiveness import has_grouping_facts, usable_match
from closeloop.services.capa.improvement import OPEN_STATES, create_in_session, match_key
from closeloop.services.engine.notify import insert_notifications, make_item, resolve_role
from models.tables import Complaint, Improvement, ImprovementLink, Task

SYSTEM = "system"


@dataclass
class RecurrenceResult:
    links: int = 0
    proposed: list[int] = field(default_factory=list)


def _chunks(seq, size=400):
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


#: the complaint columns recurrence reads: the id, the received instant and every fact a match may name
FACT_COLUMNS = ("id", "received_at", "source", "category", "subcategory", "product", "sub_product", "issue",
                "sub_issue", "company", "region")


def detect(session: Session, config: Config, new: list[dict], now: datetime) -> RecurrenceResult:
    """Link and propose for the newly created complaints ``new`` (see the module docstring); flushes only.

    ``new``: the batch's accepted complaints in id order, each a dict of :data:`FACT_COLUMNS` as stored
    (``received_at`` in UTC), carried from the batch instead of read back."""
    out = RecurrenceResult()
    if not new:
        return out
    model = config.model.improvement
    recent = now - timedelta(days=model.recent_verified_days)
    records = session.scalars(select(Improvement).where(or_(
        Improvement.status.in_(OPEN_STATES),
        (Improvement.status == ImprovementStatus.EFFECTIVE) & (Improvement.verified_at >= recent),
        (Improvement.status == ImprovementStatus.REJECTED) & (Improvement.updated_at >= recent)))).all()
    # records grouped by the facts they match on: one dict lookup per complaint and group
    groups: dict[tuple[str, ...], dict[str, list[Improvement]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if not usable_match(r):  # a fact no complaint has (stored before create checked): matches nothing
            continue
        groups[tuple(sorted(r.match))][r.match_key].append(r)
    unlinked: list[dict] = []
    to_link: dict[int, list[int]] = defaultdict(list)
    for c in new:
        if not has_grouping_facts({n: c[n] for n in model.match_on}):
            continue  # no facts to group on: never linked, never part of a cluster
        hit = False
        for names, index in groups.items():
            for r in index.get(match_key({n: c[n] or "" for n in names}), []):
                hit = True
                if r.status != ImprovementStatus.REJECTED:
                    to_link[r.id].append(c["id"])
        if not hit:
            unlinked.append(c)
    out.links += _link_new(session, to_link, now)
    if unlinked:
        _propose(session, config, unlinked, list(model.match_on), now, out)
    return out


def _link_new(session: Session, to_link: dict[int, list[int]], now: datetime) -> int:
    """Link the batch's new complaints to the records they recur on (record id -> complaint ids), as
    :func:`~closeloop.services.capa.improvement.link_many` would (source ``recurrence``, actor ``system``),
    in one bulk insert: the complaints were created in this transaction, so none is linked yet and
    none can be linked by another transaction."""
    lt = ImprovementLink.__table__
    rows = [{"improvement_id": rid, "complaint_id": cid, "source": "recurrence", "linked_by": SYSTEM, "linked_at": now}
            for rid, cids in to_link.items() for cid in sorted(set(cids))]
    insert_rows(session, lt, rows)
    return len(rows)


def _propose(session: Session, config: Config, unlinked: list[dict], fields: list[str], now: datetime,
             out: RecurrenceResult) -> None:
    model = config.model.improvement
    window = timedelta(days=model.cluster_days)
    first = fields[0]
    values = sorted({c[first] or "" for c in unlinked})
    lo = min(c["received_at"] for c in unlinked) - window
    hi = max(c["received_at"] for c in unlinked)
    times: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    cols = [Complaint.id, Complaint.received_at] + [getattr(Complaint, f) for f in fields]
    for chunk in _chunks(values):
        for row in session.execute(select(*cols).where(
                getattr(Complaint, first).in_(chunk), Complaint.received_at >= lo, Complaint.received_at <= hi,
                Complaint.status.not_in((ComplaintStatus.REJECTED, ComplaintStatus.MERGED)))):
            key = match_key({f: getattr(row, f) or "" for f in fields})
            times[key].append((row.received_at, row.id))
    for lst in times.values():
        lst.sort()
    done: set[str] = set()
    items: list[dict] = []
    for c in sorted(unlinked, key=lambda c: c["received_at"]):
        match = {f: c[f] or "" for f in fields}
        key = match_key(match)
        if key in done:
            continue
        lst = times.get(key, [])
        at = [t for t, _ in lst]
        start = bisect_left(at, c["received_at"] - window)
        end = bisect_right(at, c["received_at"])
        if end - start < model.cluster_size:
            continue
        done.add(key)
        # the cluster: the complaints within W up to this one; those received after it (a batch of
        # history) recur on the new record, as they would had they come in one by one
        cluster, later = [cid for _, cid in lst[start:end]], [cid for _, cid in lst[end:]]
        owner = _owner(session, config, (later or cluster)[-1])
        # each value as written, in quotes; stored in English, with its code for a page in another language
        shown = [[f, v] for f, v in match.items() if v]
        label = facts_label(shown)
        title, problem, texts = recurring_texts(shown, len(cluster), model.cluster_days, c["received_at"].isoformat())
        rec = create_in_session(
            session, config=config, title=title, owner_department=owner, actor=SYSTEM, at=now, match=match,
            complaint_ids=cluster, link_source="cluster", problem=problem, texts=texts)
        out.proposed.append(rec.id)
        out.links += len(cluster) + _link_new(session, {rec.id: later}, now)
        who = resolve_role(config, Role.OPERATIONS_MANAGER, None)
        items.append(make_item(config, key=f"improvement-proposed:{rec.id}", kind=NoticeKind.IMPROVEMENT_PROPOSED,
                               level=3, who=who, complaint_id=None, task=None, department=owner, now=now,
                               improvement_id=rec.id,
                               params={"count": len(cluster) + len(later), "facts": label, "record": rec.id}))
    insert_notifications(session, items)


def _owner(session: Session, config: Config, complaint_id: int) -> str:
    dep = session.scalar(select(Task.department).where(Task.complaint_id == complaint_id).order_by(Task.id).limit(1))
    if dep and dep in config.departments:
        return dep
    return config.triage_department
