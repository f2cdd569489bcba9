"""SLA clocks rebuilt from the status history, on a business calendar.

A clock never keeps counters: :func:`compute_clock` replays the status changes
of a task or complaint against its calendar each time it is asked, so a change
of priority, policy or department recomputes it without losing paused time.

Rules (DESIGN.md §3; CASES.md K3/K4; RT's ``ExcludeTimeOnIgnoredStatuses``):

- the clock starts at ``start``; its *target* is a business duration;
- time in a *running* state counts; time in a *paused* state (waiting on the
  customer, waiting on a third party, blocked on another department) does not,
  and extends the due time by the **business** time spent paused;
- the clock *stops* at the first entry into a stop state that is not followed by
  a later change; a stop followed by a later change (resolve, then reopen) counts
  as paused, so a reopened complaint is not overdue at once, while resolution
  time keeps counting from creation;
- leaving a paused state straight to a stop state still counts the pause;
- ``due = add_business_time(start, target + paused)`` while running or stopped;
  while paused there is no due instant (``remaining`` is frozen).

All durations here are **business** time on the given calendar; all instants
are UTC-aware datetimes (results in the calendar's zone).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from .errors import InvalidInput
from .machine import require_aware


class BusinessClock(Protocol):
    def add_business_time(self, start: datetime, duration: timedelta, *, utc: bool = False) -> datetime: ...

    def add_business_times(self, start: datetime, durations: Sequence[timedelta], *,
                           utc: bool = False) -> list[datetime]: ...

    def business_time_between(self, start: datetime, end: datetime) -> timedelta: ...


class ClockStatus(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"
    NO_TARGET = "no_target"
    CANCELLED = "cancelled"
    #: a transferred task's resolve clock: the work (and the clock) moved to its successor task
    HANDED_OVER = "handed_over"


@dataclass(frozen=True)
class StatusChange:
    """The entity entered ``status`` at the UTC-aware instant ``at``."""

    at: datetime
    status: str


@dataclass(frozen=True)
class ClockRules:
    """Which statuses run, pause or stop a clock; ``cancel`` states end it without a verdict."""

    running: frozenset[str]
    paused: frozenset[str]
    stop: frozenset[str]
    cancel: frozenset[str] = frozenset()
    #: True for "first time" clocks (first response, acknowledge): the first entry into a
    #: stop state ends the clock for good, whatever happens after it.
    once: bool = False


@dataclass(frozen=True)
class ClockState:
    """One clock, as of ``as_of``.

    Durations are business time. ``due_at`` is None while paused, without a
    target, or when cancelled. ``breached`` is true once the due instant has
    passed without the clock stopping (or it stopped late).
    """

    name: str
    target: timedelta | None
    started_at: datetime
    as_of: datetime
    elapsed: timedelta
    paused: timedelta
    remaining: timedelta | None
    due_at: datetime | None
    stopped_at: datetime | None
    status: ClockStatus
    breached: bool


def compute_clock(name: str, calendar: BusinessClock, target: timedelta | None, start: datetime,
                  history: Sequence[StatusChange], now: datetime, rules: ClockRules,
                  *, at_risk_ratio: float = 0.8) -> ClockState:
    """Replay ``history`` (status changes, any order; the first gives the initial status) up to ``now``.

    ``start`` is when the clock starts (changes before it only set the status).
    Raises :class:`InvalidInput` for naive datetimes or a negative target.
    """
    require_aware(start, "start")
    require_aware(now, "now")
    if target is not None and target < timedelta(0):
        raise InvalidInput("target", "must not be negative")
    changes = sorted(history, key=lambda c: c.at)
    for c in changes:
        require_aware(c.at, "history.at")
    points = _timeline(changes, start, now)
    if rules.once:
        for i, (_, st) in enumerate(points):
            if st in rules.stop or st in rules.cancel:
                points = points[:i + 1]
                break
    elapsed, paused, stopped_at = _spent(calendar, points, now, rules)
    final_status = points[-1][1]
    currently_paused = stopped_at is None and final_status in rules.paused
    cancelled = stopped_at is not None and final_status in rules.cancel
    if target is None or cancelled:
        return ClockState(name, target, start, now, elapsed, paused, None, None, stopped_at,
                          ClockStatus.CANCELLED if cancelled else ClockStatus.NO_TARGET, False)

    remaining = target - elapsed
    # compare and return in UTC: datetimes sharing a zone compare by wall time (PEP 495)
    due_at = None if currently_paused else calendar.add_business_time(start, target + paused, utc=True)
    stopped_at = stopped_at.astimezone(UTC) if stopped_at is not None else None
    status_, breached = _verdict(target, elapsed, due_at, stopped_at, now, currently_paused, at_risk_ratio)
    return ClockState(name, target, start, now, elapsed, paused, remaining, due_at, stopped_at, status_, breached)


def _timeline(changes: Sequence[StatusChange], start: datetime, now: datetime) -> list[tuple[datetime, str]]:
    """The status timeline from ``start`` to ``now`` as ``[(begin, status)]``, from ``changes`` sorted by
    instant: the status in force at ``start`` (the first change's before any), then each later change."""
    status = changes[0].status if changes else ""
    for c in changes:
        if c.at <= start:
            status = c.status
    return [(start, status)] + [(c.at, c.status) for c in changes if start < c.at <= now]


def _spent(calendar: BusinessClock, points: Sequence[tuple[datetime, str]], now: datetime,
           rules: ClockRules) -> tuple[timedelta, timedelta, datetime | None]:
    """``(elapsed, paused, stopped_at)`` over the timeline ``points`` up to ``now``, in business time.

    A stop (or cancel) state that is the last point stops the clock at its begin; one followed by a later
    change counts as paused (stopped, then reopened). Statuses outside the rules neither run nor pause.
    """
    elapsed = paused = timedelta(0)
    stopped_at: datetime | None = None
    for i, (begin, st) in enumerate(points):
        end = points[i + 1][0] if i + 1 < len(points) else now
        is_last = i + 1 == len(points)
        if end <= begin and not is_last:
            continue
        if st in rules.stop or st in rules.cancel:
            if is_last:
                stopped_at = begin
            else:
                paused += calendar.business_time_between(begin, end)  # stopped, then reopened
        elif st in rules.paused:
            paused += calendar.business_time_between(begin, end)
        elif st in rules.running:
            elapsed += calendar.business_time_between(begin, end)
        # any other status (e.g. before intake) neither runs nor pauses
    return elapsed, paused, stopped_at


def _verdict(target: timedelta, elapsed: timedelta, due_at: datetime | None, stopped_at: datetime | None,
             now: datetime, currently_paused: bool, at_risk_ratio: float) -> tuple[ClockStatus, bool]:
    """``(status, breached)`` of a clock with a target (instants UTC): met or breached once stopped, else
    breached, paused, at risk (``elapsed >= target * at_risk_ratio``) or on track."""
    if stopped_at is not None:
        breached = due_at is not None and stopped_at > due_at  # a stopped clock is never paused: due_at is set
        return (ClockStatus.BREACHED if breached else ClockStatus.MET), breached
    # at the due instant itself the clock is not yet breached (work done at 18:00 sharp is on time)
    breached = elapsed >= target and (due_at is None or now > due_at)
    if breached:
        return ClockStatus.BREACHED, breached
    if currently_paused:
        return ClockStatus.PAUSED, breached
    if target and elapsed >= target * at_risk_ratio:
        return ClockStatus.AT_RISK, breached
    return ClockStatus.ON_TRACK, breached


@dataclass(frozen=True)
class MessageEvent:
    """A message on a complaint: ``inbound`` from the customer, ``outbound`` from us."""

    at: datetime
    direction: str


def compute_update_clock(calendar: BusinessClock, target: timedelta | None, messages: Sequence[MessageEvent],
                         now: datetime, *, at_risk_ratio: float = 0.8,
                         not_before: datetime | None = None) -> ClockState | None:
    """The "update" clock: runs only while the customer is waiting for an answer (CASES.md C12, C13).

    It starts at the first inbound message after our last outbound one, on any
    channel, and stops at our next outbound message. Returns None when nobody is
    waiting (we spoke last, or there are no messages), or when there is no target.
    """
    require_aware(now, "now")
    if target is None:
        return None
    waiting_since: datetime | None = None
    for m in sorted((m for m in messages if m.at <= now), key=lambda m: m.at):
        if m.direction == "inbound":
            waiting_since = waiting_since or m.at
        elif m.direction == "outbound":
            waiting_since = None
    if waiting_since is None:
        return None
    if not_before is not None and waiting_since < not_before:
        waiting_since = not_before  # e.g. a task created after the customer wrote: its clock starts with it
    rules = ClockRules(running=frozenset({"waiting"}), paused=frozenset(), stop=frozenset())
    return compute_clock("update", calendar, target, waiting_since, [StatusChange(waiting_since, "waiting")],
                         now, rules, at_risk_ratio=at_risk_ratio)


@dataclass(frozen=True)
class SlaTargets:
    """Business-time targets; None means no target for that clock."""

    acknowledge: timedelta | None = None
    resolve: timedelta | None = None
    update: timedelta | None = None


@dataclass(frozen=True)
class SlaPolicy:
    """Targets per severity, with optional per-department overrides (operational level agreements).

    ``department_targets[dept][severity]`` wins over ``targets[severity]`` for that department;
    ``customer_targets`` is the promise to the customer (the complaint's own clocks).
    """

    targets: Mapping[str, SlaTargets]
    department_targets: Mapping[str, Mapping[str, SlaTargets]]
    customer_targets: Mapping[str, SlaTargets]
    at_risk_ratio: float = 0.8

    def for_department(self, department: str, severity: str) -> SlaTargets:
        dep = self.department_targets.get(department, {})
        if severity in dep:
            return dep[severity]
        return self.targets.get(severity, SlaTargets())

    def for_customer(self, severity: str) -> SlaTargets:
        return self.customer_targets.get(severity, SlaTargets())


# Rules for the clocks closeloop keeps. Task states: see domain/task.py; complaint states: domain/complaint.py.
#: A task's acknowledgement: ``waiting`` pauses it (a task held before anyone acknowledged it, by its complaint's
#: wait on the customer, is still unacknowledged when the customer answers); a person who pauses an open task
#: acknowledges it first (``services/work/tasks.pause``), so their pause stops this clock as before.
TASK_ACK_RULES = ClockRules(running=frozenset({"open"}), paused=frozenset({"blocked", "waiting"}),
                            stop=frozenset({"acknowledged", "in_progress", "done"}),
                            cancel=frozenset({"cancelled", "transferred"}), once=True)
TASK_RESOLVE_RULES = ClockRules(running=frozenset({"open", "acknowledged", "in_progress"}),
                                paused=frozenset({"blocked", "waiting"}), stop=frozenset({"done"}),
                                cancel=frozenset({"cancelled", "transferred"}))
COMPLAINT_RESPONSE_RULES = ClockRules(running=frozenset({"received", "triaged"}), paused=frozenset(),
                                      stop=frozenset({"in_progress", "awaiting_customer", "resolved", "closed",
                                                      "reopened"}),
                                      cancel=frozenset({"merged", "rejected"}), once=True)
#: The first response to the customer (ISO 10002 7.3, issue 13): runs from receipt until the customer was
#: first told something (``contacted``: a message delivered to them, or a recorded call); an internal
#: acknowledge or the start of work does not stop it. Resolving or closing stops it (the outcome answers
#: the customer); merged or rejected complaints have no first response to give.
CUSTOMER_CONTACTED = "contacted"
COMPLAINT_FIRST_CONTACT_RULES = ClockRules(
    running=frozenset({"received", "triaged", "in_progress", "awaiting_customer", "reopened"}), paused=frozenset(),
    stop=frozenset({CUSTOMER_CONTACTED, "resolved", "closed"}), cancel=frozenset({"merged", "rejected"}), once=True)
COMPLAINT_RESOLVE_RULES = ClockRules(running=frozenset({"received", "triaged", "in_progress", "reopened"}),
                                     paused=frozenset({"awaiting_customer"}),
                                     stop=frozenset({"resolved", "closed"}),
                                     cancel=frozenset({"merged", "rejected"}))


def hours(value: float | None) -> timedelta | None:
    """Business hours as a timedelta (None stays None)."""
    return None if value is None else timedelta(hours=value)


def first_entry(history: Sequence[StatusChange], states: Collection[str]) -> datetime | None:
    """When the history first entered one of ``states`` (None if never)."""
    for c in sorted(history, key=lambda c: c.at):
        if c.status in states:
            return c.at
    return None


def instant_at_elapsed(calendar: BusinessClock, start: datetime, history: Sequence[StatusChange],
                       now: datetime, rules: ClockRules, elapsed: timedelta) -> datetime | None:
    """When the clock's running business time reaches ``elapsed`` (UTC), or None.

    Past instants come from the history (pauses before that point are skipped,
    pauses after it do not move it); a future instant assumes the clock keeps
    running from ``now``. None if the clock is paused or stopped now and the
    point was not reached yet.
    """
    return instants_at_elapsed(calendar, start, history, now, rules, [elapsed])[0]


def instants_at_elapsed(calendar: BusinessClock, start: datetime, history: Sequence[StatusChange],
                        now: datetime, rules: ClockRules, elapsed: Sequence[timedelta]) -> list[datetime | None]:
    """:func:`instant_at_elapsed` for each of ``elapsed`` (business time), in one pass over the history
    and one walk of the calendar for the future ones (reminder thresholds of one task)."""
    require_aware(start, "start")
    require_aware(now, "now")
    points = _timeline(sorted(history, key=lambda c: c.at), start, now)
    out: list[datetime | None] = [None] * len(elapsed)
    left = sorted(range(len(elapsed)), key=lambda i: elapsed[i])
    acc = timedelta(0)
    for i, (begin, st) in enumerate(points):
        last = i + 1 == len(points)
        if st not in rules.running:
            continue
        if last:
            found = calendar.add_business_times(begin, [elapsed[j] - acc for j in left], utc=True)
            for j, at in zip(left, found, strict=True):
                out[j] = at
            return out
        span = calendar.business_time_between(begin, points[i + 1][0])
        while left and acc + span >= elapsed[left[0]]:
            out[left[0]] = calendar.add_business_time(begin, elapsed[left[0]] - acc, utc=True)
            left.pop(0)
        acc += span
    return out