"""Outgoing messages as the operations desk reads them (CLI ``closeloop outbox``, API ``GET /outbox``)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from closeloop.domain.errors import NotFound
from closeloop.domain.outbox import OutboxStatus
from closeloop.services.uow import unit_of_work
from models.tables import Outbox


def list_outbox(sessions: sessionmaker, *, status: OutboxStatus | None = None, limit: int = 50,
                offset: int = 0) -> tuple[list[Outbox], int]:
    """The newest outgoing messages first (``limit`` rows from ``offset``), optionally of one ``status``, and
    how many there are in all with that filter. Rows are detached (read-only use)."""
    with unit_of_work(sessions) as s:
        q = select(Outbox)
        if status is not None:
            q = q.where(Outbox.status == status.value)
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = list(s.scalars(q.order_by(Outbox.id.desc()).limit(limit).offset(offset)))
    return rows, total


def get_outbox(sessions: sessionmaker, outbox_id: int) -> Outbox:
    """One outgoing message as stored now. Raises ``NotFound`` for an unknown id."""
    with unit_of_work(sessions) as s:
        row = s.get(Outbox, outbox_id)
        if row is None:
            raise NotFound("outbox message", outbox_id)
        return row


def outbox_statuses(sessions: sessionmaker, ids: Iterable[int]) -> dict[int, OutboxStatus]:
    """The status of each outgoing message of ``ids`` that exists (an unknown id is absent from the result)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    with unit_of_work(sessions) as s:
        rows = s.execute(select(Outbox.id, Outbox.status).where(Outbox.id.in_(wanted))).all()
    return {r.id: OutboxStatus(r.status) for r in rows}
