"""The task kinds the engine creates itself.

A configured route names its own kinds (free text such as ``investigate`` or ``respond``, from the
configuration's ``[[rules.tasks]]``); the kinds below are the engine's own, and code compares them through
this enum, never a bare string.
"""

from __future__ import annotations

from enum import StrEnum


class SystemTaskKind(StrEnum):
    FOLLOW_UP = "follow-up"    # the customer follow-up after resolution (services/work/lifecycle.py)
    ROOT_CAUSE = "root-cause"  # a root cause asked of the routing department's lead (services/capa/root_cause.py)
    TRIAGE = "triage"          # back to the triage queue: every task was cancelled (services/work/tasks.py: settle)
    REOPENED = "reopened"      # the work a reopened complaint goes back to (services/work/lifecycle.py)


#: The titles the engine gives its own tasks (English, as stored); a page shows them in the reader's language
#: (``systask.<kind>``), a title a person wrote or changed as written. ``reopened`` titles carry the reason
#: after :data:`REOPENED_PREFIX`.
SYSTEM_TITLES: dict[SystemTaskKind, str] = {
    SystemTaskKind.FOLLOW_UP: "Follow up with the customer: is the complaint resolved to their satisfaction?",
    SystemTaskKind.ROOT_CAUSE: "Record the root cause: the work is done, the complaint resolves once its cause is "
                               "known",
    SystemTaskKind.TRIAGE: "Route again: every task of this complaint was cancelled",
}
REOPENED_PREFIX = "Reopened: "
#: The longest title stored (the ``task.title`` column).
MAX_TITLE_CHARS = 500


def reopened_title(reason: str) -> str:
    """The title of the task a reopen creates: :data:`REOPENED_PREFIX` and the reopen ``reason`` (cut to
    :data:`MAX_TITLE_CHARS`). A reader comparing a title with the reopen's audit row builds it the same way."""
    return f"{REOPENED_PREFIX}{reason}"[:MAX_TITLE_CHARS]
