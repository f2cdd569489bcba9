"""``closeloop complaints ...``: list, show (with clocks and timeline), merge and lifecycle commands."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from closeloop.cli.common import (
    OUT_HELP,
    actor_name,
    clip,
    clocks_table,
    fail,
    field_as,
    get_app,
    out,
    out_file,
    parse_instant,
    shown_line,
    stamp,
    write_out,
)
from closeloop.cli.compensation import compensation_tables
from closeloop.domain.customer import ContactKind
from closeloop.domain.promise import PromiseStatus
from closeloop.domain.search_text import MIN_PREFIX
from closeloop.domain.task import TaskStatus
from closeloop.services.customers.promises import promises_of
from closeloop.services.customers.replies import send_reply
from closeloop.services.engine.clocks import complaint_clocks, promise_consumption, task_clocks
from closeloop.services.reads import exports
from closeloop.services.reads.complaint_queries import ComplaintFilter, list_complaints
from closeloop.services.reads.exports import ExportFormat
from closeloop.services.reads.search import ComplaintSort
from closeloop.services.uow import unit_of_work
from closeloop.services.work import complaints as complaint_svc
from closeloop.services.work import lifecycle
from closeloop.services.work.messages import add_message
from closeloop.services.work.notes import add_note

complaints_app = typer.Typer(help="Complaints: list, search, export, timeline, show, merge, reprioritize, wait, note, "
                                  "reply, resolve, root-cause, close, reopen.", no_args_is_help=True)


@complaints_app.command("list")
def complaints_list(status: str | None = typer.Option(None, help="filter by status"),
                    limit: int = typer.Option(50, min=1, max=10_000), offset: int = typer.Option(0, min=0)) -> None:
    """List complaints (id, source reference, status, severity, flags, category, route, due)."""
    a = get_app()
    # the same read as GET /complaints and the dashboard's list (services/reads/complaint_queries.py)
    rows, total = list_complaints(a.sessions, ComplaintFilter(status=[status] if status else None),
                                  now=a.clock.now(), limit=limit, offset=offset)
    out.print(_complaints_table(rows))
    out.print(shown_line(total, offset, len(rows), ("complaint", "complaints")))


def _complaints_table(rows) -> Table:
    t = Table()
    for col in ("id", "source", "ref", "status", "sev", "flags", "category", "route", "received (UTC)", "due (UTC)"):
        t.add_column(col)
    for c in rows:
        t.add_row(str(c.id), c.source, escape(c.external_ref), c.status, c.severity, ",".join(c.risk_flags),
                  escape(clip(c.category, 40)), escape(c.route_rule or "(triage queue)"), stamp(c.received_at),
                  stamp(c.due_at) if c.due_at else "-")
    return t


@complaints_app.command("search")
def complaints_search(query: str = typer.Argument(..., help="id, external reference, customer ref or words (a word "
                                                           f"of {MIN_PREFIX}+ characters as a prefix, a shorter "
                                                           "one whole)"),
                      status: list[str] | None = typer.Option(None, help="filter by status (repeatable)"),
                      severity: list[str] | None = typer.Option(None, help="P1..P4 (repeatable)"),
                      department: str | None = typer.Option(None, help="has a task in this department"),
                      overdue: bool = typer.Option(False, help="the customer promise is past due"),
                      sort: ComplaintSort = typer.Option(ComplaintSort.RECEIVED_DESC, help="order; '-' descending"),
                      limit: int = typer.Option(50, min=1, max=10_000), offset: int = typer.Option(0, min=0),
                      as_json: bool = typer.Option(False, "--json", help="JSON: {total, items}")) -> None:
    """Search complaints (every word required: words of 3 or more characters as prefixes, shorter ones whole;
    Chinese by characters) with the list's filters."""
    a = get_app()
    if department is not None and department not in a.config.departments:
        fail(f"--department: unknown department {department!r}", 2)
    f = ComplaintFilter(status=status or None, severity=severity or None, department=department, overdue=overdue,
                        q=query)
    rows, total = list_complaints(a.sessions, f, now=a.clock.now(), limit=limit, offset=offset, sort=sort)
    if as_json:
        items = [{"id": c.id, "source": c.source, "external_ref": c.external_ref, "status": c.status,
                  "severity": c.severity, "category": c.category, "received_at": c.received_at.isoformat(),
                  "due_at": c.due_at.isoformat() if c.due_at else None} for c in rows]
        out.print_json(data={"total": total, "items": items})
        return
    out.print(_complaints_table(rows))
    out.print(shown_line(total, offset, len(rows), ("match", "matches")))


def _write(chunks, out_path: Path | None) -> None:
    text = "".join(chunks)
    target = out_file(out_path)
    if target is None:
        sys.stdout.write(text)
    else:
        write_out(target, text, newline="")
        out.print(f"wrote {escape(str(target))}")


@complaints_app.command("export")
def complaints_export(fmt: ExportFormat = typer.Option(ExportFormat.CSV, "--format"),
                      query: str | None = typer.Option(None, "--query", "-q", help="search text"),
                      status: list[str] | None = typer.Option(None, help="filter by status (repeatable)"),
                      severity: list[str] | None = typer.Option(None, help="P1..P4 (repeatable)"),
                      overdue: bool = typer.Option(False, help="the customer promise is past due"),
                      sort: ComplaintSort = typer.Option(ComplaintSort.ID, help="order; '-' descending"),
                      out_path: Path | None = typer.Option(None, "--out", help=OUT_HELP),
                      ) -> None:
    """Export the filtered complaint list as CSV (formula cells neutralised) or JSON."""
    a = get_app()
    f = ComplaintFilter(status=status or None, severity=severity or None, overdue=overdue, q=query)
    rows = exports.complaint_rows(a.sessions, f, now=a.clock.now(), scope=None, sort=sort)
    _write(exports.render(rows, exports.LIST_COLUMNS, fmt), out_path)


@complaints_app.command("timeline")
def complaints_timeline(complaint_id: int, fmt: ExportFormat = typer.Option(ExportFormat.CSV, "--format"),
                        out_path: Path | None = typer.Option(None, "--out", help=OUT_HELP),
                        ) -> None:
    """Export a complaint's full timeline (audit log and messages, merged complaints included)."""
    a = get_app()
    rows = exports.timeline_rows(a.sessions, complaint_id)
    _write(exports.render(rows, exports.TIMELINE_COLUMNS, fmt), out_path)


@complaints_app.command("show")
def complaints_show(complaint_id: int) -> None:
    """One complaint: facts, triage reasons, clocks, tasks and the full timeline (audit log and messages)."""
    a = get_app()
    v = complaint_svc.show(a.sessions, complaint_id)
    c = v.complaint
    out.print(f"[bold]complaint {c.id}[/bold]  {escape(c.source)}:{escape(c.external_ref)}  status "
              f"[bold]{c.status}[/bold]  severity {c.severity}  version {c.version}")
    out.print(escape(f"received {stamp(c.received_at)}  category {c.category!r}  product {c.product!r}  "
                     f"issue {c.issue!r}  channel {c.channel!r}  company {c.company!r}"))
    out.print(f"route: {escape(c.route_rule or '(fallback: triage queue)')}  flags: {', '.join(c.risk_flags) or '-'}")
    for r in c.triage_reasons:
        out.print(f"  - {escape(r)}")
    if c.merged_into_id:
        out.print(f"merged into complaint {c.merged_into_id}")
    if c.likely_duplicate_of_id:
        out.print(f"likely duplicate of complaint {c.likely_duplicate_of_id} "
                  f"(merge with: closeloop complaints merge {c.id} --into {c.likely_duplicate_of_id})")
    if v.merged_from:
        out.print(f"absorbed duplicates: {', '.join(map(str, v.merged_from))}")
    out.print(escape(f"root cause: {c.root_cause or '(not yet recorded)'}"
                     + (f" - {c.root_cause_detail}" if c.root_cause_detail else "")
                     + "  customer verdict: " + {None: "-", True: "satisfied", False: "not satisfied"}[
                         c.customer_satisfied]))
    now = a.clock.now()
    with unit_of_work(a.sessions) as s:
        complaint = s.get_one(type(c), c.id)
        views = complaint_clocks(s, complaint, a.config, now)
        for task in v.tasks:
            if task.status not in (TaskStatus.TRANSFERRED, TaskStatus.CANCELLED):
                views += task_clocks(s, s.get_one(type(task), task.id), a.config, now)
        shares = promise_consumption(s, complaint, a.config, now)
    out.print(clocks_table(views))
    compensation_tables(a, c.id)
    t = Table(title="who holds the customer promise (business hours on the customer calendar)")
    for col in ("department", "tasks", "held", "share of elapsed promise"):
        t.add_column(col)
    for sh in shares:
        t.add_row(sh.department, str(sh.tasks), f"{sh.business_time.total_seconds() / 3600:.2f} h",
                  "-" if sh.share_of_promise is None else f"{sh.share_of_promise:.0%}")
    out.print(t)
    promises_table(a, c.id)
    t = Table(title="tasks")
    for col in ("id", "department", "kind", "status", "assignee", "title"):
        t.add_column(col)
    for task in v.tasks:
        t.add_row(str(task.id), task.department, task.kind, task.status, escape(task.assignee or ""),
                  escape(clip(task.title, 60)))
    out.print(t)
    t = Table(title="timeline (UTC)")
    for col in ("at", "complaint", "what", "by"):
        t.add_column(col)
    for e in v.timeline:
        t.add_row(stamp(e.at), str(e.complaint_id), escape(f"[{e.kind}] {e.text}"), escape(e.actor))
    out.print(t)


@complaints_app.command("merge")
def complaints_merge(duplicate: int = typer.Argument(..., help="the duplicate complaint id"),
                     into: int = typer.Option(..., "--into", help="the complaint that survives"),
                     reason: str = typer.Option(..., "--reason", help="why they are the same (required)"),
                     actor: str | None = typer.Option(None, help="who merges (default: cli:<user>)")) -> None:
    """Merge DUPLICATE into another complaint: it becomes terminal, its tasks and messages move over."""
    a = get_app()
    survivor = complaint_svc.merge(a.sessions, duplicate, into, config=a.config, actor=actor_name(actor),
                                   at=a.clock.now(), reason=reason)
    out.print(f"complaint {duplicate} merged into {survivor.id}")


def _run(fn, complaint_id: int, **kw) -> None:
    a = get_app()
    c = fn(a.sessions, complaint_id, config=a.config, at=a.clock.now(), **kw)
    out.print(f"complaint {c.id} is {c.status}, severity {c.severity}"
              + (f", due {stamp(c.due_at)}" if c.due_at else ""))


@complaints_app.command("reprioritize")
def complaints_reprioritize(complaint_id: int, severity: str = typer.Argument(..., help="P1..P4"),
                            reason: str = typer.Option(..., "--reason"),
                            actor: str | None = typer.Option(None)) -> None:
    """Change the severity; all clocks are recomputed from creation with the new targets."""
    _run(lifecycle.reprioritize, complaint_id, severity=severity, reason=reason, actor=actor_name(actor))


@complaints_app.command("wait")
def complaints_wait(complaint_id: int, reason: str = typer.Option(..., "--reason", help="what the customer owes us"),
                    max_business_hours: float | None = typer.Option(None, "--max-hours",
                                                                       help="longest wait, in business hours"),
                    until: str | None = typer.Option(None, "--until", help="latest end of the wait, ISO 8601 with "
                                                                           "offset (with --max-hours: the earlier)"),
                    going_on: list[int] = typer.Option([], "--task-goes-on",
                                                       help="a task that does not wait on the answer (repeatable)"),
                    actor: str | None = typer.Option(None)) -> None:
    """Wait on the customer: the resolution clock and the department tasks waiting on the answer pause
    until the customer writes again; past the wait's end (--max-hours or --until; given both, the earlier) the
    sweep closes or escalates."""
    _run(lifecycle.await_customer, complaint_id, reason=reason, max_business_hours=max_business_hours,
         until=parse_instant(until, "--until"), continuing=going_on, actor=actor_name(actor))


@complaints_app.command("note")
def complaints_note(complaint_id: int, text: str = typer.Option(..., "--text", help="@handle notifies that user"),
                    actor: str | None = typer.Option(None)) -> None:
    """An internal note (never sent to the customer); each @handle in it notifies that user once."""

    a = get_app()
    with field_as(body="text"):
        n = add_note(a.sessions, a.config, complaint_id, text, author=actor_name(actor), at=a.clock.now(),
                     channel="cli")
    out.print(f"note {n.message_id} on complaint {n.complaint_id}"
              + (f"; notified {', '.join('@' + h for h in n.mentions)}" if n.mentions else ""))


def promises_table(a, complaint_id: int) -> None:
    """The complaint's promises to the customer (issue 13): who, what, by when, kept or broken."""

    promises = promises_of(a.sessions, complaint_id)
    if not promises:
        return
    t = Table(title="promises to the customer")
    for col in ("id", "department", "person", "what", "due (UTC)", "status"):
        t.add_column(col)
    for p in promises:
        t.add_row(str(p.id), p.department, escape(p.person or ""), p.kind, stamp(p.due_at),
                  p.status + (" (late)" if p.status == PromiseStatus.KEPT and p.broken_at else ""))
    out.print(t)


@complaints_app.command("reply")
def complaints_reply(complaint_id: int, text: str = typer.Option(..., "--text"),
                     channel: ContactKind | None = typer.Option(
                         None, "--channel", help="inbound: where it came from (default phone); with --outbound: "
                                                 "record a contact made there (e.g. phone) instead of sending"),
                     outbound: bool = typer.Option(False, "--outbound", help="our message to the customer"),
                     key: str | None = typer.Option(None, "--key", help="names this reply: the same key and text "
                                                                       "again sends nothing; another text: refused"),
                     actor: str | None = typer.Option(None)) -> None:
    """Record a customer message (any channel resumes a wait); with --outbound send ours to the customer
    through the outbox (their language, their consented channel), or with --outbound --channel phone
    record a call made."""
    a = get_app()
    if outbound and channel is None:
        with field_as(idempotency_key="key"):
            r = send_reply(a.sessions, a.config, complaint_id, text, actor=actor_name(actor), at=a.clock.now(),
                           idempotency_key=key)
        out.print(f"reply to the customer of complaint {r.complaint_id} "
                  + (f"queued (outbox {r.outbox_id})" if r.created else f"was already sent (outbox {r.outbox_id})"))
        return
    with field_as(body="text"):
        m = add_message(a.sessions, complaint_id, config=a.config, direction="outbound" if outbound else "inbound",
                        body=text, author=actor_name(actor) if outbound else "customer", at=a.clock.now(),
                        channel=(channel or ContactKind.PHONE).value)
    out.print(f"message {m.id} recorded on complaint {m.complaint_id}")


@complaints_app.command("resolve")
def complaints_resolve(complaint_id: int, reason: str = typer.Option(..., "--reason"),
                       root_cause: str | None = typer.Option(None, "--root-cause",
                                                                help="taxonomy code[.sub]; required unless recorded"),
                       root_cause_detail: str | None = typer.Option(None, "--note", "--root-cause-detail",
                                                                       help="root-cause note (undetermined)"),
                       actor: str | None = typer.Option(None)) -> None:
    """Resolve by hand (first-contact resolution); open tasks are cancelled. Needs a root cause."""
    _run(lifecycle.resolve, complaint_id, reason=reason, root_cause=root_cause, root_cause_detail=root_cause_detail,
         actor=actor_name(actor))


@complaints_app.command("root-cause")
def complaints_root_cause(complaint_id: int, code: str = typer.Argument(..., help="taxonomy code[.sub]"),
                          root_cause_detail: str | None = typer.Option(None, "--note", "--root-cause-detail",
                                                                       help="required with 'undetermined'"),
                          actor: str | None = typer.Option(None)) -> None:
    """Record the root cause; a waiting root-cause task is completed (the complaint may resolve)."""
    _run(lifecycle.set_root_cause, complaint_id, root_cause=code, note=root_cause_detail, actor=actor_name(actor))


@complaints_app.command("close")
def complaints_close(complaint_id: int, reason: str = typer.Option("", "--reason"),
                     actor: str | None = typer.Option(None)) -> None:
    """Close a resolved complaint."""
    _run(lifecycle.close, complaint_id, reason=reason, actor=actor_name(actor))


@complaints_app.command("reopen")
def complaints_reopen(complaint_id: int, reason: str = typer.Option(..., "--reason"),
                      department: str | None = typer.Option(None, "--department"),
                      actor: str | None = typer.Option(None)) -> None:
    """Reopen a resolved or closed complaint with a new task (time spent resolved counts as paused)."""
    _run(lifecycle.reopen, complaint_id, reason=reason, department=department, actor=actor_name(actor))
