"""Replay: real complaint exports through the whole lifecycle in simulated time.

The complaints are taken in in the order they were received, then simulated
time moves forward through the very same services the scheduled flows run
(intake, task transitions, sweep, delivery to a local capture file), so the
result shows what the policies would have done to that data.

Department behaviour comes from the data where it has it, and from a seeded,
documented model where it does not (:class:`Behaviour`):

- NYC 311: the request's task completes at its real ``Closed Date``; a row
  closed before it was created, or never closed, stays open (both counted). The export records no
  acknowledgement or start (``Resolution Action Updated Date`` is the last update, equal to ``Closed Date``
  for 362 of the sample's 395 rows and before it for 10), so none is modelled: the acknowledgement timeouts
  its tasks raise are artefacts of the missing data, kept out of the report's headline and counted apart with
  a caveat (``report.ACK_SOURCES``). The same holds for every other source but CFPB.
- CFPB: the first task is acknowledged when the CFPB sent the complaint to the
  company (``Date sent to company``, the one acknowledgement instant the export records); every task of the
  complaint that opens after it (a dependent task as it unblocks, a reopened complaint's new task) is
  acknowledged as it opens, since the company had already acknowledged the complaint (no later instant in the
  export could tell otherwise; before, those tasks were never acknowledged and paged their departments again
  and again, 450 of the sample's 504 acknowledgement timeouts); the company answers within 1-14 calendar
  days when ``Timely response?`` is Yes, 16-40 days otherwise, dependent tasks
  follow 2-48 hours (times the department's pace) after they unblock; "In progress" complaints get no answer;
  ``Consumer disputed?`` Yes makes the customer follow-up "not satisfied", which
  reopens the complaint (its new task is done 2-10 days later).
- Other sources: each task is done a log-normal delay after it can start
  (median 2 days times the department's pace).
- Departments differ: each has a pace factor drawn once from the seed and its name (uniform
  0.5-2.0, :meth:`Behaviour.pace`) that multiplies every modelled duration of its work (not the
  times an export records); the summary lists them under ``model``.
- Customer follow-up tasks are done 4 hours after creation: satisfied unless the
  complaint is disputed.
- Root causes come from the data through the mapping table
  :data:`closeloop.services.capa.root_cause.DATA_MAP` (CFPB ``Issue``/``Product``, NYC 311
  ``Complaint Type``, airline reason), recorded with the completion of a complaint's task;
  rows the table does not cover are ``undetermined`` with a note.

Improvement records the engine proposes are approved, acted on and implemented by the seeded
owners' model of :mod:`closeloop.services.replay.replay_loop`; the effectiveness checks then decide in
simulated time on the complaints that follow (where the export ends before a check's window does,
the summary says "not enough data" for an "effective" decision, while an "ineffective" one stands: see
``report.improvement_figures``).

Time jumps from event to event and to the next pending timer, with sweeps no
closer than ``step`` apart, so years of quiet data cost nothing; it stops
``horizon`` after the last event (intake, a real close, a modelled answer).
"""

from __future__ import annotations

import heapq
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from closeloop.clock import Clock, FixedClock, SystemClock
from closeloop.config import Config
from closeloop.domain.notices import NotificationStatus, TimerStatus
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.domain.task import TaskStatus
from closeloop.domain.task_kinds import SystemTaskKind
from closeloop.services.capa import root_cause
from closeloop.services.capa.improvement import match_key
from closeloop.services.departments import routing_config_id, sync_departments
from closeloop.services.engine.clocks import batched_refreshes, refresh_noted
from closeloop.services.engine.sweep import sweep
from closeloop.services.intake.intake import intake_batch
from closeloop.services.intake.items import IntakeItem
from closeloop.services.replay.model import Behaviour, DataQuality
from closeloop.services.replay.replay_loop import LOOP_EVENTS, LoopModel
from closeloop.services.replay.report import build_summary  # report imports nothing from here
from closeloop.services.uow import unit_of_work
from closeloop.services.work import lifecycle
from closeloop.services.work import tasks as task_svc
from integrations.exports import ParsedRow, RowError, read_export
from models import migrate
from models.db import make_engine, make_sessions
from models.tables import Complaint, Improvement, ImprovementLink, Notification, Task, Timer

ACTOR = "replay"
#: the task statuses in which the modelled department still works on a task (open, acknowledged first)
_WORKING = (TaskStatus.OPEN, TaskStatus.ACKNOWLEDGED, TaskStatus.IN_PROGRESS)
#: the modelled answers of the departments and customers (carried out by ``_act``)
ANSWERS = ("ack", "work", "follow_up")
#: the replay events (not task kinds) after which the tasks a complaint has just opened are acknowledged
_OPENING_EVENTS = ("work", "follow_up")


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    ref: Any = field(compare=False)  # a ParsedRow (intake), else a complaint or task id


def run_replay(paths: list[Path], config: Config, out_dir: Path, *, fmt: str = "auto", seed: int = 7,
               step: timedelta = timedelta(hours=1), horizon: timedelta = timedelta(weeks=6),
               deliver: Callable[[sessionmaker, FixedClock], object] | None = None,
               progress: Callable[[datetime, int, int], None] | None = None,
               pace: Callable[[timedelta], None] | None = None, clock: Clock | None = None,
               encoding: str = "utf-8") -> dict:
    """Replay ``paths`` into a fresh SQLite database in ``out_dir``; returns the figures (see ``report.py``).

    The rows pass import's field rules, judged at ``clock``'s now (default: the system clock; the CLI passes
    the clock ``closeloop import`` would use): a row received more than five minutes after it is a bad row,
    as in the import and the API. Never the simulated clock, which starts at the first complaint received.

    ``progress(simulated_now, events_done, events_total)`` reports the simulated time (UTC) and the
    events (intakes, modelled answers, follow-ups) done out of those known so far (the total grows as
    the model schedules more); it is called at most once per simulated hour and at the end.
    ``pace(simulated_delta)`` is called before each jump of simulated time (the CLI's
    ``--speed`` sleeps there so a person can watch runs in the Prefect UI).
    ``deliver(sessions, clock)`` drains the outbox after each sweep (the CLI passes a
    capture sender writing under ``out_dir/capture``); None leaves messages pending.
    ``encoding``: the text encoding of every file (as ``closeloop import --encoding``; a file that does not
    decode raises :class:`~integrations.exports.UnknownFormat` naming the encoding it most likely has).
    Raises ``ValueError`` when no row of the files is valid.
    """

    engine = _fresh_database(out_dir)
    sessions = make_sessions(engine)
    quality = DataQuality()
    rows = _read_rows(paths, fmt, quality, (clock or SystemClock()).now(), encoding)
    sim = _Simulation(sessions, config, seed, step, horizon, rows[0].facts.received_at,
                      deliver or (lambda _s, _c: None), progress, pace)
    for r in rows:
        sim.push(r.facts.received_at, "intake", r)
    sim.run(quality)
    summary = build_summary(sessions, config, sim.clock.now(), quality, sim.plan)
    summary["model"] = {"seed": seed, "department_pace": dict(sorted(sim.behaviour.paces.items())),
                        "pace_means": "modelled durations are multiplied by the department's pace (1 = median)"}
    engine.dispose()
    return summary


def _fresh_database(out_dir: Path):
    """A migrated, empty SQLite database ``out_dir/replay.db`` (an earlier run's files removed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / "replay.db"
    for p in (db, out_dir / "replay.db-wal", out_dir / "replay.db-shm"):
        p.unlink(missing_ok=True)
    shutil.rmtree(out_dir / "capture", ignore_errors=True)
    engine = make_engine(f"sqlite:///{db}", scratch=True)  # rebuilt on every run: no fsync per commit
    migrate.upgrade(engine)
    return engine


def _read_rows(paths: list[Path], fmt: str, quality: DataQuality, now: datetime,
               encoding: str = "utf-8") -> list[ParsedRow]:
    """The valid rows of ``paths`` (decoded as ``encoding``) in the order they were received (bad rows go to
    ``quality``); ``now``: the instant the upper bound of ``received_at`` is judged at, as the import's."""
    rows: list[ParsedRow] = []
    for path in paths:
        for item in read_export(path, fmt, now=now, encoding=encoding):
            quality.rows += 1
            if isinstance(item, RowError):
                quality.add_bad_row(Path(path).name, item)  # every problem of the row, as the import
            else:
                rows.append(item)
    rows.sort(key=lambda r: (r.facts.received_at, r.facts.source, r.facts.external_ref))
    if not rows:
        raise ValueError("nothing to replay: no valid rows in " + ", ".join(map(str, paths)))
    return rows


class _Simulation:
    """Simulated time moving from event to event and to the next pending timer (see the module docstring)."""

    def __init__(self, sessions, config: Config, seed: int, step: timedelta, horizon: timedelta, start: datetime,
                 deliver, progress, pace) -> None:
        self.sessions, self.config, self.step, self.horizon = sessions, config, step, horizon
        self.deliver, self.progress, self.pace = deliver, progress, pace
        self.behaviour, self.loop = Behaviour(seed), LoopModel(seed)
        self.events: list[_Event] = []
        self.seq = self.done = 0
        self.end = start + horizon
        self.clock = FixedClock(start)
        self.plan: dict[int, dict] = {}      # complaint id -> behaviour facts
        self.scheduled_followups: set[int] = set()
        self.last_sweep: datetime | None = None
        self.reported: datetime | None = None
        with unit_of_work(sessions) as s:
            sync_departments(s, config, start)
            self.rc_id = routing_config_id(s, config, start)

    def push(self, at: datetime, kind: str, ref) -> None:
        """Queue an event; the simulation runs until ``horizon`` after the last event."""
        self.seq += 1
        heapq.heappush(self.events, _Event(at.astimezone(UTC), self.seq, kind, ref))
        self.end = max(self.end, at + self.horizon)

    def run(self, quality: DataQuality) -> None:
        """Run until nothing is pending or ``horizon`` passed since the last event; a last sweep at the end."""
        while (now := self._next_instant()) is not None:
            if self.pace is not None and now > self.clock.now():
                self.pace(now - self.clock.now())
            self.clock.set(now)
            self._events_until(now, quality)
            self.clock.set(now)
            if self.progress and (self.reported is None or now >= self.reported + timedelta(hours=1)):
                self.progress(now, self.done, self.seq)
                self.reported = now
            if self.last_sweep is None or now >= self.last_sweep + self.step or not self.events:
                self._sweep(now)
        sweep(self.sessions, self.config, self.clock.now())
        self.deliver(self.sessions, self.clock)
        if self.progress:
            self.progress(self.clock.now(), self.done, self.seq)

    def _next_instant(self) -> datetime | None:
        """The next event or due timer (sweeps no closer than ``step``); None when the run is over."""
        next_event = self.events[0].at if self.events else None
        next_timer = _next_due(self.sessions)
        candidates = [t for t in (next_event, next_timer) if t is not None]
        if not candidates or min(candidates) > self.end:
            return None
        now = min(candidates)
        # sweeps no closer than `step`: a timer due sooner waits for the next sweep slot
        if next_event is None or (next_timer is not None and next_timer < next_event):
            if self.last_sweep is not None and now < self.last_sweep + self.step:
                now = self.last_sweep + self.step
                if next_event is not None and next_event < now:
                    now = next_event
        return now

    def _events_until(self, now: datetime, quality: DataQuality) -> None:
        while self.events and self.events[0].at <= now:
            ev = heapq.heappop(self.events)
            self.clock.set(ev.at)
            self.done += 1
            if ev.kind == "intake":  # with the rows received at the same instant queued right behind it
                rows = [ev.ref]
                while self.events and self.events[0].at == ev.at and self.events[0].kind == "intake":
                    rows.append(heapq.heappop(self.events).ref)
                    self.done += 1
                _intake_rows(self.sessions, self.config, self.rc_id, rows, self.clock.now(), quality,
                             self.behaviour, self.plan, self.push)
            elif ev.kind in LOOP_EVENTS:
                _loop_step(self.loop, self.sessions, self.config, ev, self.clock.now(), self.plan, self.push)
            else:
                self._answers(ev)

    def _answers(self, ev: _Event) -> None:
        """Carry out ``ev`` and the modelled answers (acknowledgements, answers, follow-ups) queued right
        behind it for the same instant, in queue order, in one unit of work (each in its own savepoint,
        so one that fails is undone alone and counted, as when each had its own transaction)."""
        with unit_of_work(self.sessions) as s, batched_refreshes(s) as noted:
            while True:
                _act(s, self.config, ev, self.clock.now(), self.behaviour, self.plan, self.push, noted)
                if not self.events or self.events[0].at != ev.at or self.events[0].kind not in ANSWERS:
                    return
                ev = heapq.heappop(self.events)
                self.done += 1

    def _sweep(self, now: datetime) -> None:
        sweep(self.sessions, self.config, now)
        self.last_sweep = now
        _schedule_followups(self.sessions, now, self.plan, self.scheduled_followups, self.push)
        self.loop.schedule(self.sessions, now, self.push)
        self.deliver(self.sessions, self.clock)


def _next_due(sessions) -> datetime | None:
    """The earliest pending timer or held notification (None when nothing waits)."""
    with sessions() as s:
        t = s.scalar(select(func.min(Timer.fire_at)).where(Timer.status == TimerStatus.PENDING))
        n = s.scalar(select(func.min(Notification.release_at)).where(Notification.status == NotificationStatus.PENDING))
    due = [x for x in (t, n) if x is not None]
    return min(due) if due else None


def _intake_rows(sessions, config, rc_id, rows: list[ParsedRow], now, quality, behaviour, plan, push) -> None:
    """Take in ``rows`` (all received at ``now``, in queue order) in one unit of work, as few
    ``intake_batch`` calls as give what one call per row would (:func:`_take_in`), then plan each new
    complaint's answers in row order."""
    created: list[tuple[ParsedRow, int]] = []
    with unit_of_work(sessions) as s:
        start = 0
        while start < len(rows):
            part, res = _take_in(s, config, rc_id, rows[start:], now)
            quality.not_complaints += res.rejected
            quality.duplicates += res.duplicates
            quality.routed_to_triage_queue += res.fallback
            created.extend((part[i], res.ids[i]) for i in _new_complaints(part, res))
            start += len(part)
        first_department: dict[int, str] = {}
        ids = [cid for _, cid in created]
        for i in range(0, len(ids), 500):
            for cid, department in s.execute(select(Task.complaint_id, Task.department).where(
                    Task.complaint_id.in_(ids[i:i + 500])).order_by(Task.id)):
                if cid is not None:
                    first_department.setdefault(cid, department)
    for row, cid in created:
        _plan_answers(row, cid, first_department.get(cid, ""), quality, behaviour, plan, push)


def _take_in(s, config, rc_id, rows: list[ParsedRow], now) -> tuple[list[ParsedRow], Any]:
    """Take in the longest head of ``rows`` that one ``intake_batch`` call takes in exactly as one call per
    row would: ``(the rows taken, the IntakeResult)``.

    The one difference a batch makes is recurrence detection: a batch whose rows push a cluster over
    ``cluster_size`` proposes the record from its first row of those facts, with every such row of the
    batch in the cluster, where one row at a time proposes it from the row that reaches the size and links
    the later ones as recurrences. So a batch that proposed a record is undone (savepoint) and cut right
    after the row that reaches the size (the record's cluster less the batch's rows of its facts came
    before), and taken in again; a row whose facts cannot be told cuts after the first row."""
    model = config.model.improvement
    while True:
        savepoint = s.begin_nested()
        res = intake_batch(s, [IntakeItem(r.facts, r.reject_reason, r.line) for r in rows], config=config, now=now,
                           routing_config_id=rc_id, actor=ACTOR)
        cut = len(rows)
        new = _new_complaints(rows, res)
        loaded = []
        for rid in res.proposed_records:
            rec = s.get_one(Improvement, rid)
            loaded.append(rec)
            mine = [i for i in new if match_key({f: getattr(rows[i].facts, f, "") or "" for f in model.match_on})
                    == rec.match_key]
            before = s.scalar(select(func.count()).select_from(ImprovementLink)
                              .where(ImprovementLink.improvement_id == rid)) - len(mine)
            reaches = max(1, model.cluster_size - before)  # the how-manieth of the batch's rows reaches the size
            if not mine:
                cut = 1
            elif reaches < len(mine):
                cut = min(cut, mine[reaches - 1] + 1)
        if cut == len(rows):
            savepoint.commit()
            return rows, res
        savepoint.rollback()
        # the records read above were inserted by the rolled-back batch: forget them, so that the same ids taken
        # again by the shorter batch are new objects (no "identity map already had an identity" warning)
        for rec in loaded:
            if rec in s:
                s.expunge(rec)
        rows = rows[:cut]


def _new_complaints(rows: list[ParsedRow], res) -> list[int]:
    """The positions of ``rows`` that became new complaints (not rejected, not a duplicate of an existing
    complaint or of an earlier row), as one ``intake_batch`` call per row would have created them."""
    out, seen = [], set()
    for i, row in enumerate(rows):
        cid = res.ids[i]
        if not row.reject_reason and cid in res.created_ids and cid not in seen:
            out.append(i)
        seen.add(cid)
    return out


def _plan_answers(row: ParsedRow, cid: int, first_department: str, quality, behaviour, plan, push) -> None:
    """Queue the modelled answers of the new complaint ``cid`` (``first_department``: its first task's)."""
    f = row.facts
    ack_at, done_at = behaviour.first_answer(f, f.received_at, first_department)
    if f.source == "nyc311":
        if done_at is None:
            quality.no_close_date += 1
        elif done_at < f.received_at:  # closed at the very instant it was created: a close
            quality.closed_before_created += 1
            done_at = None
    if f.source == "cfpb" and f.extra.get("cfpb_response", "").lower() == "in progress":
        quality.in_progress += 1
    disputed = f.extra.get("cfpb_disputed", "").lower() == "yes"
    plan[cid] = {"source": f.source, "disputed": disputed, "closed_at": done_at,
                 "root_cause": root_cause.from_data(f.source, {"issue": f.issue, "category": f.category,
                                                               "product": f.product})}
    if ack_at is not None and (done_at is None or ack_at < done_at):
        push(ack_at, "ack", cid)
    if done_at is not None:
        push(done_at, "work", cid)


def _loop_step(loop: LoopModel, sessions, config, ev: _Event, now, plan, push) -> None:
    try:
        loop.act(sessions, config, ev.kind, ev.ref, now, push)
    except Exception as exc:  # noqa: BLE001 - a replay never stops on one record; counted
        plan.setdefault(-1, {}).setdefault("errors", []).append(f"{ev.kind} {ev.ref}: {exc}")


def _act(s, config, ev: _Event, now, behaviour, plan, push, noted: dict) -> None:
    """One modelled answer ``ev`` in the caller's session ``s``, through the services' own in-session paths
    (acknowledge, complete, the customer's follow-up verdict); each task's step in a savepoint. ``noted``:
    the clock refreshes the batch still owes (:func:`~closeloop.services.engine.clocks.batched_refreshes`)."""
    if ev.kind == "ack":  # the company acknowledged the complaint (CFPB: sent to it): its later tasks too
        plan.setdefault(ev.ref, {})["acknowledged"] = True
    if ev.kind in ("ack", "work"):
        refresh_noted(s, [ev.ref])  # its clocks are current before it changes again
        _complaint = s.get(Complaint, ev.ref)  # held for its tasks' steps (each reads it), not read once each
        tasks = s.scalars(select(Task).where(Task.complaint_id == ev.ref, Task.status.in_(_WORKING))
                          .where(Task.kind != SystemTaskKind.FOLLOW_UP).order_by(Task.id)).all()
        states = [t.status for t in tasks]  # as read before any of them changes
    else:
        task = s.get(Task, ev.ref)
        tasks, states = [task], [task.status if task is not None else None]
        if task is not None and task.complaint_id is not None:
            refresh_noted(s, [task.complaint_id])
    for task, status in zip(tasks, states, strict=True):
        before = dict(noted)
        try:
            with s.begin_nested():
                redo = _act_on(s, config, ev.kind, task, status, now, plan)
        except Exception as exc:  # noqa: BLE001 - a replay never stops on one complaint; counted
            noted.clear()
            noted.update(before)  # the step was undone: so are the refreshes it asked for
            plan.setdefault(-1, {}).setdefault("errors", []).append(f"{ev.kind} {ev.ref}: {exc}")
            continue
        if redo:  # not satisfied: one dispute per complaint, its new task done 2-10 days later
            plan[task.complaint_id]["disputed"] = False
            push(now + behaviour.days(2, 10), "work", task.complaint_id)
    if ev.kind in _OPENING_EVENTS and plan.get(_cid(ev, tasks), {}).get("acknowledged"):
        _acknowledge_opened(s, config, _cid(ev, tasks), now, plan)
    if ev.kind == "work":  # the department of the next task still to do paces it
        next_department = s.scalar(select(Task.department).where(
            Task.complaint_id == ev.ref, Task.status.in_(_WORKING),
            Task.kind != SystemTaskKind.FOLLOW_UP).order_by(Task.id).limit(1))
        if next_department:
            push(now + behaviour.next_step(next_department), "work", ev.ref)


def _cid(ev: _Event, tasks: list) -> int | None:
    """The complaint id of ``ev`` (a work event's ref; a follow-up's task's complaint)."""
    if ev.kind == "work":
        return ev.ref
    return tasks[0].complaint_id if tasks and tasks[0] is not None else None


def _acknowledge_opened(s, config, cid: int | None, now, plan) -> None:
    """Acknowledge at ``now`` the open tasks of complaint ``cid``, one its company already acknowledged (CFPB:
    ``plan[cid]["acknowledged"]``): the tasks that opened since (unblocked, or a reopened complaint's). Each in a
    savepoint; a refusal is counted in the replay's errors."""
    for tid in s.scalars(select(Task.id).where(Task.complaint_id == cid, Task.status == TaskStatus.OPEN,
                                              Task.kind != SystemTaskKind.FOLLOW_UP).order_by(Task.id)).all():
        try:
            with s.begin_nested():
                task_svc.acknowledge_in_session(s, tid, config=config, actor=ACTOR, at=now)
        except Exception as exc:  # noqa: BLE001 - a replay never stops on one complaint; counted
            plan.setdefault(-1, {}).setdefault("errors", []).append(f"ack {cid}: {exc}")


def _act_on(s, config, kind: str, task: Task, status: str | None, now, plan) -> bool:
    """Carry out ``kind`` on ``task`` (``status``: as read with the event); True when the customer's
    verdict was "not satisfied" (the complaint reopened)."""
    if kind == "ack":
        if status == TaskStatus.OPEN:
            task_svc.acknowledge_in_session(s, task.id, config=config, actor=ACTOR, at=now)
    elif kind == "work":
        code, note = plan.get(task.complaint_id, {}).get("root_cause") or (None, None)
        task_svc.complete_in_session(s, task.id, config=config, actor=ACTOR, at=now, outcome="replayed answer",
                                     root_cause=code, root_cause_detail=note)
    elif kind == "follow_up" and task is not None and status in _WORKING[:2]:
        satisfied = not plan.get(task.complaint_id, {}).get("disputed")
        lifecycle.record_follow_up_in_session(s, task, config=config, satisfied=satisfied,
                                              note=system_reason(SystemReason.REPLAY_FOLLOW_UP), actor=ACTOR, at=now)
        return not satisfied
    return False


def _schedule_followups(sessions, now, plan, scheduled: set[int], push) -> None:
    with sessions() as s:
        new = s.scalars(select(Task.id).where(Task.kind == SystemTaskKind.FOLLOW_UP,
                                              Task.status == TaskStatus.OPEN)).all()
    for tid in new:
        if tid not in scheduled:
            scheduled.add(tid)
            push(now + timedelta(hours=4), "follow_up", tid)
