"""The chaos run's end (the tool's own commands) and its checks (see the package docstring)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime

from tests.chaos_support.base import SECRET, ChaosFigures, FlakyReceiver


# ------------------------------------------------------------------ the end: the tool's own commands
def cli(env: dict[str, str], *args: str) -> str:
    """``closeloop ARGS`` in process (Typer's runner) with ``env``; fails on a non-zero exit."""
    from typer.testing import CliRunner

    from closeloop.cli import app

    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, f"closeloop {' '.join(args)}: exit {result.exit_code}: {result.output}"
    return result.output


def drain(env: dict[str, str]) -> None:
    """``closeloop deliver`` until a run claims nothing (every row is due: the system clock is past ``T0``)."""
    for _ in range(50):
        if json.loads(cli(env, "deliver", "--json", "--max-batches", "200"))["claimed"] == 0:
            return
    raise AssertionError("the outbox did not drain in 50 delivery runs")


def dead_letters_now(sessions) -> list[tuple[int, str | None, str | None]]:
    """(id, reason, last error) of every dead letter."""
    from sqlalchemy import select

    from models.tables import Outbox

    with sessions() as s:
        return [tuple(r) for r in s.execute(select(Outbox.id, Outbox.dead_reason, Outbox.last_error)
                                            .where(Outbox.status == "dead").order_by(Outbox.id))]


# ------------------------------------------------------------------ checks
def _check_timers(s, end: datetime, fig: ChaosFigures) -> None:
    from sqlalchemy import func, select

    from models.tables import Notification, Timer

    def n(*where) -> int:
        return s.scalar(select(func.count()).select_from(Timer).where(*where)) or 0

    fig.n["timers_due"] = n(Timer.fire_at <= end, Timer.status != "cancelled")
    fig.n["fired"] = n(Timer.status == "fired")
    fig.n["fired_during_chaos"] = n(Timer.status == "fired", Timer.fired_at < end)
    fig.n["due_unfired"] = n(Timer.status == "pending", Timer.fire_at <= end)
    if fig.n["due_unfired"]:
        fig.problems.append(f"{fig.n['due_unfired']} due timers never fired")
    twice = s.execute(select(Notification.key).group_by(Notification.key).having(func.count() > 1)).all()
    if twice:
        fig.problems.append(f"notifications fired twice: {[k for (k,) in twice][:5]}")


def _check_outbox(s, end: datetime, fig: ChaosFigures) -> dict[int, str]:
    """Every released notification packed into a delivered message; returns the messages' keys by id."""
    from sqlalchemy import select

    from models.tables import Notification, Outbox

    rows = s.execute(select(Outbox.id, Outbox.idempotency_key, Outbox.status, Outbox.requeues)).all()
    fig.n["messages"], fig.n["retried"] = len(rows), sum(1 for r in rows if r.requeues)
    fig.n["delivered"] = sum(1 for r in rows if r.status == "delivered")
    undelivered = [(r.id, r.status) for r in rows if r.status != "delivered"]
    if undelivered:
        fig.problems.append(f"{len(undelivered)} messages not delivered: {undelivered[:5]}")
    notes = s.execute(select(Notification.key, Notification.status, Notification.outbox_id)
                      .where(Notification.release_at <= end)).all()
    fig.n["notifications"] = sum(1 for r in notes if r.status == "packed")
    left = [r.key for r in notes if r.status == "pending" or (r.status == "packed" and r.outbox_id is None)]
    if left:
        fig.problems.append(f"{len(left)} released notifications never packed: {left[:5]}")
    return {r.id: r.idempotency_key for r in rows}


def _check_receiver(hits: list, keys_by_id: dict[int, str], fig: ChaosFigures) -> None:
    """Processed requests against the outbox: one key per message and per notification, every key seen."""
    from integrations.senders import SIGNATURE_HEADER, verify_signature

    fig.n["requests"] = len(hits)
    unsigned = sum(1 for h in hits if not verify_signature(SECRET.encode(), h.body,
                                                           h.headers.get(SIGNATURE_HEADER.lower())))
    if unsigned:
        fig.problems.append(f"{unsigned} requests without a valid signature")
    processed = [h for h in hits if h.action.processes]
    seen = Counter(h.key for h in processed)
    fig.n["duplicate_keys"] = sum(1 for c in seen.values() if c > 1)
    fig.n["duplicate_deliveries"] = sum(c - 1 for c in seen.values())
    keys_of_message: dict[int, set[str]] = defaultdict(set)
    keys_of_notification: dict[str, set[str]] = defaultdict(set)
    for h in processed:
        doc = json.loads(h.body)
        keys_of_message[doc["id"]].add(h.key)
        if doc["idempotency_key"] != h.key or keys_by_id.get(doc["id"]) != h.key:
            fig.problems.append(f"message {doc['id']} arrived under key {h.key}, "
                                f"its key is {keys_by_id.get(doc['id'])}")
        for item in (doc.get("payload") or {}).get("items", []):
            for key in item.get("keys", []):
                keys_of_notification[key].add(h.key)
    for what, groups in (("message", keys_of_message), ("notification", keys_of_notification)):
        two = {k: sorted(v) for k, v in groups.items() if len(v) > 1}
        if two:
            fig.problems.append(f"{len(two)} {what}s delivered under two keys: {list(two.items())[:3]}")
    missing = sorted(set(keys_by_id.values()) - set(seen))
    if missing:
        fig.problems.append(f"{len(missing)} message keys never processed by the receiver: {missing[:5]}")


def verify(sessions, receiver: FlakyReceiver, end: datetime, fig: ChaosFigures) -> ChaosFigures:
    """Fill ``fig`` from the database and the receiver; ``fig.problems`` lists every broken promise."""
    with sessions() as s:
        _check_timers(s, end, fig)
        keys_by_id = _check_outbox(s, end, fig)
    with receiver._lock:
        hits = list(receiver.requests)
    _check_receiver(hits, keys_by_id, fig)
    if fig.n["fired"] == 0 or fig.n["notifications"] == 0:
        fig.problems.append("nothing fired or nothing was sent: the run proves nothing")
    return fig
