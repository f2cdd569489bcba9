"""The bare-SQL floor of the lifecycle benchmark: the same statements, through the ``sqlite3`` module alone.

:func:`capture` records every statement the services send on an engine (the SQL text after SQLAlchemy
compiled it, the DB-API parameters after its type processing, ``executemany`` or not) and every COMMIT and
ROLLBACK, each under the step that ran it (``intake``, ``acknowledge``, ``complete``). :func:`replay` runs
that log on a second database file built the same way (same schema, same earlier rows, so the same ids come
out of the same INSERTs) through a bare ``sqlite3`` connection opened as ``models.db.make_engine`` opens its
own (foreign keys on, WAL, ``BEGIN IMMEDIATE`` before the first write, commits durable), fetching every
result, and returns the CPU seconds (``time.process_time``) spent per step.

The floor is what the database work of a lifecycle costs with no Python above the driver: no ORM, no
state machine, no clock computation. Issue 17 sets 2 ms of CPU per lifecycle and 1.6 ms per completion;
the floor says how much of each the statements alone take.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event


@dataclass
class StatementLog:
    """What :func:`capture` saw: ``(step, sql, params, many)`` in order; ``sql`` None is a COMMIT
    (``params`` None) or a ROLLBACK (``params`` ``"rollback"``)."""

    entries: list[tuple[str, str | None, object, bool]] = field(default_factory=list)
    step: str = "setup"
    count_complaints: int = 0  # the complaints the captured steps resolved (a check of the replay)

    def count(self, step: str) -> int:
        """Statements of ``step`` (COMMIT and ROLLBACK included: each is a round trip to SQLite)."""
        return sum(1 for e in self.entries if e[0] == step)


@contextmanager
def capture(engine) -> Iterator[StatementLog]:
    """Record the statements, commits and rollbacks on ``engine`` while the block runs; set ``log.step``
    to label what follows."""
    log = StatementLog()

    def before(_conn, _cursor, statement, parameters, _context, executemany):
        # an "insertmanyvalues" batch (INSERT ... RETURNING of several rows) is flagged executemany but sent
        # as one execute of one parameter row: the shape of ``parameters`` says which call the driver got
        many = executemany and isinstance(parameters, list | tuple) and bool(parameters) and \
            isinstance(parameters[0], list | tuple | dict)
        log.entries.append((log.step, statement, parameters, many))

    def commit(_conn):
        log.entries.append((log.step, None, None, False))

    def rollback(_conn):
        log.entries.append((log.step, None, "rollback", False))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "commit", commit)
        event.remove(engine, "rollback", rollback)


def replay(path: Path, log: StatementLog) -> dict[str, float]:
    """Run ``log`` on the SQLite file ``path`` (prepared as the captured one was) with a bare ``sqlite3``
    connection; CPU seconds per step. Raises ``sqlite3.Error`` if a statement fails there (the file was not
    prepared the same way)."""
    conn = sqlite3.connect(path, isolation_level="IMMEDIATE", timeout=30)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA journal_mode=WAL")
    cpu: dict[str, float] = defaultdict(float)
    cur = conn.cursor()
    try:
        for step, sql, params, many in log.entries:
            t = time.process_time()
            if sql is None:
                if params == "rollback":
                    conn.rollback()
                else:
                    conn.commit()
            elif many:
                cur.executemany(sql, params)
            else:
                cur.execute(sql, params)
                cur.fetchall()
            cpu[step] += time.process_time() - t
    finally:
        conn.close()
    return dict(cpu)
