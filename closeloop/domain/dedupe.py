"""De-duplication and merge rules.

- Same ``(source, external_ref)`` is the same complaint (idempotent intake).
- Same customer and same category within ``window`` is a *likely* duplicate:
  linked for a person to confirm with a merge, never merged automatically.
- A merge makes the duplicate terminal and points it at the *root* survivor:
  chains collapse to length one, and a merge may not create a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import MergeRejected


@dataclass(frozen=True)
class PriorComplaint:
    """An earlier complaint of the same customer: id, category and UTC-aware ``received_at``."""

    id: int
    category: str
    received_at: datetime
    merged: bool = False


def likely_duplicate_of(
    category: str, received_at: datetime, earlier: Iterable[PriorComplaint], window: timedelta
) -> int | None:
    """The most recent earlier, unmerged complaint with the same category within ``window``, or None.

    Only complaints received at or before ``received_at`` count (an import may
    arrive out of order; a later complaint is never the original).
    """
    best: PriorComplaint | None = None
    for p in earlier:
        if p.merged or p.category != category or not category:
            continue
        if received_at - window <= p.received_at <= received_at:
            if best is None or (p.received_at, p.id) > (best.received_at, best.id):
                best = p
    return best.id if best else None


def count_in_window(received_at: datetime, earlier: Iterable[datetime], window: timedelta) -> int:
    """How many instants fall in ``[received_at - window, received_at)``."""
    return sum(1 for t in earlier if received_at - window <= t < received_at)


def merge_root(complaint_id: int, merged_into: Mapping[int, int | None]) -> int:
    """Follow ``merged_into`` links from ``complaint_id`` to the surviving root.

    Raises :class:`MergeRejected` if the links form a cycle (corrupt data).
    """
    seen = {complaint_id}
    current = complaint_id
    while (nxt := merged_into.get(current)) is not None:
        if nxt in seen:
            raise MergeRejected(f"merge chain from complaint {complaint_id} loops at {nxt}")
        seen.add(nxt)
        current = nxt
    return current


def check_merge(duplicate_id: int, survivor_root_id: int) -> None:
    """Reject merging a complaint into itself (directly or through its own chain)."""
    if duplicate_id == survivor_root_id:
        raise MergeRejected(f"complaint {duplicate_id} cannot be merged into itself")
