"""The chaos run's parameters, figures, warped clock, flaky receiver, configuration and data (see the package
docstring)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.receiver import Receiver, Reply

#: Wednesday 5 March 2025, 09:00 in New York (the default calendar opens; the complaints come in over the two
#: working days before): long past, so the CLI's system clock in
#: the final phase finds every retry due.
T0 = datetime(2025, 3, 5, 14, 0, tzinfo=UTC)
SECRET = "chaos-secret"
PRODUCTS = ("Credit reporting", "Mortgage", "Debt collection", "Credit card", "Checking or savings account",
            "Student loan", "Vehicle loan or lease", "Money transfer")


@dataclass(frozen=True)
class ChaosParams:
    """The run's size and faults. ``seconds``: wall time of the chaos phase; ``speed``: simulated seconds per
    wall second; ``lease_wall_s``: a delivery claim's lease in wall seconds (the flow's rule, warped);
    ``max_delay_s``: the receiver answers after a random delay up to this (so kills land on sends in flight);
    ``db_drops``: PostgreSQL only, times every connection of the run is ended server-side (``pg_terminate_backend``,
    what a database restart does to its clients) while the workers go on."""

    complaints: int = 120
    kills: int = 20
    seconds: float = 24.0
    speed: float = 1200.0
    sweepers: int = 2
    deliverers: int = 2
    seed: int = 18
    p_error: float = 0.15
    p_drop_before: float = 0.05
    p_drop_after: float = 0.05
    p_reject: float = 0.02
    outage_s: float = 4.0
    lease_wall_s: float = 3.0
    max_delay_s: float = 0.3
    db_drops: int = 0


#: The counted figures of a run, in the order they are printed.
FIGURES = ("kills", "crashes", "db_drops", "connections_dropped", "dropped_in_transaction", "complaints", "timers_due",
           "fired", "fired_during_chaos", "due_unfired",
           "notifications", "messages", "delivered", "dead_lettered", "retried", "requests", "duplicate_keys",
           "duplicate_deliveries")


@dataclass
class ChaosFigures:
    """A run's figures: ``n`` counts by :data:`FIGURES` name, dead letters by reason, wall seconds, and the
    ``problems`` found (empty when every promise held)."""

    backend: str = ""
    n: Counter = field(default_factory=Counter)
    dead_reasons: dict = field(default_factory=dict)
    wall_s: float = 0.0
    problems: list = field(default_factory=list)
    resumed_s: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"backend": self.backend, **{k: self.n[k] for k in FIGURES}, "dead_reasons": self.dead_reasons,
                "resumed_s": self.resumed_s, "wall_s": self.wall_s, "problems": self.problems}


# ------------------------------------------------------------------ time
class WarpClock:
    """``start`` + (wall time since ``wall0``) x ``speed``: one shared, fast-running instant for every process."""

    def __init__(self, start: datetime, wall0: float, speed: float):
        self.start, self.wall0, self.speed = start, wall0, speed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.wall0) * self.speed)


# ------------------------------------------------------------------ the receiver
@dataclass(frozen=True)
class Drop:
    """Close the connection without an answer; ``processes``: the request was taken before (a lost answer)."""

    processes: bool = False


class FlakyReceiver(Receiver):
    """The test receiver with seeded random faults on every path, and an outage (the port closed) on demand."""

    def __init__(self, params: ChaosParams):
        super().__init__()
        self.params = params
        self.rng = random.Random(params.seed)
        self.faults = True

    def _next(self, path: str):
        p = self.params
        with self._lock:
            if not self.faults:
                return Reply()
            x, delay = self.rng.random(), self.rng.uniform(0, p.max_delay_s)
        for chance, action in ((p.p_error, Reply(500, body=b"busy")), (p.p_drop_before, Drop(False)),
                               (p.p_drop_after, Drop(True)), (p.p_reject, Reply(404, body=b"no such hook"))):
            if x < chance:
                return action
            x -= chance
        return Reply(delay=delay)

    async def _act(self, action, reader, writer) -> bool:
        if isinstance(action, Drop):
            return False
        return await super()._act(action, reader, writer)

    def down(self) -> None:
        async def close():
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result()

    def up(self) -> None:
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=512), self._loop).result()


# ------------------------------------------------------------------ configuration and data
def write_config(directory: Path, hook: str) -> Path:
    """The bundled configuration with every notification (and the dead-letter alert) sent to ``hook``: the
    operations manager and crisis owner to ``hook`` itself, each department to ``hook/<department>``."""
    from importlib import resources

    text = resources.files("closeloop.config").joinpath("default.toml").read_text("utf-8")
    old = 'default_notify = "capture://notifications.jsonl"'
    assert old in text and 'notify = ""' in text, "the bundled configuration changed: update the chaos run"
    text = text.replace(old, f'default_notify = "{hook}"')
    for dept in ("product", "operations", "service", "triage"):
        text = text.replace(f'[departments.{dept}]\n', f'[departments.{dept}]\nnotify = "{hook}/{dept}"\n', 1)
    path = directory / "chaos.toml"
    path.write_text(text.replace('notify = ""\n', ""), encoding="utf-8")
    return path


def load_data(sessions, config, params: ChaosParams, directory: Path) -> int:
    """Take ``params.complaints`` complaints in through the import, in six batches over the working hours of
    the two days before :data:`T0` (each batch at its own instant, so their clocks and timers are spread), with
    no sweep. Returns the complaints created."""
    from closeloop.clock import FixedClock
    from closeloop.services.intake.importing import import_file

    rng = random.Random(params.seed)
    received = sorted(T0 - timedelta(days=rng.choice((1, 2))) + timedelta(hours=rng.uniform(0, 8))
                      for _ in range(params.complaints))
    created, size = 0, -(-len(received) // 6)
    for b in range(0, len(received), size):
        chunk = received[b:b + size]
        path = directory / f"batch-{b}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for i, at in enumerate(chunk, start=b):
                product = rng.choice(PRODUCTS)
                fh.write(json.dumps({"external_ref": f"chaos-{i}", "received_at": at.isoformat(), "source": "chaos",
                                     "product": product, "category": product, "customer_ref": f"cust-{i % 40}",
                                     "text": "charged twice" if i % 3 else "my lawyer will call"}) + "\n")
        created += import_file(sessions, config, FixedClock(chunk[-1]), path).created
    return created
