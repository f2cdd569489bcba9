"""Page arithmetic of the dashboard's paged lists (the complaint list, a department's queue).

A page number past the end (an old link, a bookmark, the last row of the last page just worked off) is clamped to
the last page, one below 1 (``?page=0``, ``?page=-3``) to the first: the list shows real rows and a true range,
never "0-4,999,900 of 677" or "no active tasks" while tasks are active, and every page number is treated alike
(no 422 for a large one). The page says it moved (``clamped_from``), unless the list is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Window:
    """One page of a list: ``page`` (1-based, within 1..``pages``), ``pages`` (at least 1), ``first``/``last`` the
    1-based positions of its rows (both 0 for an empty list), ``total`` rows in all, and ``clamped_from`` the page
    asked for when it was past the end (else None)."""

    page: int
    pages: int
    first: int
    last: int
    total: int
    clamped_from: int | None = None


def pages_of(total: int, size: int) -> int:
    """How many pages ``total`` rows fill at ``size`` a page: at least 1 (an empty list is one empty page)."""
    return max(1, -(-total // size))


#: The highest page number read as asked (a larger one is read as this, then clamped to the last page like any
#: page past the end): keeps the row offset far inside the database's integer range.
MAX_PAGE = 1_000_000_000


def paged(fetch: Callable[[int, int], tuple[list[R], int]], page: int, size: int) -> tuple[list[R], Window]:
    """``fetch(limit, offset) -> (rows, total)`` for ``page`` (1-based): a page below 1 is read as the first, one
    past the end re-read at the last; either is said by ``clamped_from`` (the page asked for), except on an empty
    list (its one empty page is every page). Returns the rows and their :class:`Window`. Raises ``ValueError``
    for a size below 1."""
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    asked, page = page, min(max(page, 1), MAX_PAGE)
    rows, total = fetch(size, (page - 1) * size)
    pages = pages_of(total, size)
    if page > pages:
        page = pages
        rows, total = fetch(size, (page - 1) * size)
        pages = pages_of(total, size)
    first = (page - 1) * size + 1 if rows else 0
    return rows, Window(page=page, pages=pages, first=first, last=(page - 1) * size + len(rows), total=total,
                        clamped_from=asked if asked != page and total else None)
