"""``closeloop customers``: erase a customer's personal data on request (issue 13)."""

from __future__ import annotations

from typing import Optional

import typer

from closeloop.cli_common import actor_name, fail, get_app, out
from closeloop.domain.errors import DomainError
from closeloop.services.customers.profiles import forget

customers_app = typer.Typer(help="Customers: erase personal data on request.", no_args_is_help=True)


@customers_app.command("forget")
def customers_forget(ref: str, actor: Optional[str] = typer.Option(None),
                     yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation")) -> None:
    """Erase customer REF's name, language, time zone, contact points and message bodies (GDPR/PIPL
    erasure); complaint counts, clocks and the audit log stay. Audited; irreversible."""
    if not yes and not typer.confirm(f"Erase the personal data of customer {ref}? This cannot be undone"):
        raise typer.Exit(1)
    a = get_app()
    try:
        e = forget(a.sessions, ref, actor=actor_name(actor), at=a.clock.now())
    except DomainError as exc:
        fail(exc)
    out.print(f"customer {e.customer_id}: erased {e.contacts} contact point(s), {e.messages} message bod(ies), "
              f"{e.outbox} outgoing message(s) on {e.complaints} complaint(s)")
