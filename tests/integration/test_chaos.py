"""Issue 18, the chaos run as a test: sweep and delivery worker processes killed with SIGKILL at seeded random
moments and started again, against a flaky local webhook receiver (500s, dropped connections, 404s, an outage),
on SQLite (a file) and PostgreSQL; at the end, with the receiver healthy, the tool's own sweep, deliver and
``outbox retry`` commands. Every due timer fired once, every released notification delivered (dead letters
re-sent to delivery), nothing under two idempotency keys, duplicates at the receiver only ever repeat one key.

At least 20 kills per backend in CI (``CI`` set), fewer locally; about 30 s of wall time per backend.
``bench/chaos.py`` runs the same with bigger numbers (``tests/chaos_support.py`` holds the logic)."""

from __future__ import annotations

import json

from tests.chaos_support import ChaosParams, run_chaos
from tests.conftest import IN_CI

PARAMS = ChaosParams(kills=22, seconds=24.0) if IN_CI else ChaosParams(kills=10, seconds=16.0)


def test_killed_workers_and_a_flaky_receiver_lose_nothing_and_send_nothing_under_two_keys(engine, tmp_path):
    url = engine.url.render_as_string(hide_password=False)
    fig = run_chaos(url, PARAMS, tmp_path, engine.dialect.name)
    print(json.dumps(fig.as_dict()))  # the figures, shown with -s or on failure
    n = fig.n
    assert fig.problems == []
    assert n["kills"] == PARAMS.kills >= (20 if IN_CI else 1)
    assert n["fired"] == n["timers_due"] > 0 and n["due_unfired"] == 0
    assert n["delivered"] == n["messages"] > 0 and n["notifications"] > 0
    assert n["retried"] == n["dead_lettered"]  # every dead letter was re-sent, and delivered (above)
    assert fig.wall_s < 90, "the chaos run must stay bounded"
