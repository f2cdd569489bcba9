"""Six simulated weeks of real NYC 311 requests through the very same sweep.

Requests are taken in at their real ``Created Date`` and their tasks completed at
their real ``Closed Date``; the sweep runs every two hours of virtual time. An
independent oracle, written from the rules (not from the engine's scheduling
code), lists which reminders, escalations, promise breaches and follow-ups must
fire and when; the engine must fire exactly those, once each, with every
notification released inside its recipient's working hours.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from closeloop.config import load_config, parse_config
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import lifecycle
from closeloop.services.work import tasks as task_svc
from closeloop.services.work.messages import add_message
from integrations.formats import NYC311
from models.tables import Complaint, Notification, Outbox, Task, Timer
from tests.conftest import ROOT, shared_file

from .helpers import intake

NY = ZoneInfo("America/New_York")
TICK = timedelta(hours=2)
ROWS = 50


def _rows():
    path = shared_file("nyc311_2013_dec25/service_requests_2013-12-25.csv")
    parser = NYC311()
    with open(path, newline="", encoding="utf-8") as fh:
        out = []
        for row in csv.DictReader(fh):
            facts, _ = parser.parse(row)
            closed = facts.extra.get("nyc311_closed_at")
            closed_at = datetime.fromisoformat(closed) if closed else None
            if closed_at is not None and closed_at <= facts.received_at:
                closed_at = None  # data-quality trap: closed before created; treat as never closed
            out.append((facts, closed_at))
    out.sort(key=lambda x: (x[0].received_at, x[0].external_ref))
    return out[:ROWS]


def _first_tick(ticks, at):
    for t in ticks:
        if t >= at:
            return t
    return None


def _fires(ticks, at, until):
    """A timer due at ``at`` fires at the first tick at or after it, if the thing is still open then."""
    tick = _first_tick(ticks, at)
    return tick is not None and (until is None or tick < until)


def _working_days_later(cal, start, days):
    day, found = start.astimezone(cal.zone).date(), 0
    while True:
        day += timedelta(days=1)
        periods = cal.periods_on(day)
        if periods:
            found += 1
            if found == days:
                return periods[0][0]


#: Issue 12 (K10) inside the oracle: three weeks in, the agencies' P3 and P4 resolve targets grow by a third
#: (a policy change mid-run). The customer's promise targets stay.
CHANGE_AFTER = timedelta(weeks=3)
OLD_TARGETS = ("P3 = { acknowledge = 8, resolve = 72 }", "P4 = { acknowledge = 16, resolve = 144 }")
NEW_TARGETS = ("P3 = { acknowledge = 8, resolve = 96 }", "P4 = { acknowledge = 16, resolve = 192 }")


def _changed(config):
    text = config.text
    for old, new in zip(OLD_TARGETS, NEW_TARGETS, strict=True):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return parse_config(text, "nyc311 with longer P3/P4 resolve targets")


#: Issue 12 (K11) inside the oracle: one complaint waits on the customer for three days while its agency's task is
#: open; the task pauses (no reminder or escalation during the wait), the customer's answer resumes it.
WAIT_AFTER, WAIT_FOR = timedelta(days=1), timedelta(days=3)


def _waited(rows, start):
    """The complaint that waits, and its wait: the first request still open a week after it came in; the wait
    starts one minute after the first tick a day after intake (so no timer falls due between that tick and
    the start) and lasts three days."""
    for f, closed in rows:
        if closed is None or closed > f.received_at + timedelta(days=7):
            ws = start + TICK * -(-(f.received_at + WAIT_AFTER - start) // TICK) + timedelta(minutes=1)
            return f.external_ref, ws, ws + WAIT_FOR
    raise AssertionError("no request stays open a week")


def _shifted(cal, created, x, ws, we, ticks):
    """When a resolve clock started at ``created`` reaches ``x`` of business time, given a wait ``[ws, we)``
    (task paused): unchanged if it fired before the wait, else later by the business time of the wait."""
    at = cal.add_business_time(created, x)
    first = _first_tick(ticks, at)
    if first is not None and first < ws:
        return at
    return cal.add_business_time(created, x + cal.business_time_between(ws, we))


def test_six_weeks_of_real_requests_fire_every_timer_once_at_its_instant(sessions):
    first_config = load_config(ROOT / "examples" / "nyc311.toml")
    later_config = _changed(first_config)
    config = first_config
    esc = config.model.escalation
    rows = _rows()
    start = rows[0][0].received_at.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(weeks=6)
    change = start + CHANGE_AFTER  # a tick: the sweep at it is the first under the new policy
    ticks = []
    t = start
    while t <= end:
        ticks.append(t)
        t += TICK
    assert change in ticks

    waited, ws, we = _waited(rows, start)
    events = [(f.received_at, 0, "intake", f) for f, _ in rows]
    events += [(c, 1, "close", f.external_ref) for f, c in rows if c is not None and c <= end]
    events += [(ws, 2, "wait", waited), (we, 2, "answer", waited)]
    events.sort(key=lambda e: (e[0], e[1]))
    ids: dict[str, int] = {}
    closed_at: dict[int, datetime] = {}
    i = 0
    for tick in ticks:
        config = later_config if tick >= change else first_config
        while i < len(events) and events[i][0] <= tick:
            at, _, kind, obj = events[i]
            if kind == "intake":
                (ids[obj.external_ref],) = intake(sessions, config, at, [obj])
            elif kind == "wait":
                lifecycle.await_customer(sessions, ids[obj], config=config, reason="the customer sends the bill",
                                         actor="agency", at=at)
            elif kind == "answer":
                add_message(sessions, ids[obj], config=config, direction="inbound", body="here is the bill",
                            author="customer", at=at, channel="email")
            else:
                cid = ids[obj]
                with sessions() as s:
                    (tid,) = s.scalars(select(Task.id).where(Task.complaint_id == cid)).all()
                task_svc.complete(sessions, tid, config=config, actor="agency", at=at, outcome="closed in 311",
                                  root_cause="product_defect")
                closed_at[cid] = at
            i += 1
        sweep(sessions, config, tick)

    # ---- the oracle (targets of the first policy; `instant` below switches to the later one where it applies)
    config = first_config
    expected: set[tuple] = set()
    moved: list[datetime] = []  # timers the policy change moved (and that then fired)
    with sessions() as s:
        tasks = s.scalars(select(Task).order_by(Task.id)).all()
        complaints = {c.id: c for c in s.scalars(select(Complaint))}
        follow_ups = {t.complaint_id: t for t in tasks if t.kind == "follow-up"}
        for task in tasks:
            cal = config.department_calendar(task.department)
            targets = config.sla.for_department(task.department, complaints[task.complaint_id].severity)
            done = closed_at.get(task.complaint_id) if task.kind != "follow-up" else None
            created = task.created_at
            waits = task.complaint_id == ids[waited] and task.kind != "follow-up"
            # acknowledgement pages: at the ack due time, then every ack_page_hours business hours (never
            # acknowledged in this data), until the task is done or ack_page_limit pages went out; a wait on the
            # customer pauses the acknowledge clock (the task is held, still unacknowledged): the pages after
            # the wait's start come later by its business time (business time is additive along the calendar)
            for page in range(1, esc.ack_page_limit + 1):
                x = targets.acknowledge + (page - 1) * timedelta(hours=esc.ack_page_hours)
                at = _shifted(cal, created, x, ws, we, ticks) if waits else cal.add_business_time(created, x)
                if at <= end and _fires(ticks, at, done):
                    expected.add(("ack_timeout", task.id, page, at))
            later = later_config.sla.for_department(task.department, complaints[task.complaint_id].severity)

            def instant(share=None, after=None, _t=targets, _l=later, _cal=cal, _c=created, _done=done, _w=waits):
                """Under the policy of the sweep that would fire it: a timer still pending at the change
                follows the new targets (K10); one that fired before it stays where it was."""
                ats = []
                for tg in (_t, _l):
                    due_ = _cal.add_business_time(_c, tg.resolve)
                    if _w:  # K11: the task paused for the wait; business time is additive along the calendar
                        x = tg.resolve * share if share is not None else tg.resolve + after
                        ats.append(_shifted(_cal, _c, x, ws, we, ticks))
                        continue
                    ats.append(_cal.add_business_time(_c, tg.resolve * share) if share is not None
                               else _cal.add_business_time(due_, after))
                first = _first_tick(ticks, ats[0])
                if first is not None and first < change:
                    return ats[0]
                if ats[1] != ats[0] and _fires(ticks, ats[1], _done):
                    moved.append(ats[1])
                return ats[1]
            for pct in esc.reminder_thresholds:
                at = instant(share=pct)
                if _fires(ticks, at, done):
                    expected.add(("reminder", task.id, round(pct * 100), at))
            # the crisis owner (level 4) hears only of crisis_severities / crisis_risk_flags complaints
            c = complaints[task.complaint_id]
            crisis = c.severity in esc.crisis_severities or bool(set(c.risk_flags) & set(esc.crisis_risk_flags))
            for level, hours in enumerate(esc.ladder_hours, start=1):
                if level == 4 and not crisis:
                    continue
                at = instant(after=timedelta(hours=hours))
                if _fires(ticks, at, done):
                    expected.add(("escalation", task.id, level, at))
        ccal = config.customer_calendar
        for cid, c in complaints.items():
            due = ccal.add_business_time(c.received_at, config.sla.for_customer(c.severity).resolve)
            crisis = c.severity in esc.crisis_severities or bool(set(c.risk_flags) & set(esc.crisis_risk_flags))
            for level in (3, 4) if crisis else (3,):
                at = ccal.add_business_time(due, timedelta(hours=esc.ladder_hours[level - 1]))
                if cid == ids[waited]:  # the promise's clock paused while the complaint waited on the customer
                    at = _shifted(ccal, c.received_at, config.sla.for_customer(c.severity).resolve
                                  + timedelta(hours=esc.ladder_hours[level - 1]), ws, we, ticks)
                if _fires(ticks, at, closed_at.get(cid)):
                    expected.add(("promise", cid, level, at))
            if cid in closed_at:
                fcal = config.department_calendar(config.follow_up_department)
                at = _working_days_later(fcal, closed_at[cid], config.model.follow_up.business_days[c.severity])
                if _first_tick(ticks, at) is not None:
                    expected.add(("follow_up", cid, 0, at))
                    assert follow_ups[cid].created_at == _first_tick(ticks, at)

        # ---- what the engine did
        fired = s.scalars(select(Timer).where(Timer.status == "fired")).all()
        got = set()
        for tm in fired:
            entity = tm.task_id if tm.task_id is not None else tm.complaint_id
            detail = int((tm.data or {}).get("level") or (tm.data or {}).get("pct") or (tm.data or {}).get("page") or 0)
            got.add((tm.kind, entity, detail, tm.fire_at))
            assert tm.fired_at == _first_tick(ticks, tm.fire_at), tm.key  # at the first sweep at/after its instant
        assert got == expected
        assert len(fired) == len(expected)  # each exactly once

        notes = s.scalars(select(Notification)).all()
        got_notes = {}
        for n in notes:
            if n.kind == "improvement_proposed":  # recurrence detection (issue 5), not a timer
                assert n.role == "operations_manager" and n.improvement_id is not None
                continue
            role_cal = (config.calendar(getattr(esc, n.role).calendar) if n.role in ("operations_manager",
                                                                                     "crisis_owner")
                        else config.department_calendar(n.department or ""))
            assert role_cal.is_open(n.release_at), (n.key, n.release_at)  # quiet hours respected
            entity = n.task_id if n.task_id is not None else n.complaint_id
            detail = int((n.data["params"]).get("level") or n.data["params"].get("pct")
                         or n.data["params"].get("page") or 0)
            got_notes[(n.kind, entity, detail)] = (n.status, n.dropped_reason)
        expected_notes = _notice_oracle(config, ticks, expected, tasks, complaints, closed_at, (ids[waited], ws, we))
        assert got_notes == expected_notes
        expected_kinds: dict[str, int] = {}
        for kind, *_ in expected:
            if kind != "follow_up":
                expected_kinds[kind] = expected_kinds.get(kind, 0) + 1
        dropped = {}
        for status, reason in expected_notes.values():
            if status == "dropped":
                dropped[reason] = dropped.get(reason, 0) + 1
        for o in s.scalars(select(Outbox)):
            assert o.created_at in ticks
        # a task completed during its department's quiet hours while its notice was held for the morning:
        # the notice is dropped at release, not sent (Zammad #4432, Icinga/icinga2#5919)
        of = {t.id: (t.department, t.complaint_id) for t in tasks}
        complaint_of_task = {t.id: t.complaint_id for t in tasks}
        quiet_done = [(k, e) for (k, e, _), (_, why) in expected_notes.items() if why == "task_done"
                      and not config.department_calendar(of[e][0]).is_open(closed_at[of[e][1]])]
    # the scenario is not empty: real requests breached, were reminded and followed up
    assert expected_kinds.get("escalation", 0) > 0 and expected_kinds.get("reminder", 0) > 0
    assert sum(1 for k, *_ in expected if k == "follow_up") > 0
    assert quiet_done, "the data no longer holds a completion in quiet hours with a held notice"
    assert moved and min(moved) >= change  # the change mid-run moved pending timers, which fired later
    # the wait with tasks (K11): nothing of the waited complaint fired during the wait, and its clocks resumed
    waited_fired = [at for kind, e, _, at in expected if kind in ("reminder", "escalation", "promise")
                    and (e == ids[waited] if kind == "promise" else complaint_of_task[e] == ids[waited])]
    assert waited_fired and not [at for at in waited_fired if ws <= _first_tick(ticks, at) < we]
    assert [at for at in waited_fired if at >= we], "no timer of the waited complaint fell due after the wait"
    assert dropped.get("superseded", 0) > 0 and dropped.get("task_done", 0) + dropped.get("complaint_closed", 0) > 0
    print(f"\nsix weeks, {ROWS} NYC 311 requests: fired {len(fired)} timers: {expected_kinds}, "
          f"follow-ups {sum(1 for k, *_ in expected if k == 'follow_up')}, not sent at release: {dropped}, "
          f"moved by the policy change: {len(moved)}")


PAGE_ROLES = ["assignee", "lead", "operations_manager"]
LEVEL_ROLES = {1: "assignee", 2: "lead", 3: "operations_manager", 4: "crisis_owner"}


def _notice_oracle(config, ticks, expected, tasks, complaints, closed_at, wait) -> dict:
    """Status of every notice, from the rules: fired at the first tick at or after its instant, released at
    the recipient's next opening, packed at the first tick at or after that unless by then the task was done
    (or the complaint resolved), paused by the complaint's wait on the customer (``wait``: complaint id, start,
    end; a page once the task left ``open``), or a later member of its chain (reminders, then escalation
    levels; pages) fired for the same task and role (issue 12, K12)."""
    esc = config.model.escalation
    dept = {t.id: t.department for t in tasks}
    complaint_of = {t.id: t.complaint_id for t in tasks}
    notices = []
    for kind, entity, detail, at in expected:
        if kind == "follow_up":
            continue
        role = (PAGE_ROLES[min(detail, 3) - 1] if kind == "ack_timeout" else "assignee" if kind == "reminder"
                else LEVEL_ROLES[detail])
        cal = (config.calendar(getattr(esc, role).calendar) if role in ("operations_manager", "crisis_owner")
               else config.department_calendar(dept[entity]))
        fired = _first_tick(ticks, at)
        release = max(cal.next_opening(fired), fired)
        chain = {"reminder": "task", "escalation": "task", "ack_timeout": "ack"}.get(kind)
        rank = detail / 1000 if kind == "reminder" else detail
        notices.append((kind, entity, detail, role, fired, _first_tick(ticks, release), chain, rank))
    out = {}
    for kind, entity, detail, role, _fired, packed, chain, rank in notices:
        if kind == "promise":
            done = closed_at.get(entity)
        else:  # a task of the complaint is done when it closed; a follow-up task is never completed here
            done = closed_at.get(complaint_of[entity]) if _kind_of(tasks, entity) != "follow-up" else None
        waited = (entity if kind == "promise" else complaint_of[entity]) == wait[0]
        paused = waited and packed is not None and wait[1] <= packed < wait[2]
        if packed is None:
            out[(kind, entity, detail)] = ("pending", None)
        elif done is not None and done <= packed:
            out[(kind, entity, detail)] = ("dropped", "complaint_closed" if kind == "promise" else "task_done")
        elif paused:
            out[(kind, entity, detail)] = ("dropped", "complaint_waiting" if kind == "promise" else "task_paused")
        elif chain and any(o[6] == chain and o[1] == entity and o[3] == role and o[7] > rank and o[4] <= packed
                           for o in notices if o[0] != "promise"):
            out[(kind, entity, detail)] = ("dropped", "superseded")
        else:
            out[(kind, entity, detail)] = ("packed", None)
    return out


def _kind_of(tasks, task_id):
    return next(t.kind for t in tasks if t.id == task_id)
