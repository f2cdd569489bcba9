"""Keep the department table and the routing-config versions in step with the configuration."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from closeloop.config import Config, ConfigError, parse_config
from closeloop.config.changes import PolicyScope, policy_scope
from closeloop.domain.complaint import OPEN_STATES, ComplaintStatus
from closeloop.domain.improvement import ImprovementStatus
from closeloop.services.bulk import insert_new, rowcount
from models.tables import Complaint, Department, Improvement, RoutingConfig, Task


def sync_departments(session: Session, config: Config, now: datetime) -> None:
    """Upsert the configured departments; departments no longer configured become inactive (never deleted).
    A department whose stored fields already match is not written (``updated_at``: its last change): every
    intake runs this, and rewriting each department row each time cost an UPDATE per department."""
    existing = {d.name: d for d in session.scalars(select(Department))}
    for name, dep in config.departments.items():
        row = existing.get(name)
        wanted = (dep.display_name, dep.lead, dep.notify, dep.calendar, True)
        if row is not None and (row.display_name, row.lead, row.notify, row.calendar, row.active) == wanted:
            continue
        if row is None:
            row = Department(name=name)
            session.add(row)
        row.display_name, row.lead, row.notify, row.calendar, row.active = wanted
        row.updated_at = now
    for name, row in existing.items():
        if name not in config.departments and row.active:
            row.active = False
            row.updated_at = now
    session.flush()


def routing_config_id(session: Session, config: Config, now: datetime) -> int:
    """The id of this configuration's version row, created on first use. When this version is not the
    current one (the latest to become current, by ``loaded_at``), it becomes current and every piece of
    open work is flagged for rescheduling (:func:`apply_configuration`)."""
    return apply_configuration(session, config, now)[0]


#: Complaint statuses whose timers depend on the policy (open work, and resolved ones awaiting follow-up).
RESCHEDULED_STATUSES = tuple(sorted({*OPEN_STATES, ComplaintStatus.RESOLVED}))
#: Improvement-record statuses with no timer left.
SETTLED_RECORDS = (ImprovementStatus.EFFECTIVE, ImprovementStatus.INEFFECTIVE, ImprovementStatus.REJECTED)


def apply_configuration(session: Session, config: Config, now: datetime) -> tuple[int, int]:
    """K10, configuration is part of the state: make ``config`` the current version and, if it was not, flag
    the open complaints (:data:`RESCHEDULED_STATUSES`) and unsettled improvement records the change can
    reach for rescheduling, in set-based UPDATEs; the next sweep moves their due instants and timers to the
    new policy (SLA targets, calendars and holidays, escalation intervals and thresholds). Paused time and
    the audit log are untouched (the clocks are rebuilt from it).

    What a change reaches is :func:`~closeloop.config.changes.policy_scope` of the previous current
    version (its stored text) and ``config``: complaints of the severities whose targets changed, with tasks
    in the departments whose calendar changed, ...; everything when the change cannot be placed or the
    previous text no longer parses. A version is identified by the SHA-256 of the configuration's text (a
    comment-only edit is a new version that reaches nothing); switching back to an earlier version makes it
    current again. Returns (version row id, complaints flagged). Safe to run concurrently (the row is
    inserted with ON CONFLICT DO NOTHING)."""
    rt = RoutingConfig.__table__
    current = session.execute(select(rt.c.id, rt.c.sha256, rt.c.text)
                              .order_by(rt.c.loaded_at.desc(), rt.c.id.desc()).limit(1)).first()
    if current is not None and current.sha256 == config.version_hash:
        return current.id, 0
    insert_new(session, rt, [{"sha256": config.version_hash, "source": config.source[:500], "text": config.text,
                              "loaded_at": now}], key=["sha256"], returning=rt.c.id)
    session.execute(update(rt).where(rt.c.sha256 == config.version_hash).values(loaded_at=now))
    row_id = session.scalar(select(rt.c.id).where(rt.c.sha256 == config.version_hash))
    assert row_id is not None  # inserted or found just above
    if current is None:
        return row_id, 0  # the first configuration: no work was scheduled under another one
    return row_id, _flag(session, _scope(current.text, config))


def _scope(previous_text: str | None, config: Config) -> PolicyScope:
    """What the change from the stored ``previous_text`` reaches (everything when it no longer parses)."""
    try:
        previous = parse_config(previous_text or "", "the previous configuration")
    except ConfigError:
        return PolicyScope(all=True, improvements=True)
    return policy_scope(previous, config)


def _flag(session: Session, scope: PolicyScope) -> int:
    """Set ``timers_dirty`` on the open complaints (and improvement records) ``scope`` reaches; returns how
    many complaints."""
    ct, it, tt = Complaint.__table__, Improvement.__table__, Task.__table__
    if scope.improvements:
        session.execute(update(it).where(it.c.status.not_in(SETTLED_RECORDS)).values(timers_dirty=True))
    if scope.empty:
        return 0
    reached: list[ColumnElement[bool]] = [ct.c.status.in_(RESCHEDULED_STATUSES)]
    if not scope.all:
        def with_task_in(departments) -> ColumnElement[bool]:
            return ct.c.id.in_(select(tt.c.complaint_id).where(tt.c.complaint_id.is_not(None),
                                                              tt.c.department.in_(sorted(departments))))
        parts: list[ColumnElement[bool]] = []
        if scope.severities:
            parts.append(ct.c.severity.in_(sorted(scope.severities)))
        if scope.departments:
            parts.append(with_task_in(scope.departments))
        parts += [and_(ct.c.severity == sev, with_task_in([dep])) for dep, sev in sorted(scope.pairs)]
        reached.append(or_(*parts))
    return rowcount(session.execute(update(ct).where(*reached).values(timers_dirty=True)))
