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
