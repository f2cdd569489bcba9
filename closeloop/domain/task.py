"""Department task lifecycle: states, triggers and the edge table.

Graph (refined from DESIGN.md §3)::

    open -acknowledge-> acknowledged -start-> in_progress -complete-> done
    open -start-> in_progress                      (starting implies acknowledging)
    open | acknowledged -complete-> done           (a quick fix needs no separate acknowledge/start)
    open | acknowledged | in_progress | blocked -transfer-> transferred   (a new task elsewhere, with a reason)
    open | acknowledged -block-> blocked -unblock-> open     (waits on a task it depends on)
    open | acknowledged | in_progress -pause-> waiting -resume-> in_progress
                                                   (waiting on the customer or a third party; the SLA clock pauses)
    waiting -release-> open                        (the complaint's wait on the customer held a task nobody had
                                                    acknowledged; the answer puts it back in the queue, its
                                                    acknowledge clock running again: services/work/waits.py)
    waiting -complete-> done                       (leaving a pause straight to done still counts the pause)
    any non-terminal -cancel-> cancelled
    done -reopen-> open                            (the complaint came back)

``transferred`` and ``cancelled`` are terminal; ``done`` only reopens.
"""

from __future__ import annotations

from enum import StrEnum

from .guards import ROOT_CAUSE_TASK, Guard, needs_reason
from .machine import Machine


class TaskStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    WAITING = "waiting"
    DONE = "done"
    TRANSFERRED = "transferred"
    CANCELLED = "cancelled"


class TaskTrigger(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    COMPLETE = "complete"
    TRANSFER = "transfer"
    BLOCK = "block"
    UNBLOCK = "unblock"
    CANCEL = "cancel"
    REOPEN = "reopen"
    PAUSE = "pause"
    RESUME = "resume"
    RELEASE = "release"


_S, _T = TaskStatus, TaskTrigger

TASK_EDGES: dict[tuple[TaskStatus, TaskTrigger], TaskStatus] = {
    (_S.OPEN, _T.ACKNOWLEDGE): _S.ACKNOWLEDGED,
    (_S.OPEN, _T.START): _S.IN_PROGRESS,
    (_S.ACKNOWLEDGED, _T.START): _S.IN_PROGRESS,
    (_S.OPEN, _T.COMPLETE): _S.DONE,
    (_S.ACKNOWLEDGED, _T.COMPLETE): _S.DONE,
    (_S.IN_PROGRESS, _T.COMPLETE): _S.DONE,
    (_S.OPEN, _T.BLOCK): _S.BLOCKED,
    (_S.ACKNOWLEDGED, _T.BLOCK): _S.BLOCKED,
    (_S.BLOCKED, _T.UNBLOCK): _S.OPEN,
    (_S.DONE, _T.REOPEN): _S.OPEN,
    (_S.OPEN, _T.PAUSE): _S.WAITING,
    (_S.ACKNOWLEDGED, _T.PAUSE): _S.WAITING,
    (_S.IN_PROGRESS, _T.PAUSE): _S.WAITING,
    (_S.WAITING, _T.RESUME): _S.IN_PROGRESS,
    (_S.WAITING, _T.RELEASE): _S.OPEN,
    (_S.WAITING, _T.COMPLETE): _S.DONE,
}
for _state in (_S.OPEN, _S.ACKNOWLEDGED, _S.IN_PROGRESS, _S.BLOCKED, _S.WAITING):
    TASK_EDGES[(_state, _T.TRANSFER)] = _S.TRANSFERRED
    TASK_EDGES[(_state, _T.CANCEL)] = _S.CANCELLED

#: The rules checked before a task trigger (``closeloop.domain.guards``); each says why.
TASK_GUARDS: dict[TaskTrigger, tuple[Guard, ...]] = {
    _T.TRANSFER: (needs_reason("a transfer", "the next department and the monthly review read why it moved "
                                             "(ping-pong is found from the reasons)"),),
    _T.CANCEL: (needs_reason("cancelling a task", "work dropped without a word is what complainants report"),),
    _T.PAUSE: (needs_reason("a pause", "a stopped SLA clock must say what it waits for (ISO 10002 7.3)"),),
    _T.COMPLETE: (ROOT_CAUSE_TASK,),
}

TASK_MACHINE: Machine[TaskStatus, TaskTrigger] = Machine(
    entity="task",
    edges=TASK_EDGES,
    terminal=frozenset({_S.TRANSFERRED, _S.CANCELLED}),
    guards=TASK_GUARDS,
)

#: Tasks a department still has to work on.
ACTIVE_STATES = frozenset({_S.OPEN, _S.ACKNOWLEDGED, _S.IN_PROGRESS, _S.BLOCKED, _S.WAITING})
#: Tasks that count as finished for dependency purposes.
FINISHED_STATES = frozenset({_S.DONE, _S.TRANSFERRED, _S.CANCELLED})

transition = TASK_MACHINE.fire
