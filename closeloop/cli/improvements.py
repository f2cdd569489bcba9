"""``closeloop improvements ...``: improvement records (CAPA): list, show, create, link, fire, add-action."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from closeloop.cli.common import actor_name, clip, fail, field_as, get_app, out, stamp
from closeloop.config.improvement import MATCH_FIELDS
from closeloop.domain.improvement import ImprovementTrigger
from closeloop.services.capa import improvement as svc

improvements_app = typer.Typer(help="Improvement records (CAPA): root cause, linked complaints, corrective and "
                                    "preventive actions, effectiveness checks.", no_args_is_help=True)


@improvements_app.command("list")
def improvements_list(status: str | None = typer.Option(None, "--status"),
                      limit: int = typer.Option(100, min=1, max=10_000)) -> None:
    """Records, newest first, with their linked-complaint counts."""
    a = get_app()
    rows = svc.list_records(a.sessions, status=status, limit=limit)
    t = Table()
    for col in ("id", "status", "root cause", "owner", "complaints", "match", "title"):
        t.add_column(col)
    for r, n in rows:
        t.add_row(str(r.id), r.status, r.root_cause or "-", r.owner_department, str(n), escape(clip(r.match_key, 40)),
                  escape(clip(r.title, 60)))
    out.print(t)


@improvements_app.command("show")
def improvements_show(improvement_id: int) -> None:
    """One record: problem, root cause, match, actions, effectiveness checks, linked complaints, history."""
    a = get_app()
    v = svc.show(a.sessions, improvement_id)
    r = v.record
    out.print(f"[bold]improvement {r.id}[/bold]  status [bold]{r.status}[/bold]  owner {r.owner_department}  "
              f"version {r.version}")
    out.print(escape(f"{r.title}\n{r.problem}\nroot cause: {r.root_cause or '(not yet)'}"
                     + (f" - {r.root_cause_detail}" if r.root_cause_detail else "") + f"\nmatch: {r.match_key}"))
    if r.implemented_at:
        out.print(f"implemented {stamp(r.implemented_at)}; check due "
                  f"{stamp(r.check_due_at) if r.check_due_at else '-'}")
    t = Table(title="actions (department tasks)")
    for col in ("task", "kind", "department", "status", "assignee", "due (UTC)", "title"):
        t.add_column(col)
    for task in v.actions:
        t.add_row(str(task.id), task.kind, task.department, task.status, escape(task.assignee or "-"),
                  stamp(task.due_at) if task.due_at else "-", escape(clip(task.title, 50)))
    out.print(t)
    t = Table(title="effectiveness checks (internal; complaints per day in equal windows)")
    for col in ("at", "window days", "before", "after", "reduction", "decision"):
        t.add_column(col)
    for c in v.checks:
        t.add_row(stamp(c.at), f"{c.window_days:g}", str(c.before_count), str(c.after_count),
                  "-" if c.reduction is None else f"{c.reduction:.0%}", c.decision)
    out.print(t)
    t = Table(title="linked complaints (the customer's own verdict is separate from the check)")
    for col in ("complaint", "status", "root cause", "customer verdict", "linked by", "source", "at"):
        t.add_column(col)
    verdict = {None: "-", True: "satisfied", False: "not satisfied"}
    for lk, linked in v.links:
        t.add_row(str(linked.id), linked.status, linked.root_cause or "-", verdict[linked.customer_satisfied],
                  escape(lk.linked_by),
                  lk.source, stamp(lk.linked_at))
    out.print(t)
    t = Table(title="history")
    for col in ("at", "from", "to", "trigger", "by", "reason"):
        t.add_column(col)
    for h in v.history:
        t.add_row(stamp(h.at), h.from_state or "-", h.to_state, h.trigger, escape(h.actor), escape(h.reason or ""))
    out.print(t)


@improvements_app.command("create")
def improvements_create(title: str = typer.Option(..., "--title"),
                        owner: str = typer.Option(..., "--owner", help="owner department"),
                        complaint: list[int] = typer.Option([], "--complaint", help="complaint to link (repeat)"),
                        problem: str = typer.Option("", "--problem"),
                        root_cause: str | None = typer.Option(None, "--root-cause"),
                        note: str | None = typer.Option(None, "--note"),
                        match: list[str] = typer.Option([], "--match", help="fact=value (repeat), a fact one of "
                                                        f"{', '.join(MATCH_FIELDS)}; default: the first "
                                                        "complaint's [improvement] match_on"),
                        actor: str | None = typer.Option(None)) -> None:
    """Propose a record (status proposed)."""
    a = get_app()
    facts = {}
    for m in match:
        k, sep, v = m.partition("=")
        if not sep:
            fail(f"--match: {m!r} is not fact=value", 2)
        facts[k.strip()] = v.strip()
    with field_as(owner_department="owner", root_cause_detail="note"):
        r = svc.create(a.sessions, config=a.config, title=title, owner_department=owner, problem=problem,
                       root_cause=root_cause, root_cause_detail=note, match=facts or None, complaint_ids=complaint,
                       actor=actor_name(actor), at=a.clock.now())
    out.print(f"improvement {r.id} proposed (match {escape(r.match_key)})")


@improvements_app.command("link")
def improvements_link(improvement_id: int, complaint: list[int] = typer.Argument(..., help="complaint ids"),
                      actor: str | None = typer.Option(None)) -> None:
    """Link complaints to a record by hand."""
    a = get_app()
    n = svc.link(a.sessions, improvement_id, complaint, actor=actor_name(actor), at=a.clock.now())
    out.print(f"{n} complaint(s) newly linked to improvement {improvement_id}")


@improvements_app.command("fire")
def improvements_fire(improvement_id: int,
                      trigger: str = typer.Argument(..., help=", ".join(t.value for t in ImprovementTrigger)),
                      reason: str | None = typer.Option(None, "--reason"),
                      root_cause: str | None = typer.Option(None, "--root-cause"),
                      note: str | None = typer.Option(None, "--note"),
                      version: int | None = typer.Option(None, "--version", min=1,
                                                          help="expected version (locking; optional: without it the "
                                                               "write is not checked)"),
                      actor: str | None = typer.Option(None)) -> None:
    """Apply a lifecycle trigger (approve needs a root cause; implement schedules the effectiveness check)."""
    a = get_app()
    with field_as(root_cause_detail="note"):
        r = svc.fire(a.sessions, improvement_id, trigger, config=a.config, reason=reason, root_cause=root_cause,
                     root_cause_detail=note, expected_version=version, actor=actor_name(actor), at=a.clock.now())
    out.print(f"improvement {r.id} is {r.status}"
              + (f"; effectiveness check due {stamp(r.check_due_at)}" if r.check_due_at else ""))


@improvements_app.command("add-action")
def improvements_add_action(improvement_id: int,
                            kind: str = typer.Option(..., "--kind", help="corrective or preventive"),
                            department: str = typer.Option(..., "--department"),
                            title: str = typer.Option(..., "--title"),
                            business_days: int | None = typer.Option(None, "--business-days",
                                                                     help="due after N working days"),
                            assignee: str | None = typer.Option(None, "--assignee"),
                            actor: str | None = typer.Option(None)) -> None:
    """Add a corrective or preventive action: a department task with a due date, reminders, escalation."""
    a = get_app()
    t = svc.add_action(a.sessions, improvement_id, config=a.config, kind=kind, department=department,
                       title=title, business_days=business_days, assignee=assignee, actor=actor_name(actor),
                       at=a.clock.now())
    out.print(f"task {t.id} ({kind}, {department}) due {stamp(t.due_at) if t.due_at else '-'}")
