"""``closeloop mail poll``: take in the IMAP mailbox's unseen messages once (the ``poll-mailbox`` flow);
``closeloop mail reprocess``: run quarantined messages through the intake again after a fix.

Registered in :mod:`closeloop.cli`; the logic is in :mod:`closeloop.services.inbound`.
"""

from __future__ import annotations

import json

import typer

from closeloop.cli.common import fail, get_app, out
from closeloop.domain.inbound_mail import MailOutcome
from closeloop.services.inbound import InboundOptions
from closeloop.services.inbound.process import DUPLICATE
from closeloop.services.inbound.reprocess import quarantine_list, reprocess

mail_app = typer.Typer(help="Inbound e-mail: poll the mailbox (CLOSELOOP_IMAP_URL), list and reprocess the quarantine.",
                       no_args_is_help=True)


@mail_app.command("poll")
def poll_cmd(max_messages: int | None = typer.Option(None, "--max", min=1, help="at most this many messages"),
             as_json: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """Fetch unseen messages in batches: new complaints, threaded replies, ignored auto-replies and bounces,
    quarantined unreadable mail. Marks them seen after the commit; running it twice takes nothing in twice."""
    # deferred: Prefect (flows) costs about 1-2 s to import: only `mail poll` pays it
    from flows.mail import MailboxNotConfigured, poll_once
    from integrations.imap import ImapError

    get_app()  # checks the schema
    try:
        counts = poll_once(max_messages)
    except MailboxNotConfigured as exc:
        fail(exc, 2)
    except ValueError as exc:  # a malformed CLOSELOOP_IMAP_URL
        fail(exc, 2)
    except (ImapError, OSError) as exc:
        fail(f"mailbox: {type(exc).__name__}: {exc}", 1)
    _print(_with_zeros(counts), as_json, "no unseen messages")


def _with_zeros(counts: dict[str, int]) -> dict[str, int]:
    """``counts`` with every outcome (complaint, reply, ignored, quarantined) and ``duplicate`` shown, 0 if none:
    a script reading ``--json`` finds the same keys when nothing was read (``ignored:<reason>`` only when seen)."""
    return {**{o.value: 0 for o in MailOutcome}, DUPLICATE: 0, **counts}


def _print(counts: dict[str, int], as_json: bool, empty: str) -> None:
    if as_json:
        print(json.dumps(counts, indent=2, sort_keys=True))
        return
    out.print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) if any(counts.values()) else empty)


@mail_app.command("reprocess")
def reprocess_cmd(ids: list[int] = typer.Option([], "--id", min=1, help="an inbound mail id (repeatable)"),
                  every: bool = typer.Option(False, "--all", help="every quarantined message"),
                  as_json: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """Run quarantined messages through the intake again (after a fix): each becomes a complaint, a reply or
    ignored automatic mail, or stays quarantined with the reason of this reading. Running it twice takes
    nothing in twice. Ids are those of `closeloop mail quarantined`."""

    if ids and every:
        fail("give --id N (repeatable) or --all, not both", 2)
    if not ids and not every:
        fail("give --id N (repeatable; ids of `closeloop mail quarantined`) or --all", 2)
    a = get_app()
    report = reprocess(a.sessions, a.config, now=a.clock.now(), options=InboundOptions.from_settings(a.settings),
                       ids=None if every else ids)
    _print(_with_zeros(report.as_dict()), as_json, "no quarantined messages")
    if report.not_found:
        missing = ", ".join(map(str, report.not_found))
        typer.echo(f"not found: no inbound mail with id {missing} (see `closeloop mail quarantined`)", err=True)
        if len(report.not_found) == len(set(ids)):  # nothing given was found
            raise typer.Exit(1)


@mail_app.command("quarantined")
def quarantined_cmd(as_json: bool = typer.Option(False, "--json", help="print one JSON array")) -> None:
    """The quarantined messages: inbound mail id, reason, size, when it arrived and when it was last processed
    (reprocessing moves that one), both UTC (no addresses or subjects)."""

    a = get_app()
    rows = quarantine_list(a.sessions)
    if as_json:
        print(json.dumps([{**r, "received_at": r["received_at"].isoformat(),
                           "processed_at": r["processed_at"].isoformat()} for r in rows], indent=2))
        return
    for r in rows:
        out.print(f"{r['id']}\t{r['reason']}\t{r['size']} bytes\treceived {r['received_at']:%Y-%m-%d %H:%M} UTC"
                  f"\tprocessed {r['processed_at']:%Y-%m-%d %H:%M} UTC")
    if not rows:
        out.print("no quarantined messages")
