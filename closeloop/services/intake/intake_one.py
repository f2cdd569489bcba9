"""Single-complaint intake (the REST API's ``POST /complaints``), idempotent on the external reference.

The same ``(source, external_ref)`` again returns the existing complaint with
``created = False`` and writes nothing; two requests racing with the same
reference end with one complaint (the loser of the unique constraint reads the
winner's row). Otherwise the complaint goes through the shared batch intake
(triage, de-dup, routing, tasks) in one transaction, stamped with ``at``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from closeloop.config import Config
from closeloop.domain.facts import ComplaintFacts, check_received_by
from closeloop.services.departments import routing_config_id, sync_departments
from closeloop.services.intake.intake import intake_batch
from closeloop.services.intake.items import IntakeItem
from closeloop.services.uow import unit_of_work
from models.tables import Complaint


def _existing(session, facts: ComplaintFacts) -> int | None:
    return session.scalar(select(Complaint.id).where(Complaint.source == facts.source,
                                                     Complaint.external_ref == facts.external_ref))


def take_in(sessions, config: Config, facts: ComplaintFacts, *, actor: str, at: datetime,
            attempts: int = 3) -> tuple[int, bool]:
    """Take one complaint in; returns ``(complaint_id, created)``.

    A unique-constraint loss to a concurrent request is either the same reference (that complaint,
    ``created = False``) or a shared row the other request created first (the customer of both
    complaints, the routing configuration, a department): then the intake is tried again and finds it.
    Raises ``InvalidInput`` (``received_at``) for a complaint received more than
    :data:`~closeloop.domain.facts.RECEIVED_AHEAD` after ``at`` (the import applies the same bound).
    """
    check_received_by(facts.received_at, at)
    for attempt in range(1, attempts + 1):
        try:
            with unit_of_work(sessions) as s:
                found = _existing(s, facts)
                if found is not None:
                    return found, False
                sync_departments(s, config, at)
                rc_id = routing_config_id(s, config, at)
                res = intake_batch(s, [IntakeItem(facts)], config=config, now=at, routing_config_id=rc_id,
                                   actor=actor)
                # a concurrent request may have committed the same reference since the look-up above
                # (SQLite reads outside the write transaction): the batch then returns that complaint
                return res.ids[0], res.ids[0] in res.created_ids
        except IntegrityError:
            with unit_of_work(sessions) as s:  # a concurrent request with the same reference won
                found = _existing(s, facts)
            if found is not None:
                return found, False
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
