"""How long a person's free text may be: one number per kind, read by the API's request bodies and the
dashboard's forms alike (a form refuses longer text with a message naming the field, never cuts it).

- :data:`MAX_REASON_CHARS`: a reason (a transfer's, a priority change's, a wait's, a resolution's, an improvement
  record's trigger) and a root-cause note;
- :data:`MAX_OUTCOME_CHARS`: a task's outcome note.

And which instants a person may give (the API's ``Instant``, the dashboard's "wait at most until"):
:data:`EARLIEST_INSTANT` up to, not including, :data:`LATEST_INSTANT` (calendar arithmetic far outside overflows).
"""

from __future__ import annotations

from datetime import UTC, datetime

MAX_REASON_CHARS = 2000
MAX_OUTCOME_CHARS = 5000

EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)
