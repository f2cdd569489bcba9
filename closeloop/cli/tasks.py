"""``closeloop tasks ...``: a department's queue and moving tasks along."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from closeloop.cli.common import actor_name, clip, clocks_table, fail, get_app, out, parse_instant, shown_line, stamp
from closeloop.domain.task import TaskStatus
from closeloop.services.engine.sweep import add_manual_reminder
from closeloop.services.reads.complaint_queries import task_with_clocks
from closeloop.services.reads.tasks import list_tasks, task_history
from closeloop.services.work import tasks as task_svc
from closeloop.services.work.lifecycle import record_follow_up

tasks_app = typer.Typer(help="Department tasks: list, show, ack, start, pause, resume, complete, transfer, cancel, "
                             "assign, follow-up, remind.", no_args_is_help=True)


@tasks_app.command("list")
def tasks_list(department: str | None = typer.Option(None, "--department", "-d"),
               status: str | None = typer.Option(None, "--status", "-s"),
               overdue: bool = typer.Option(False, "--overdue", help="only tasks past their due time"),
               limit: int = typer.Option(100, min=1, max=100_000)) -> None:
    """A department's queue (or all tasks), oldest first, with due times (UTC)."""
    if status and status not in {str(s) for s in TaskStatus}:
        fail(f"--status: unknown status {status!r}; use one of {', '.join(s.value for s in TaskStatus)}", 2)
    a = get_app()
    if department and department not in a.config.departments:
        fail(f"--department: unknown department {department!r}; configured: {', '.join(sorted(a.config.departments))}",
             2)
    rows, total = list_tasks(a.sessions, department=department, status=TaskStatus(status) if status else None,
                      due_before=a.clock.now() if overdue else None, limit=limit)
    t = Table()
    for col in ("id", "complaint", "department", "kind", "status", "assignee", "due (UTC)", "title"):
        t.add_column(col)
    for task in rows:
        t.add_row(str(task.id), str(task.complaint_id) if task.complaint_id is not None
                  else f"improvement {task.improvement_id}", task.department, task.kind, task.status,
                  escape(task.assignee or ""), stamp(task.due_at) if task.due_at else "-",
                  escape(clip(task.title, 50)))
    out.print(t)
    out.print(shown_line(total, 0, len(rows), ("task", "tasks")))


@tasks_app.command("show")
def tasks_show(task_id: int) -> None:
    """One task: its clocks (target, elapsed, paused, due in the department's zone and UTC) and history."""
    a = get_app()
    task, clocks = task_with_clocks(a.sessions, a.config, task_id, now=a.clock.now())
    owner = (f"complaint {task.complaint_id}" if task.complaint_id is not None
             else f"improvement {task.improvement_id} action")
    out.print(f"[bold]task {task.id}[/bold] {owner}  {task.department}/{task.kind}  "
              f"status [bold]{task.status}[/bold]  assignee {escape(task.assignee or '-')}")
    out.print(escape(task.title))
    if task.transferred_from_id:
        out.print(f"transferred from task {task.transferred_from_id}: {escape(task.transfer_reason or '')}")
    out.print(clocks_table(clocks))
    t = Table(title="history (UTC)")
    for col in ("at", "from", "to", "trigger", "by", "reason"):
        t.add_column(col)
    for r in task_history(a.sessions, task.id):
        t.add_row(stamp(r.at), r.from_state or "-", r.to_state, r.trigger, escape(r.actor),
                  escape(r.reason or ""))
    out.print(t)


def _action(fn, task_id: int, **kwargs) -> None:
    a = get_app()
    task = fn(a.sessions, task_id, config=a.config, at=a.clock.now(), **kwargs)
    out.print(f"task {task.id} ({task.department}/{task.kind}) is now {task.status}")


@tasks_app.command("ack")
def tasks_ack(task_id: int, actor: str | None = typer.Option(None)) -> None:
    """Acknowledge a task (the department's first response)."""
    _action(task_svc.acknowledge, task_id, actor=actor_name(actor))


@tasks_app.command("start")
def tasks_start(task_id: int, actor: str | None = typer.Option(None)) -> None:
    """Start work on a task."""
    _action(task_svc.start, task_id, actor=actor_name(actor))


@tasks_app.command("pause")
def tasks_pause(task_id: int, reason: str = typer.Option(..., "--reason", help="who or what it waits for"),
                until: str | None = typer.Option(None, "--until", help="expected end, ISO 8601 with offset"),
                actor: str | None = typer.Option(None)) -> None:
    """Wait on the customer or a third party: the SLA clock pauses."""
    _action(task_svc.pause, task_id, reason=reason, until=parse_instant(until, "--until"), actor=actor_name(actor))


@tasks_app.command("resume")
def tasks_resume(task_id: int, actor: str | None = typer.Option(None)) -> None:
    """End a pause; the due time moves by the business time spent waiting."""
    _action(task_svc.resume, task_id, actor=actor_name(actor))


@tasks_app.command("complete")
def tasks_complete(task_id: int, outcome: str = typer.Option("", "--outcome", "-o", help="what was done"),
                   root_cause: str | None = typer.Option(None, "--root-cause",
                                                            help="the complaint's root cause (taxonomy code[.sub])"),
                   root_cause_detail: str | None = typer.Option(None, "--root-cause-detail",
                                                                   help="note (required with 'undetermined')"),
                   satisfied: bool | None = typer.Option(
                       None, "--satisfied/--not-satisfied", help="the customer's verdict (a follow-up task needs it)"),
                   actor: str | None = typer.Option(None)) -> None:
    """Complete a task; dependent tasks unblock; the complaint resolves when no task is left and its root
    cause is known (otherwise a root-cause task goes to the department lead). A follow-up task takes the
    customer's verdict: --not-satisfied reopens the complaint to the department that did the work."""
    _action(task_svc.complete, task_id, actor=actor_name(actor), outcome=outcome, root_cause=root_cause,
            root_cause_detail=root_cause_detail, satisfied=satisfied)


@tasks_app.command("transfer")
def tasks_transfer(task_id: int, to: str = typer.Option(..., "--to", help="target department"),
                   reason: str = typer.Option(..., "--reason", help="why it belongs there"),
                   actor: str | None = typer.Option(None)) -> None:
    """Transfer a task to another department (a reason is required); prints the new task."""
    _action(task_svc.transfer, task_id, to=to, reason=reason, actor=actor_name(actor))


@tasks_app.command("cancel")
def tasks_cancel(task_id: int, reason: str = typer.Option(..., "--reason"),
                 actor: str | None = typer.Option(None)) -> None:
    """Cancel a task that is no longer needed (a reason is required)."""
    _action(task_svc.cancel, task_id, reason=reason, actor=actor_name(actor))


@tasks_app.command("assign")
def tasks_assign(task_id: int, assignee: str = typer.Argument(..., help="who takes it over"),
                 actor: str | None = typer.Option(None)) -> None:
    """Reassign a task within its department (the due time is kept). A user's handle (``@ann``) or name
    assigns that user; any other text is kept as it is (an installation without user accounts), and the
    reply says so."""
    a = get_app()
    task = task_svc.assign(a.sessions, task_id, config=a.config, at=a.clock.now(), assignee=assignee,
                           actor=actor_name(actor))
    who = (f"the user {escape(task.assignee or '')}" if task.assignee_user_id is not None else
           f"{escape(task.assignee or '')!r} (no user by that name: free text, nobody is notified)")
    out.print(f"task {task.id} ({task.department}/{task.kind}) is {task.status}, assigned to {who}")


@tasks_app.command("follow-up")
def tasks_follow_up(task_id: int,
                    satisfied: bool = typer.Option(..., "--satisfied/--not-satisfied",
                                                   help="the customer's verdict on the handling"),
                    note: str = typer.Option("", "--note"), actor: str | None = typer.Option(None)) -> None:
    """Record a customer follow-up: satisfied closes the complaint, not satisfied reopens it."""

    a = get_app()
    c = record_follow_up(a.sessions, task_id, config=a.config, satisfied=satisfied, note=note,
                         actor=actor_name(actor), at=a.clock.now())
    out.print(f"complaint {c.id} is {c.status}")


@tasks_app.command("remind")
def tasks_remind(task_id: int, at: str = typer.Option(..., "--at", help="when, ISO 8601 with offset; not in the "
                                                                      "past"),
                 note: str = typer.Option("", "--note")) -> None:
    """Set a reminder on a task at a given instant, now or later (delivered in working hours); an instant in the
    past is refused."""

    a = get_app()
    when = parse_instant(at, "--at")
    if abs((when - a.clock.now()).days) > 3660:
        fail("--at: more than ten years away", 2)
    t = add_manual_reminder(a.sessions, task_id, when, note=note, now=a.clock.now())
    out.print(f"reminder {t.key} set for {stamp(t.fire_at)}")
