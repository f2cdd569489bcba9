"""Page arithmetic of the dashboard's paged lists (the complaint list, a department's queue).

A page number past the end (an old link, a bookmark, the last row of the last page just worked off) is clamped to
the last page: the list shows real rows and a true range, never "0-4,999,900 of 677" or "no active tasks" while
tasks are active. The page says it moved (``clamped_from``).
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


def paged(fetch: Callable[[int, int], tuple[list[R], int]], page: int, size: int) -> tuple[list[R], Window]:
    """``fetch(limit, offset) -> (rows, total)`` for ``page`` (1-based), re-read at the last page when ``page`` is
    past the end. Returns the rows and their :class:`Window`. Raises ``ValueError`` for a page or size below 1."""
    if page < 1 or size < 1:
        raise ValueError(f"page and size must be at least 1, got page={page}, size={size}")
    rows, total = fetch(size, (page - 1) * size)
    pages, asked = pages_of(total, size), None
    if page > pages:
        asked, page = page, pages
        rows, total = fetch(size, (page - 1) * size)
        pages = pages_of(total, size)
    first = (page - 1) * size + 1 if rows else 0
    return rows, Window(page=page, pages=pages, first=first, last=(page - 1) * size + len(rows), total=total,
                        clamped_from=asked)
