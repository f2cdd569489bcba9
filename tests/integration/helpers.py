"""Small helpers shared by the integration tests."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, update

from closeloop.services.intake.importing import import_file
from models.tables import Complaint, Task, Timer, Transition


def run_import(sessions, config, clock, path, **kw):
    return import_file(sessions, config, clock, path, **kw)


def count(sessions, model, *where) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def data_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


__all__ = ["run_import", "count", "data_rows", "write_csv", "Complaint", "Task"]


def intake(sessions, config, now, facts_list, reject=None):
    """Take in ``facts_list`` in one transaction; returns complaint ids in input order."""
    from closeloop.services.departments import routing_config_id, sync_departments
    from closeloop.services.intake.intake import intake_batch
    from closeloop.services.intake.items import IntakeItem

    with sessions.begin() as s:
        sync_departments(s, config, now)
        rc = routing_config_id(s, config, now)
        res = intake_batch(s, [IntakeItem(f) for f in facts_list], config=config, now=now, routing_config_id=rc)
    return [res.ids[i] for i in range(len(facts_list))]


def drop_wait_reason(sessions, complaint_id: int) -> None:
    """Make the complaint's wait look like a row from before the guard asked for a reason: none on the wait's
    audit row and on its ``pause_expired`` timer."""
    with sessions.begin() as s:
        s.execute(update(Transition).where(Transition.entity == "complaint", Transition.entity_id == complaint_id,
                                           Transition.trigger == "await_customer").values(reason=None))
        for timer in s.scalars(select(Timer).where(Timer.complaint_id == complaint_id,
                                                   Timer.kind == "pause_expired")):
            timer.data = {**(timer.data or {}), "reason": None}


def facts(ref, at, **kw):
    from closeloop.domain.facts import ComplaintFacts

    kw.setdefault("category", "billing")
    return ComplaintFacts(source=kw.pop("source", "api"), external_ref=ref, received_at=at, **kw)


@contextmanager
def sent_statements(engine) -> Iterator[list[tuple[str, Any]]]:
    """Every ``(statement, parameters)`` the engine sends to the driver inside the block, in order."""
    sent: list[tuple[str, Any]] = []

    def log(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", log)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", log)
