"""``closeloop customers`` (erase a customer's personal data) and ``closeloop promises`` (issue 13)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from closeloop.cli.common import actor_name, get_app, out, parse_instant, stamp
from closeloop.domain.customer import ContactKind
from closeloop.services.customers.profiles import forget
from closeloop.services.customers.promises import keep_promise, make_promise, promises_of

customers_app = typer.Typer(help="Customers: erase personal data on request.", no_args_is_help=True)


@customers_app.command("forget")
def customers_forget(ref: str, actor: str | None = typer.Option(None),
                     yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation")) -> None:
    """Erase customer REF's name, language, time zone, contact points, message bodies, the Message-IDs of their
    mails, quarantined mail and attachments (GDPR/PIPL erasure); complaint counts, clocks and the audit log
    stay. Audited; irreversible."""
    if not yes and not typer.confirm(f"Erase the personal data of customer {ref}? This cannot be undone"):
        raise typer.Exit(1)
    a = get_app()
    e = forget(a.sessions, ref, actor=actor_name(actor), at=a.clock.now(),
               attachment_dir=Path(a.settings.attachment_dir))
    out.print(f"customer {e.customer_id}: erased {e.contacts} contact point(s), {e.messages} message bod(ies), "
              f"{e.outbox} outgoing message(s) on {e.complaints} complaint(s), {e.quarantined} quarantined mail(s), "
              f"{e.attachments} attachment(s) ({e.files} stored file(s) removed), {e.mail_ids} mail Message-ID(s)")


promises_app = typer.Typer(help="Promises to customers: make, keep (with evidence), list.", no_args_is_help=True)


@promises_app.command("make")
def promises_make(complaint_id: int, department: str = typer.Option(..., "--department", "-d"),
                  kind: str = typer.Option(..., "--kind", help="call_back, send_document, refund or other"),
                  due: str | None = typer.Option(None, "--due", help="ISO 8601 instant with offset"),
                  business_hours: float | None = typer.Option(None, "--business-hours",
                                                                 help="from now, on the department's calendar"),
                  person: str | None = typer.Option(None, "--person", help="who in the department"),
                  text: str = typer.Option("", "--text", help="what exactly was promised"),
                  actor: str | None = typer.Option(None)) -> None:
    """Record a promise to the customer ("the XX department will call you back by Friday")."""
    a = get_app()
    p = make_promise(a.sessions, a.config, complaint_id, department=department, kind=kind,
                     due=parse_instant(due, "--due"), business_hours=business_hours, description=text,
                     person=person, actor=actor_name(actor), at=a.clock.now())
    out.print(f"promise {p.id} on complaint {p.complaint_id}: {p.department} {p.kind} by {stamp(p.due_at)}")


@promises_app.command("keep")
def promises_keep(promise_id: int, message: int | None = typer.Option(None, "--message", help="the contact"),
                  task: int | None = typer.Option(None, "--task", help="the finished action"),
                  contact: str | None = typer.Option(None, "--contact", help="record a contact made now"),
                  channel: ContactKind = typer.Option(ContactKind.PHONE, "--channel",
                                                      help="where the --contact was made"),
                  actor: str | None = typer.Option(None)) -> None:
    """Mark a promise kept, with its evidence: a recorded contact (--message, or --contact to record one
    now) or a finished task of the promising department (--task)."""
    a = get_app()
    p = keep_promise(a.sessions, promise_id, actor=actor_name(actor), at=a.clock.now(), message_id=message,
                     task_id=task, contact=contact, channel=channel.value)
    out.print(f"promise {p.id} kept" + (" (late)" if p.broken_at else ""))


@promises_app.command("list")
def promises_list(complaint_id: int) -> None:
    """The promises made on a complaint."""
    a = get_app()
    table = Table("id", "department", "person", "what", "due (UTC)", "status", "made by")
    for p in promises_of(a.sessions, complaint_id):
        table.add_row(str(p.id), p.department, escape(p.person or ""), p.kind, stamp(p.due_at), p.status,
                      escape(p.made_by))
    out.print(table)
