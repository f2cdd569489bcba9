"""Delivery benchmark: outbox rows to a local receiver, end to end (claim, send, mark), per second.

A plain-asyncio HTTP/1.1 receiver (keep-alive, answers 200, counts requests
and distinct ``Idempotency-Key`` values) runs in a subprocess on 127.0.0.1, so
it does not share the client's event loop or core. Then, with the same small
signed JSON POST:

- bare httpx loops (no database): the stock ``httpx.AsyncClient()`` at 1 and at
  50 in flight, the earlier layout (one ``AsyncClient`` over
  :class:`integrations.senders.SpreadTransport`, 32 httpcore pools of 2) at 50, the chosen
  layout (``make_webhook_client``: one ``AsyncClient`` over
  :class:`integrations.http1.Http1Transport`) at 50, and, when
  ``httpx-aiohttp`` is installed, its transport at 50 (for comparison only);
- end to end: N pending outbox rows on a fresh, migrated database drained by
  :func:`closeloop.services.engine.delivery.deliver_once` (batches of 200, 50 in flight)
  through ``WebhookSender`` over the stock client, the earlier and the chosen layout,
  and with a no-op sender (the claim + mark ceiling of the database alone).

Every end-to-end run checks that all N rows ended ``delivered``. SQLite always
(a temporary file); PostgreSQL too with ``--database-url`` (a throwaway schema,
dropped afterwards). Figures only: nothing is asserted.

    python bench/deliver.py                       # 5,000 rows, SQLite
    python bench/deliver.py -n 20000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
SECRET = b"bench-secret"
BODY = "投诉 #1024 已升级至主管：请在今天 17:00 前处理。Complaint #1024 escalated to the lead."


# ------------------------------------------------------------------ receiver (subprocess)

def serve(port_file: str) -> None:
    """The receiver: answers every request ``200 ok``; on SIGTERM/stdin close prints its counts."""

    class Proto(asyncio.Protocol):
        count = 0
        keys: set[bytes] = set()

        def connection_made(self, transport):
            self.t, self.buf = transport, b""

        def data_received(self, data):
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                size = 0
                at = head.find(b"content-length:")
                if at >= 0:
                    eol = head.find(b"\r\n", at)
                    size = int(head[at + 15: eol if eol > 0 else None])
                if len(self.buf) < end + 4 + size:
                    return
                at = head.find(b"idempotency-key:")
                if at >= 0:
                    eol = head.find(b"\r\n", at)
                    Proto.keys.add(head[at + 16: eol if eol > 0 else None].strip())
                Proto.count += 1
                self.buf = self.buf[end + 4 + size:]
                self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Proto, "127.0.0.1", 0, backlog=2048)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        done = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), lambda: (sys.stdin.readline() or True) and done.set())
        await done.wait()
        print(json.dumps({"requests": Proto.count, "keys": len(Proto.keys)}), flush=True)

    asyncio.run(main())


class ReceiverProcess:
    def __enter__(self):
        self.port_file = tempfile.mktemp(prefix="closeloop-recv-")
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", self.port_file],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(200):
            if os.path.exists(self.port_file) and Path(self.port_file).read_text():
                break
            time.sleep(0.05)
        self.port = int(Path(self.port_file).read_text())
        return self

    def __exit__(self, *exc):
        out, _ = self.proc.communicate("stop\n", timeout=30)
        os.unlink(self.port_file)
        self.counts = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


# ------------------------------------------------------------------ bare httpx loops

async def bare(make_client, url: str, n: int, in_flight: int) -> float:
    from integrations.senders import OutgoingMessage, WebhookSender

    async with make_client() as client:
        sender = WebhookSender(client, SECRET, 10.0)
        sem = asyncio.Semaphore(in_flight)

        async def one(i):
            async with sem:
                msg = OutgoingMessage(i, f"bench:{uuid.uuid4().hex}", "webhook", url, "lead", "Escalation", BODY,
                                      {"complaint": i})
                res = await sender.send(msg)
                if res.outcome != "delivered":
                    raise RuntimeError(res)

        await asyncio.gather(*(one(i) for i in range(min(200, n))))  # warm up the connections
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - started)


# ------------------------------------------------------------------ end to end

def fresh_database(url: str | None):
    """(sessions factory, cleanup) on a new SQLite file or a new PostgreSQL schema."""
    from sqlalchemy import text

    from models import migrate
    from models.db import make_engine, make_sessions

    if url is None:
        path = Path(tempfile.mkdtemp(prefix="closeloop-bench-")) / "deliver.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(engine)

        def cleanup():
            engine.dispose()
            for p in path.parent.iterdir():
                p.unlink()
            path.parent.rmdir()
        return engine, make_sessions(engine), cleanup
    schema = f"bench_deliver_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(url)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    engine = make_engine(f"{url}{sep}options=-csearch_path%3D{schema}")
    migrate.upgrade(engine)

    def cleanup():
        engine.dispose()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return engine, make_sessions(engine), cleanup


def fill(engine, url: str, n: int, tag: str) -> None:
    from sqlalchemy import insert

    from models.tables import Outbox

    rows = [{"idempotency_key": f"bench:{tag}:{i}", "channel": "webhook", "target": url, "recipient": "lead",
             "subject": "Escalation", "body": BODY, "payload": {"complaint": i}, "status": "pending",
             "attempts": 0, "next_attempt_at": NOW, "created_at": NOW} for i in range(n)]
    with engine.begin() as c:
        for start in range(0, n, 5000):
            c.execute(insert(Outbox), rows[start:start + 5000])


class NullSender:
    async def send(self, msg):
        from integrations.outbound import SendResult

        return SendResult("delivered", status_code=200)


@asynccontextmanager
async def webhook(make_client):
    from integrations.senders import WebhookSender

    async with make_client() as client:
        yield WebhookSender(client, SECRET, 10.0)


@asynccontextmanager
async def null():
    yield NullSender()


async def end_to_end(engine, sessions, url: str, n: int, sender_cm, tag: str) -> tuple[float, str]:
    from sqlalchemy import func, select

    from closeloop.clock import FixedClock
    from closeloop.services.engine.delivery import deliver_once
    from models.tables import Outbox

    fill(engine, url, n, tag)
    clock = FixedClock(NOW)
    async with sender_cm as sender:
        started = time.perf_counter()
        report = await deliver_once(sessions, sender, clock, worker=f"bench-{tag}", batch=200, concurrency=50,
                                    max_batches=10 ** 6, rng=random.Random(1))
        rate = n / (time.perf_counter() - started)
    with sessions() as s:
        done = s.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.status == "delivered", Outbox.idempotency_key.like(f"bench:{tag}:%")))
    check = "all delivered" if done == n == report.delivered else f"ONLY {done} of {n} delivered: {report.errors[:3]}"
    return rate, check


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=5000, help="outbox rows (and requests per bare loop); default 5000")
    ap.add_argument("--database-url", help="also run end to end on this PostgreSQL database (a throwaway schema)")
    ap.add_argument("--skip-stock-e2e", action="store_true", help="skip the slow end-to-end run on the stock client")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return

    import httpx

    from integrations.senders import SpreadTransport, WebhookClient, make_webhook_client

    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        AiohttpTransport = None

    def stock():
        return httpx.AsyncClient(timeout=10.0)

    def spread():
        return WebhookClient(transport=SpreadTransport(32, 2), timeout=10.0, follow_redirects=False)

    def chosen():
        return make_webhook_client(10.0)

    print(f"closeloop delivery bench: {args.n:,} small signed JSON POSTs to a local receiver "
          f"(Python {sys.version.split()[0]}, httpx {httpx.__version__}, {os.cpu_count()} cores)")
    with ReceiverProcess() as rec:
        url = f"http://127.0.0.1:{rec.port}/hook"
        print("\nbare httpx loop (WebhookSender.send, no database)      requests/s")
        loops = [("stock AsyncClient(), 1 in flight", stock, 1),
                 ("stock AsyncClient(), 50 in flight", stock, 50),
                 ("SpreadTransport (earlier layout: 32 pools x 2), 50 in flight", spread, 50),
                 ("make_webhook_client() [chosen: Http1Transport], 50 in flight", chosen, 50)]
        if AiohttpTransport is not None:
            loops.append(("httpx-aiohttp transport (not used), 50 in flight",
                          lambda: httpx.AsyncClient(transport=AiohttpTransport(), timeout=10.0), 50))
        for label, factory, in_flight in loops:
            print(f"  {label:58s} {asyncio.run(bare(factory, url, args.n, in_flight)):8,.0f}", flush=True)

        backends = [("sqlite", None)] + ([("postgresql", args.database_url)] if args.database_url else [])
        for name, db_url in backends:
            engine, sessions, cleanup = fresh_database(db_url)
            try:
                print(f"\nend to end on {name} (claim, send, mark; batch 200, 50 in flight)   deliveries/s")
                runs = [("no-op sender: claim + mark only", lambda: null())]
                if not args.skip_stock_e2e:
                    runs.append(("stock AsyncClient()", lambda: webhook(stock)))
                runs.append(("SpreadTransport (earlier layout)", lambda: webhook(spread)))
                runs.append(("make_webhook_client() [chosen: Http1Transport]", lambda: webhook(chosen)))
                for i, (label, cm) in enumerate(runs):
                    rate, check = asyncio.run(end_to_end(engine, sessions, url, args.n, cm(), f"{name}{i}"))
                    print(f"  {label:58s} {rate:8,.0f}   {check}", flush=True)
            finally:
                cleanup()
    print(f"\nreceiver: {rec.counts.get('requests', 0):,} requests, {rec.counts.get('keys', 0):,} distinct keys")


if __name__ == "__main__":
    main()
