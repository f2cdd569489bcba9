"""Poll-mailbox flow: inbound e-mail from ``CLOSELOOP_IMAP_URL``, thin over
:func:`closeloop.services.inbound.poll_mailbox`.

Deployment ``poll-mailbox`` (``deploy/prefect.yaml``, every minute); ``closeloop mail poll`` runs the same
once. Messages are flagged seen only after their batch committed, and processing is idempotent by
Message-ID, so overlapping or retried runs never take a message in twice.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, State

from closeloop.bootstrap import build_app
from closeloop.services.inbound import InboundOptions, poll_mailbox
from flows.runinfo import label_run
from flows.schedules import policy
from integrations.imap import ImapMailbox


class MailboxNotConfigured(RuntimeError):
    """``CLOSELOOP_IMAP_URL`` is empty."""


SKIPPED = "Skipped"  # the run name and state name of a deployment run that found no mailbox configured


@flow(name="poll-mailbox", **policy("poll-mailbox"))
def poll_mailbox_flow(max_messages: int | None = None, skip_unconfigured: bool = True) -> dict | State:
    """Take in the mailbox's unseen messages (at most ``max_messages``; None: all), in batches of
    ``CLOSELOOP_IMAP_BATCH_SIZE``. Returns counts by outcome and reason (no addresses).

    Without ``CLOSELOOP_IMAP_URL`` (the README's "empty: no polling"): with ``skip_unconfigured`` (the
    deployment's default) the run ends Completed in a state named ``Skipped``, with the reason as its message,
    and the run itself is renamed ``Skipped`` (tags ``mail``, ``skipped``), so a deployment that polls every
    minute on a system without mail shows no failures and its runs read as skipped in the list; otherwise
    :class:`MailboxNotConfigured` is raised."""
    try:
        counts = poll_once(max_messages)
    except MailboxNotConfigured as exc:
        if skip_unconfigured:
            label_run(SKIPPED, ["mail", "skipped"])
            return Completed(name=SKIPPED, message=str(exc))
        raise
    label_run(f"poll-mailbox: {counts.get('polled', 0):,} messages, {counts.get('complaint', 0):,} new complaints",
              ["mail"])
    return counts


def poll_once(max_messages: int | None = None) -> dict[str, int]:
    """One poll of ``CLOSELOOP_IMAP_URL`` (``closeloop mail poll``; the flow's body). Returns counts by outcome.

    Raises:
        MailboxNotConfigured: ``CLOSELOOP_IMAP_URL`` is empty.
        ValueError: the URL is malformed. ``ImapError`` / ``OSError``: the mailbox failed.
    """
    app = build_app()
    try:
        settings = app.settings
        if not settings.imap_url:
            raise MailboxNotConfigured("CLOSELOOP_IMAP_URL is not set: no mailbox to poll "
                                       "(imap://user:password@host:143/INBOX)")
        with ImapMailbox(settings.imap_url) as box:
            report = poll_mailbox(app.sessions, app.config, box, now=app.clock.now(),
                                  options=InboundOptions.from_settings(settings),
                                  batch_size=settings.imap_batch_size, max_messages=max_messages)
    finally:
        app.dispose()
    return report.as_dict()
