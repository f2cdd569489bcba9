"""Inbound e-mail benchmark: messages per second from a real IMAP server into complaints, beside the bare
parse rate (``email.message_from_bytes`` on the same messages).

A throwaway dovecot (Debian's ``dovecot-imapd``, as in the tests) gets N messages by IMAP APPEND: new
complaints from N/4 different senders (so later ones find their customer), a quarter of them with a
small PNG attachment, one in twenty an auto-reply. Then :func:`closeloop.services.inbound.poll_mailbox`
takes them in batches (fetch, parse, thread, intake, mark seen) into a fresh, migrated database: SQLite
always (a temporary file), PostgreSQL too with ``--database-url`` (a throwaway schema). Figures only.

    python bench/inbound.py                      # 1,000 messages, batches of 100, SQLite
    python bench/inbound.py -n 2000 --batch 200 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text  # noqa: E402

from bench._common import schema_url  # noqa: E402
from closeloop.config import load_config  # noqa: E402
from closeloop.services.inbound import InboundOptions, poll_mailbox  # noqa: E402
from integrations.imap import ImapMailbox  # noqa: E402
from models import migrate  # noqa: E402
from models.db import make_engine, make_sessions  # noqa: E402
from models.tables import Complaint  # noqa: E402
from tests.integration.imap_server import start_server, stop_server  # noqa: E402

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def messages(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        m = EmailMessage()
        m["From"] = f"Customer {i % (n // 4 or 1)} <customer{i % (n // 4 or 1)}@example.org>"
        m["To"] = "care@example.org"
        m["Subject"] = f"Order {10_000 + i} arrived damaged"
        m["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
        if i % 20 == 19:
            m["Auto-Submitted"] = "auto-replied"
        m.set_content(f"Hello,\n\nmy order {10_000 + i} arrived broken; please call me back.\n" * 5)
        if i % 4 == 0:
            m.add_attachment(PNG, maintype="image", subtype="png", filename=f"photo{i}.png")
        out.append(bytes(m))
    return out


def parse_rate(raws: list[bytes]) -> float:
    t = time.perf_counter()
    for raw in raws:
        message_from_bytes(raw, policy=policy.default)
    return len(raws) / (time.perf_counter() - t)


def measure(url: str, raws: list[bytes], batch: int, work: Path) -> dict:
    server, proc = start_server(work / "dovecot")
    try:
        t = time.perf_counter()
        with ImapMailbox(server.url) as box:
            for raw in raws:
                box.append(raw)
        appended = len(raws) / (time.perf_counter() - t)
        engine = make_engine(url)
        migrate.upgrade(engine)
        sessions = make_sessions(engine)
        t = time.perf_counter()
        with ImapMailbox(server.url) as box:
            report = poll_mailbox(sessions, load_config(), box, now=NOW, batch_size=batch,
                                  options=InboundOptions(work / "attachments"))
        elapsed = time.perf_counter() - t
        with sessions() as s:
            complaints = s.scalar(select(func.count()).select_from(Complaint)) or 0
        engine.dispose()
        return {"append_per_s": appended, "poll_per_s": len(raws) / elapsed, "seconds": elapsed,
                "complaints": complaints, "counts": report.as_dict(), "unseen_after": server.unseen()}
    finally:
        stop_server(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="messages (default 1000)")
    ap.add_argument("--batch", type=int, default=100, help="messages per transaction (default 100)")
    ap.add_argument("--database-url", help="also measure on this PostgreSQL (a throwaway schema)")
    args = ap.parse_args()
    raws = messages(args.n)
    print(f"{args.n:,} messages, {sum(map(len, raws)) / len(raws) / 1024:.1f} KiB on average, batches of {args.batch}")
    print(f"bare parse (email.message_from_bytes, policy.default): {parse_rate(raws):,.0f} msg/s")
    targets = [("sqlite", None)] + ([("postgresql", args.database_url)] if args.database_url else [])
    for name, pg in targets:
        work = Path(tempfile.mkdtemp(prefix="closeloop-bench-inbound-"))
        work.chmod(0o755)  # dovecot's unprivileged processes read its configuration below
        schema = f"bench_inbound_{uuid.uuid4().hex[:8]}"
        try:
            if pg:
                admin = make_engine(pg)
                with admin.begin() as c:
                    c.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = schema_url(pg, schema) if pg else f"sqlite:///{work / 'bench.db'}"
            r = measure(url, raws, args.batch, work)
            print(f"{name:>10}: IMAP -> complaints {r['poll_per_s']:,.0f} msg/s ({r['seconds']:.2f} s; "
                  f"{r['complaints']:,} complaints; unseen after {r['unseen_after']}); "
                  f"APPEND {r['append_per_s']:,.0f} msg/s; {r['counts']}")
        finally:
            if pg:
                with admin.begin() as c:
                    c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
