"""Import a complaint export file: streaming, batched, one transaction.

Modes (``closeloop import --help`` says the same):

- **all-or-nothing** (default): if any row is bad, nothing is written; every
  problem of every bad row is reported (line, column, value, problem) and the import fails.
- **skip bad rows** (``skip_bad_rows=True``): bad rows are reported and left
  out; all good rows land together in one transaction.

A row received more than five minutes after the clock's ``now`` is a bad row, as in the API; so is a
``customer_ref`` no URL can carry, unless a customer is stored with it (from before that rule).

Re-importing a file adds nothing (idempotent on source + external reference).
Memory stays flat: rows are read one at a time and written in batches of
``batch_size`` with bulk statements; no ORM objects accumulate.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from closeloop.clock import Clock
from closeloop.config import Config
from closeloop.services.departments import routing_config_id, sync_departments
from closeloop.services.intake.intake import intake_batch
from closeloop.services.intake.items import IntakeCounts, IntakeItem, IntakeResult
from closeloop.services.report_format import counted
from closeloop.services.uow import unit_of_work
from integrations.exports import ParsedRow, RowError, read_export
from models.tables import Customer

MAX_REPORTED_ERRORS = 200


@dataclass(kw_only=True)
class ImportReport(IntakeCounts):
    """Outcome of one import: the intake counters (:class:`IntakeCounts`) over every batch, the rows read,
    the bad rows (``bad_rows``: how many; ``errors``: every problem of each, one :class:`RowError` per
    problem, at most ``MAX_REPORTED_ERRORS`` in all). ``committed`` False means nothing was written."""

    path: str
    format: str = ""
    mode: str = "all-or-nothing"
    rows: int = 0
    bad_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False

    def as_dict(self) -> dict:
        return {
            "path": self.path, "format": self.format, "mode": self.mode, "rows": self.rows,
            "created": self.created, "rejected": self.rejected, "duplicates": self.duplicates,
            "routed_to_triage_queue": self.fallback, "likely_duplicates": self.likely_duplicates,
            "tasks": self.tasks, "tasks_by_department": dict(sorted(self.tasks_by_department.items())),
            "bad_rows": self.bad_rows, "committed": self.committed,
            "errors": [{"line": e.line, "column": e.column, "value": e.value, "problem": e.problem,
                        "withheld": e.withheld}
                       for e in self.errors],
        }

    def rows_not_listed(self) -> int:
        """Bad rows none of whose problems are in ``errors`` (past ``MAX_REPORTED_ERRORS``)."""
        return rows_not_listed(self.bad_rows, (e.line for e in self.errors))


def rows_not_listed(bad_rows: int, lines: Iterable[int]) -> int:
    """Of ``bad_rows`` bad rows, how many have no problem among those listed (``lines``: each listed
    problem's line; a row's problems share its line)."""
    return bad_rows - len(set(lines))


class ImportFailed(Exception):
    """An all-or-nothing import met bad rows; ``report`` lists them and nothing was written."""

    def __init__(self, report: ImportReport):
        self.report = report
        first = report.errors[0] if report.errors else None
        super().__init__(f"{counted(report.bad_rows, 'bad row')} in {report.path}; nothing imported"
                         + (f"; first: {first}" if first else ""))

    def __reduce__(self):  # pickle by the report (Prefect may persist task results and exceptions)
        return (type(self), (self.report,))


def import_file(sessions, config: Config, clock: Clock, path: str | Path, *, fmt: str = "auto",
                skip_bad_rows: bool = False, batch_size: int = 1000,
                progress: Callable[[int], None] | None = None, actor: str = "import",
                encoding: str = "utf-8") -> ImportReport:
    """Import ``path``, decoded as ``encoding`` (see the module docstring for the modes).

    Returns the :class:`ImportReport`; raises :class:`ImportFailed` (nothing
    written) in all-or-nothing mode when any row is bad, and
    :class:`~integrations.exports.UnknownFormat` for an unrecognised file.
    ``progress`` is called with the number of rows read so far after each batch.
    """
    report = ImportReport(path=str(path), mode="skip-bad-rows" if skip_bad_rows else "all-or-nothing")
    now = clock.now()

    def _profile(p):
        report.format = p.name

    with collect_less(), unit_of_work(sessions) as session:
        sync_departments(session, config, now)
        rc_id = routing_config_id(session, config, now)
        batch: list[IntakeItem] = []
        writing = True

        def flush() -> None:
            res: IntakeResult = intake_batch(session, batch, config=config, now=now,
                                             routing_config_id=rc_id, actor=actor)
            report.add_counts(res)
            batch.clear()

        for item in read_export(path, fmt, on_profile=_profile, encoding=encoding, now=now,
                                stored_ref=stored_ref_lookup(session)):
            report.rows += 1
            if isinstance(item, RowError):
                report.bad_rows += 1
                report.errors.extend(item.problems()[:MAX_REPORTED_ERRORS - len(report.errors)])
                if not skip_bad_rows:
                    writing = False  # keep reading to report every bad row; write nothing more
                    batch.clear()
                continue
            assert isinstance(item, ParsedRow)
            if writing:
                batch.append(IntakeItem(item.facts, item.reject_reason, item.line))
                if len(batch) >= batch_size:
                    flush()
            if progress and report.rows % batch_size == 0:
                progress(report.rows)
        if writing and batch:
            flush()
        if progress:
            progress(report.rows)
        if report.bad_rows and not skip_bad_rows:
            report.clear_counts()
            raise ImportFailed(report)  # rolls the transaction back
    report.committed = True
    return report


def stored_ref_lookup(session: Session) -> Callable[[str], bool]:
    """Whether a customer is stored with a given ref, as ``read_export``'s ``stored_ref`` asks it (only of refs
    no URL can carry, so rarely; each asked once)."""
    seen: dict[str, bool] = {}

    def stored(ref: str) -> bool:
        if ref not in seen:
            seen[ref] = session.scalar(select(Customer.id).where(Customer.ref == ref)) is not None
        return seen[ref]
    return stored


_gc_lock = threading.Lock()
_gc_users = 0
_gc_froze = False


@contextmanager
def collect_less() -> Iterator[None]:
    """Keep the objects that exist when the block starts out of the cyclic garbage collector's sweeps
    while it runs (``gc.freeze``; ``gc.unfreeze`` after; the first of concurrent imports freezes, the
    last unfreezes; a process that froze objects itself is left as it is). An import allocates a few
    dozen dicts and tuples per row, so the collector runs hundreds of times per 10,000 rows, and each
    full collection walked every object of the process (the modules, SQLAlchemy, the configuration):
    about a sixth of the import's CPU. The import's own objects are still collected as before, so memory
    stays flat; the rows written are the same."""
    global _gc_users, _gc_froze
    with _gc_lock:
        if _gc_users == 0 and gc.get_freeze_count() == 0:
            gc.freeze()
            _gc_froze = True
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_froze:
                gc.unfreeze()
                _gc_froze = False
