"""A dashboard form's free text, refused (never cut) when longer than the API takes.

The pages' ``maxlength`` stops a browser at the same numbers; a post made another way (a script, an old page,
a proxy) with longer text is refused with a message naming the field and its limit, before any service runs, so
nothing is written.

A browser counts a line break as one character against ``maxlength`` but sends it as ``CR LF`` (HTML form
submission), so a textarea filled up to its ``maxlength`` arrives longer than the limit: line breaks are read
back as one line feed each before the text is measured (and stored so).
"""

from __future__ import annotations

from closeloop.domain.errors import InvalidInput
from closeloop.domain.limits import MAX_OUTCOME_CHARS, MAX_REASON_CHARS
from closeloop.services.work.compensation import NOTE_MAX_CHARS
from closeloop.services.work.notes import MAX_NOTE
from closeloop.services.work.tasks import MAX_ASSIGNEE_CHARS

#: The longest text each field takes, by the name its error gives it (the API's field names); the templates'
#: ``maxlength`` values (``limits.reason``...) and the messages' ``{limit}`` read this too.
TEXT_LIMITS: dict[str, int] = {"reason": MAX_REASON_CHARS, "root_cause_detail": MAX_REASON_CHARS,
                               "outcome": MAX_OUTCOME_CHARS, "body": MAX_NOTE, "note": NOTE_MAX_CHARS,
                               "assignee": MAX_ASSIGNEE_CHARS}


def form_text(data: dict[str, str], name: str, *, field: str | None = None) -> str | None:
    """The form's ``name`` value without surrounding blanks, each line break (CR LF, CR) one line
    feed; None when blank.

    ``field`` (default ``name``) is the name the error gives (the API's: the form's ``root_cause_note`` is
    ``root_cause_detail``) and its key in :data:`TEXT_LIMITS`. Raises ``InvalidInput(field, "longer than N
    characters")`` over the limit.
    """
    value = data.get(name, "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        return None
    limit = TEXT_LIMITS[field or name]
    if len(value) > limit:
        raise InvalidInput(field or name, f"longer than {limit} characters")
    return value


def required_text(data: dict[str, str], name: str) -> str:
    """:func:`form_text` that must not be blank (``InvalidInput(name, "required")``)."""
    value = form_text(data, name)
    if value is None:
        raise InvalidInput(name, "required")
    return value


def problem_kind(exc: InvalidInput) -> str:
    """What a refused form's field lacks, as a message key part: ``required``, ``too_long`` or ``invalid``."""
    if exc.problem.startswith(("is required", "needs", "required")):
        return "required"
    return "too_long" if exc.problem.startswith("longer than") else "invalid"


def limit_of(field: str) -> int | str:
    """The ``{limit}`` of a too-long message (``?`` for a field without one)."""
    return TEXT_LIMITS.get(field, "?")
