"""A transferred task's resolve clock is handed over to its successor: it no longer runs, reads ``handed_over``
with no remaining time, and names the successor task and department, in the reads the command line
(``tasks show``), the API and the dashboard use. The successor's clock keeps counting from the chain's start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console
from sqlalchemy import select

from closeloop.api.deps import clock_out
from closeloop.cli.common import clocks_table
from closeloop.domain.sla import ClockStatus
from closeloop.services.reads.complaint_queries import task_with_clocks
from closeloop.services.work import tasks as svc
from models.tables import Task

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York


def _transferred(sessions, config) -> tuple[int, int]:
    (cid,) = intake(sessions, config, T0, [facts("TR-1", T0, product="Debt collection")])
    with sessions() as s:
        tid = s.scalars(select(Task.id).where(Task.complaint_id == cid, Task.kind == "investigate")).one()
    new = svc.transfer(sessions, tid, config=config, to="product", reason="pricing rule", actor="ops",
                       at=T0 + timedelta(hours=1))
    return tid, new.id


def test_a_transferred_tasks_resolve_clock_is_handed_over_to_its_successor(sessions, config):
    old, new = _transferred(sessions, config)
    later = T0 + timedelta(days=1)
    _, clocks = task_with_clocks(sessions, config, old, now=later)
    view = next(v for v in clocks if v.clock.name == "resolve")
    c = view.clock
    assert c.status == ClockStatus.HANDED_OVER  # was on_track, with hours remaining
    assert c.remaining is None and c.due_at is None and c.stopped_at == T0 + timedelta(hours=1)
    assert c.elapsed == timedelta(hours=1)  # as it stood at the transfer (business hours of Monday)
    assert (view.handed_to_task, view.handed_to_department) == (new, "product")
    api = clock_out(view)
    assert (api.status, api.remaining_hours, api.handed_to_task, api.handed_to_department) == (
        "handed_over", None, new, "product")
    console = Console(width=300, record=True)
    console.print(clocks_table(clocks))
    shown = console.export_text()
    assert f"handed over to task {new} (product)" in shown and "on_track" not in shown

    _, succ = task_with_clocks(sessions, config, new, now=later)
    resolve = next(v.clock for v in succ if v.clock.name == "resolve")
    assert resolve.status != ClockStatus.HANDED_OVER and resolve.stopped_at is None
    assert resolve.elapsed > timedelta(hours=1)  # counts from the chain's start, and runs on


def test_a_clock_read_before_the_transfer_still_runs(sessions, config):
    """A past moment (the monthly review's month end) before the transfer: the clock ran then."""
    old, _ = _transferred(sessions, config)
    _, clocks = task_with_clocks(sessions, config, old, now=T0 + timedelta(minutes=30))
    view = next(v for v in clocks if v.clock.name == "resolve")
    assert view.clock.status == ClockStatus.ON_TRACK and view.handed_to_task is None
