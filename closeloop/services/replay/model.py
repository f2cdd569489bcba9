"""The replay's two models of what the export does not record: :class:`DataQuality`, the tally of what the input
rows were (bad, not complaints, duplicates, ...), and :class:`Behaviour`, the seeded pace and answers of the
departments (:mod:`closeloop.services.replay.replay` documents both)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from integrations.exports import RowError

#: the bad rows' problems a summary lists (``bad_row_details``); ``bad_rows_not_listed`` counts the rows beyond
MAX_LISTED_PROBLEMS = 50


@dataclass
class DataQuality:
    """The tally of the input rows. ``bad_rows``: how many rows were bad; ``problems``: every problem of each
    (``{"file", "line", "column", "value", "problem", "withheld"}``, one per problem, as the import's ``errors``)."""

    rows: int = 0
    bad_rows: int = 0
    problems: list[dict] = field(default_factory=list)
    not_complaints: int = 0
    duplicates: int = 0
    closed_before_created: int = 0
    no_close_date: int = 0
    routed_to_triage_queue: int = 0
    in_progress: int = 0  # CFPB rows whose company response is still "In progress" in the export

    def add_bad_row(self, file: str, error: RowError) -> None:
        """Note the bad row ``error`` of ``file`` (a file name) with every one of its problems."""
        self.bad_rows += 1
        self.problems.extend({"file": file, "line": e.line, "column": e.column, "value": e.value,
                              "problem": e.problem, "withheld": e.withheld} for e in error.problems())

    def as_dict(self) -> dict:
        listed = self.problems[:MAX_LISTED_PROBLEMS]
        return {"rows": self.rows, "bad_rows": self.bad_rows, "bad_row_details": listed,
                "bad_rows_not_listed": self.bad_rows - len({(p["file"], p["line"]) for p in listed}),
                "not_complaints": self.not_complaints, "duplicates": self.duplicates,
                "closed_before_created": self.closed_before_created, "no_close_date": self.no_close_date,
                "routed_to_triage_queue": self.routed_to_triage_queue, "in_progress": self.in_progress}


class Behaviour:
    """The seeded department behaviour model (see :mod:`closeloop.services.replay.replay`'s docstring)."""

    #: the range of a department's pace factor (a modelled duration is multiplied by it)
    PACE = (0.5, 2.0)

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(seed)
        self.paces: dict[str, float] = {}

    def pace(self, department: str) -> float:
        """The department's pace factor: drawn once per department from the seed and its name (uniform in
        :data:`PACE`), so departments differ and a department is equally fast in every replay of a seed
        (a ``--compare`` run meets the same people)."""
        if department not in self.paces:
            self.paces[department] = round(random.Random(f"{self.seed}:{department}").uniform(*self.PACE), 2)
        return self.paces[department]

    def days(self, lo: float, hi: float) -> timedelta:
        return timedelta(days=self.rng.uniform(lo, hi))

    def lognormal(self, median_hours: float) -> timedelta:
        return timedelta(hours=median_hours * math.exp(self.rng.gauss(0, 0.8)))

    def first_answer(self, facts, received: datetime, department: str) -> tuple[datetime | None, datetime | None]:
        """(acknowledge_at, complete_at) for the first tasks of a complaint (``department``: the first task's),
        or None for "never"."""
        ex = facts.extra
        if facts.source == "nyc311":
            closed = ex.get("nyc311_closed_at")
            return None, datetime.fromisoformat(closed) if closed else None
        if facts.source == "cfpb":
            sent = datetime.fromisoformat(ex["cfpb_sent"]) + timedelta(hours=10) if ex.get("cfpb_sent") else received
            sent = max(sent, received + timedelta(minutes=1))
            if ex.get("cfpb_response", "").lower() == "in progress":
                return sent, None
            late = ex.get("cfpb_timely", "Yes").lower() != "yes"
            return sent, sent + (self.days(16, 40) if late else self.days(1, 14))
        return None, received + self.lognormal(48 * self.pace(department))

    def next_step(self, department: str) -> timedelta:
        return timedelta(hours=self.rng.uniform(2, 48) * self.pace(department))
