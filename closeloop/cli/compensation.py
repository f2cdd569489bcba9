"""``closeloop compensation ...``: the compensation ledger (add, approve, reject, list)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from closeloop.cli.common import actor_name, fail, get_app, out, stamp
from closeloop.domain.errors import InvalidInput
from closeloop.services.people.tokens import TokenInfo, verify_token
from closeloop.services.uow import unit_of_work
from closeloop.services.work import compensation as svc

compensation_app = typer.Typer(help="Compensation per complaint, within caps per category and severity.",
                               no_args_is_help=True)

_COLUMNS = ("id", "complaint", "kind", "amount", "cap", "status", "requested by", "approver", "at (UTC)")


def _table(rows, title: str) -> Table:
    t = Table(title=title)
    for col in _COLUMNS:
        t.add_column(col)
    for e in rows:
        t.add_row(str(e.id), str(e.complaint_id), e.kind, f"{e.amount} {e.currency}",
                  "-" if e.cap is None else str(e.cap), e.status, escape(e.requested_by), escape(e.approver or "-"),
                  stamp(e.created_at))
    return t


def compensation_tables(a, complaint_id: int) -> None:
    """Print this complaint's compensation and the customer's earlier compensation (for triage)."""
    with unit_of_work(a.sessions) as s:
        own = svc.for_complaint(s, complaint_id)
        earlier = svc.customer_history(s, complaint_id)
    if own:
        out.print(_table(own, "compensation on this complaint"))
    if earlier:
        out.print(_table(earlier, "the customer's earlier compensation (compensate the same case the same way)"))


_ADD_TOKEN_HELP = ("the requester's API token (any role), so that someone else approves an entry above the cap; "
                   "needed above the cap; default: env CLOSELOOP_TOKEN")


@compensation_app.command("add")
def compensation_add(complaint_id: int, kind: str = typer.Option(..., "--kind"),
                     amount: str = typer.Option(..., "--amount", help="e.g. 25.00"),
                     currency: str | None = typer.Option(None, "--currency", help="default: [compensation]"),
                     note: str = typer.Option("", "--note"), actor: str | None = typer.Option(None),
                     token: str | None = typer.Option(None, envvar="CLOSELOOP_TOKEN", help=_ADD_TOKEN_HELP,
                                                      show_default=False)) -> None:
    """Record compensation: approved within the cap, otherwise pending a manager's approval (then as the
    holder of --token: the requester is that token's person, whom the approver must not be)."""
    try:
        svc.parse_amount(amount)  # before anything is read: the option named, as the other options' errors are
    except InvalidInput as exc:
        fail(f"--amount: {exc.problem}", 2)
    a = get_app()
    requester = None
    if token:
        if actor:
            fail("--actor: not with --token (the token names the requester)", 2)
        info = _holder(a, token)
        actor, requester = _cli_actor(info), svc.person_key(info.id, info.user_id)
    e = svc.add(a.sessions, complaint_id, config=a.config, kind=kind, amount=amount, currency=currency,
                note=note, actor=actor_name(actor), at=a.clock.now(), requester=requester)
    out.print(f"compensation {e.id}: {e.amount} {e.currency} ({e.kind}) is {e.status}"
              + (f" (cap {e.cap})" if e.cap is not None else " (no cap configured)"))


_TOKEN_HELP = "the approver's API token (role manager or admin); default: env CLOSELOOP_TOKEN"


def _holder(a, token: str) -> TokenInfo:
    info = verify_token(a.sessions, token.strip(), at=a.clock.now())
    if info is None:
        fail("--token: unknown or revoked API token (--token or CLOSELOOP_TOKEN)", 2)
    return info


def _cli_actor(info: TokenInfo) -> str:
    where = f"@{info.department}" if info.department else ""
    return f"cli:{info.name} ({info.role}{where})"


def _decide(entry_id: int, approve: bool, note: str, token: str | None) -> None:
    """Decide as the holder of ``token``: the role and identity checked are the token's (no --actor to claim one)."""
    a = get_app()
    info = verify_token(a.sessions, token.strip(), at=a.clock.now()) if token else None
    if info is None:
        fail("--token: approving or rejecting needs the approver's valid API token (--token or CLOSELOOP_TOKEN; "
             f"roles {', '.join(svc.APPROVER_ROLES)})", 2)
    e = svc.decide(a.sessions, entry_id, approve=approve, note=note, actor=_cli_actor(info), role=info.role,
                   by=svc.person_key(info.id, info.user_id), at=a.clock.now())
    out.print(f"compensation {e.id} is {e.status} by {escape(e.approver or '')}")


@compensation_app.command("approve")
def compensation_approve(entry_id: int, note: str = typer.Option("", "--note"),
                         token: str | None = typer.Option(None, envvar="CLOSELOOP_TOKEN", help=_TOKEN_HELP,
                                                             show_default=False)) -> None:
    """Approve a pending entry (not your own) as the token's holder."""
    _decide(entry_id, True, note, token)


@compensation_app.command("reject")
def compensation_reject(entry_id: int,
                        note: str = typer.Option(..., "--note", "--reason", help="why it is rejected (required)"),
                        token: str | None = typer.Option(None, envvar="CLOSELOOP_TOKEN", help=_TOKEN_HELP,
                                                            show_default=False)) -> None:
    """Reject a pending entry (not your own) as the token's holder, saying why (--note, or --reason)."""
    if not note.strip():
        fail(InvalidInput("--note", "a rejection needs a reason (not blank)"), 2)
    _decide(entry_id, False, note, token)


@compensation_app.command("list")
def compensation_list(status: str | None = typer.Option(None, "--status"),
                      complaint: int | None = typer.Option(None, "--complaint"),
                      limit: int = typer.Option(100, min=1, max=10_000)) -> None:
    """Ledger entries, newest first."""
    a = get_app()
    rows = svc.list_entries(a.sessions, status=status, complaint_id=complaint, limit=limit)
    out.print(_table(rows, "compensation"))
