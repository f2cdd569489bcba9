"""What intake takes in and gives back: :class:`IntakeItem` (one row to take in), :class:`IntakeCounts` (the
counters shared by a batch's result and an import's report) and :class:`IntakeResult` (what one
:func:`~closeloop.services.intake.intake.intake_batch` did)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from closeloop.domain.facts import ComplaintFacts


@dataclass
class IntakeItem:
    """One row to take in: its facts, and a reason if it is valid but not a complaint."""

    facts: ComplaintFacts
    reject_reason: str | None = None
    line: int | None = None


@dataclass
class IntakeCounts:
    """The counters of intake: complaints created, rows rejected as no complaint, exact duplicates, routed to
    the triage queue (``fallback``), likely duplicates flagged, tasks opened (and per department). Shared by
    a batch's :class:`IntakeResult` and an import's report."""

    created: int = 0
    rejected: int = 0
    duplicates: int = 0
    fallback: int = 0
    likely_duplicates: int = 0
    tasks: int = 0
    tasks_by_department: Counter = field(default_factory=Counter)

    def add_counts(self, other: IntakeCounts) -> None:
        """Add ``other``'s counters to these."""
        for name in ("created", "rejected", "duplicates", "fallback", "likely_duplicates", "tasks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.tasks_by_department.update(other.tasks_by_department)

    def clear_counts(self) -> None:
        """Set every counter back to zero (an all-or-nothing import that wrote nothing)."""
        self.created = self.rejected = self.duplicates = self.fallback = self.likely_duplicates = self.tasks = 0
        self.tasks_by_department.clear()


@dataclass
class IntakeResult(IntakeCounts):
    """What a batch did. ``ids`` maps each input index to its complaint id (existing id for duplicates)."""

    ids: dict[int, int] = field(default_factory=dict)
    created_ids: set[int] = field(default_factory=set)
    recurrence_links: int = 0
    proposed_records: list[int] = field(default_factory=list)

    def add(self, other: IntakeResult) -> None:
        self.add_counts(other)
        self.proposed_records.extend(other.proposed_records)
        self.recurrence_links += other.recurrence_links
