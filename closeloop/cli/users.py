"""``closeloop users add|list``: the people work is assigned to and who are mentioned (issue 14)."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from closeloop.cli.common import actor_name, field_as, get_app, out
from closeloop.services.people import users as user_svc

users_app = typer.Typer(help="Users: add, list (tokens belong to them: `tokens create --user`).",
                        no_args_is_help=True)


@users_app.command("add")
def users_add(handle: str = typer.Argument(..., help="login / @mention handle: a-z 0-9 . _ -"),
              name: str = typer.Option(..., "--name", help="full name"),
              role: str = typer.Option("member", "--role", help="member, lead, manager or admin"),
              department: list[str] = typer.Option([], "--department", "-d",
                                                   help="a department they work for (repeat; the first is home)"),
              language: str = typer.Option("en", "--language", help="en or zh (notices and dashboard)"),
              calendar: str | None = typer.Option(None, "--calendar",
                                                  help="a configured calendar: their time zone and working hours "
                                                       "(default: the home department's)"),
              notify: str = typer.Option("", "--notify", help="their own target: an e-mail address, a webhook or "
                                                              "Apprise URL (default: the department's channel)"),
              actor: str | None = typer.Option(None)) -> None:
    """Add a user."""
    a = get_app()
    with field_as(departments="department"):
        u = user_svc.create_user(a.sessions, a.config, handle=handle, name=name, departments=department, role=role,
                                 language=language, calendar=calendar, notify=notify, actor=actor_name(actor),
                                 at=a.clock.now())
    out.print(f"user {u.id} @{escape(u.handle)} ({escape(u.name)}, {u.role}"
              f"{'@' + ','.join(u.departments) if u.departments else ''})")


@users_app.command("list")
def users_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every user: id, handle, name, role, departments, language, calendar, notification target."""
    rows = user_svc.list_users(get_app().sessions)
    if as_json:
        print(json.dumps([{"id": u.id, "handle": u.handle, "name": u.name, "role": u.role,
                           "departments": u.departments, "language": u.language, "calendar": u.calendar,
                           "notify": u.notify} for u in rows], indent=2, ensure_ascii=False))
        return
    t = Table()
    for col in ("id", "handle", "name", "role", "departments", "lang", "calendar", "notify"):
        t.add_column(col)
    for u in rows:
        t.add_row(str(u.id), escape(u.handle), escape(u.name), u.role, escape(", ".join(u.departments)) or "-",
                  u.language, escape(u.calendar or "-"), escape(u.notify or "(department)"))
    out.print(t)
