"""``closeloop mail poll``: take in the IMAP mailbox's unseen messages once (the ``poll-mailbox`` flow).

Registered in :mod:`closeloop.cli`; the logic is in :mod:`closeloop.services.inbound`.
"""

from __future__ import annotations

import json

import typer

from closeloop.cli_common import fail, get_app, out

mail_app = typer.Typer(help="Inbound e-mail: poll the mailbox (CLOSELOOP_IMAP_URL).", no_args_is_help=True)


@mail_app.command("poll")
def poll_cmd(max_messages: int | None = typer.Option(None, "--max", min=1, help="at most this many messages"),
             as_json: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """Fetch unseen messages in batches: new complaints, threaded replies, ignored auto-replies and bounces,
    quarantined unreadable mail. Marks them seen after the commit; running it twice takes nothing in twice."""
    from flows.mail import MailboxNotConfigured, poll_mailbox_flow
    from integrations.imap import ImapError

    get_app()  # checks the schema
    try:
        counts = poll_mailbox_flow.fn(max_messages=max_messages)
    except MailboxNotConfigured as exc:
        fail(exc, 2)
    except ValueError as exc:  # a malformed CLOSELOOP_IMAP_URL
        fail(exc, 2)
    except (ImapError, OSError) as exc:
        fail(f"mailbox: {type(exc).__name__}: {exc}", 1)
    if as_json:
        print(json.dumps(counts, indent=2, sort_keys=True))
        return
    out.print(", ".join(f"{k} {v}" for k, v in counts.items()) or "no unseen messages")
