"""Exports for auditors and regulators (issue 14): a filtered complaint list and a complaint's full
timeline, as CSV or JSON.

- **CSV** (RFC 4180, UTF-8 with a byte-order mark so spreadsheet programs read Chinese right, CRLF
  line ends): every text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
  gets a leading apostrophe, so a spreadsheet shows it as text instead of running it as a formula
  (OWASP "CSV injection"). JSON is data for programs and keeps values unchanged.
- **List**: the columns of :data:`LIST_COLUMNS`, in the list's order; the same filters, search
  and department scope as ``complaint_queries.list_complaints``; at most ``MAX_ROWS`` rows (a
  larger export is refused with ``InvalidInput`` naming ``limit``: narrow the filters).
- **Timeline**: every audit row and message of the complaint and of those merged into it, oldest
  first (``at`` UTC ISO 8601, ``kind``, ``complaint_id``, ``actor``, ``text``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import StrEnum

from closeloop.domain.errors import InvalidInput
from closeloop.services.reads.complaint_queries import ComplaintFilter, list_complaints
from closeloop.services.reads.search import ComplaintSort
from closeloop.services.work.complaints import show

MAX_ROWS = 100_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LIST_COLUMNS = ("id", "source", "external_ref", "status", "severity", "risk_flags", "category", "subcategory",
                "product", "sub_product", "issue", "sub_issue", "company", "region", "channel", "tags",
                "route_rule", "root_cause", "customer_satisfied", "merged_into_id", "received_at", "created_at",
                "due_at", "resolved_at")
TIMELINE_COLUMNS = ("at", "kind", "complaint_id", "actor", "text")


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


def neutralise(value: object) -> object:
    """A CSV cell that a spreadsheet will not run: text starting with ``FORMULA_STARTS`` gets ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _cell(value: object) -> object:
    """A CSV cell: lists joined by ``;``, then neutralised."""
    if isinstance(value, (list, tuple)):
        value = ";".join(map(str, value))
    return neutralise(value)


def complaint_rows(sessions, f: ComplaintFilter, *, now: datetime, scope: str | None,
                   sort: ComplaintSort = ComplaintSort.ID) -> list[dict]:
    """The filtered list as plain rows (``LIST_COLUMNS``; instants ISO 8601 UTC; CSV joins lists by ``;``)."""
    rows, total = list_complaints(sessions, f, now=now, scope=scope, limit=MAX_ROWS, offset=0, sort=sort)
    if total > MAX_ROWS:
        raise InvalidInput("limit", f"{total} complaints match; an export holds at most {MAX_ROWS}: narrow the filters")
    return [{col: _plain(getattr(c, col)) for col in LIST_COLUMNS} for c in rows]


def timeline_rows(sessions, complaint_id: int) -> list[dict]:
    """The complaint's timeline (``TIMELINE_COLUMNS``), oldest first; ``NotFound`` if unknown."""
    return [{"at": e.at.isoformat(), "kind": e.kind, "complaint_id": e.complaint_id, "actor": e.actor,
             "text": e.text} for e in show(sessions, complaint_id).timeline]


def render(rows: Iterable[dict], columns: tuple[str, ...], fmt: ExportFormat) -> Iterator[str]:
    """The rows as CSV (neutralised cells, header first) or as one JSON array, in chunks of text."""
    if fmt == ExportFormat.JSON:
        yield json.dumps(list(rows), ensure_ascii=False, indent=1)
        return
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write("\ufeff")
    writer.writerow(columns)
    for i, row in enumerate(rows):
        writer.writerow([_cell(row.get(col)) for col in columns])
        if i % 1000 == 999:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
