"""How long a person's free text may be: one number per kind, read by the API's request bodies and the
dashboard's forms alike (a form refuses longer text with a message naming the field, never cuts it).

- :data:`MAX_REASON_CHARS`: a reason (a transfer's, a priority change's, a wait's, a resolution's, an improvement
  record's trigger) and a root-cause note;
- :data:`MAX_OUTCOME_CHARS`: a task's outcome note.
"""

from __future__ import annotations

MAX_REASON_CHARS = 2000
MAX_OUTCOME_CHARS = 5000
