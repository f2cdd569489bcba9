"""``closeloop outbox``: the messages leaving the process, and ``outbox retry`` for dead letters.

Registered in :mod:`closeloop.cli`; the logic is in :mod:`closeloop.services.engine.delivery`.
"""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from closeloop.cli.common import clip, fail, get_app, out, stamp
from closeloop.domain.outbox import OutboxStatus
from closeloop.services.engine.delivery import dead_letters, requeue
from closeloop.services.reads.outbox import list_outbox, outbox_statuses

outbox_app = typer.Typer(help="Messages leaving the process (webhook, Apprise, e-mail, capture): list, re-send dead "
                                "letters.",
                         invoke_without_command=True)
STATUSES = ", ".join(s.value for s in OutboxStatus)


@outbox_app.callback()
def outbox_list(ctx: typer.Context,
                status: str | None = typer.Option(None, "--status", help=STATUSES),
                limit: int = typer.Option(50, min=1, max=10_000),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Status, attempts, next attempt and the last error of the newest messages (dead letters stay visible
    with their reason until `closeloop outbox retry` re-sends them)."""
    if ctx.invoked_subcommand is not None:
        return
    if status and status not in set(OutboxStatus):
        fail(f"--status: unknown status {status!r} (one of {STATUSES})", 2)
    a = get_app()
    rows, _ = list_outbox(a.sessions, status=OutboxStatus(status) if status else None, limit=limit)
    if as_json:
        print(json.dumps([_row_json(o) for o in rows], indent=2, ensure_ascii=False))
        return
    t = Table()
    for col in ("id", "status", "attempts", "channel", "recipient", "subject", "next attempt (UTC)", "last error"):
        t.add_column(col)
    for o in rows:
        state = f"{o.status} ({o.dead_reason})" if o.dead_reason else o.status
        t.add_row(str(o.id), state, str(o.attempts), o.channel, escape(o.recipient), escape(clip(o.subject, 50)),
                  stamp(o.next_attempt_at), escape(clip(o.last_error or "", 80)))
    out.print(t)
    dead = dead_letters(a.sessions)
    if dead:
        out.print(f"[red]{sum(dead.values())} dead letters[/red] ({', '.join(f'{k} {v}' for k, v in dead.items())}):"
                  " re-send with `closeloop outbox retry ID...` or `--all-dead`")


def _row_json(o) -> dict:
    return {"id": o.id, "idempotency_key": o.idempotency_key, "status": o.status, "dead_reason": o.dead_reason,
            "attempts": o.attempts, "requeues": o.requeues, "channel": o.channel, "recipient": o.recipient,
            "subject": o.subject, "next_attempt_at": o.next_attempt_at.isoformat(),
            "dead_at": o.dead_at.isoformat() if o.dead_at else None, "last_error": o.last_error}


@outbox_app.command("retry")
def outbox_retry(ids: list[int] | None = typer.Argument(None, help="outbox ids of dead letters"),
                 all_dead: bool = typer.Option(False, "--all-dead", help="every dead letter"),
                 actor: str = typer.Option("cli", "--actor", help="who re-sends (audit log)")) -> None:
    """Re-send dead letters with their own idempotency key (a deduping receiver still shows each once).
    They are due at once with a fresh attempt budget; `closeloop deliver` (or the flow) sends them.

    An id that names no outbox message re-queues nothing and exits 1 (a typo); a message that is not a dead
    letter is left alone, named with its status, and the exit code is 1 after the others are re-queued."""
    if bool(ids) == all_dead:
        fail("give outbox ids or --all-dead (not both)", 2)
    a = get_app()
    known = outbox_statuses(a.sessions, ids or [])
    if unknown := sorted(set(ids or []) - set(known)):
        fail(f"no such outbox message: {', '.join(map(str, unknown))} (nothing re-queued)", 1)
    done = requeue(a.sessions, now=a.clock.now(), actor=f"cli:{actor}", ids=None if all_dead else ids)
    missing = sorted(set(ids or []) - set(done))
    out.print(f"re-queued {len(done)} dead letters" + (f": {', '.join(map(str, done))}" if done else ""))
    if missing:
        fail("not dead letters (left alone): " + ", ".join(f"{i} ({known[i]})" for i in missing), 1)
