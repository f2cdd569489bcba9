"""The normalized shape of one incoming complaint, whatever its source."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .customer import CustomerProfile
from .errors import InvalidInput, InvalidInputs
from .machine import require_aware

#: Fact names a routing rule may test (``[rules.when]`` keys in the configuration).
ROUTABLE_FACTS = (
    "source", "product", "sub_product", "issue", "sub_issue",
    "category", "subcategory", "channel", "company", "region",
)


#: The field rules every way in shares (API, CSV/JSONL import, replay, CLI): the longest value in
#: characters. The same as the database columns, so PostgreSQL and SQLite accept and refuse the same
#: rows (SQLite would store a longer value, PostgreSQL would refuse it), and nothing is cut silently.
MAX_CHARS: dict[str, int] = {
    "source": 32, "external_ref": 128, "customer_ref": 128,
    "category": 255, "subcategory": 255, "product": 255, "sub_product": 255, "issue": 255, "sub_issue": 255,
    "company": 255, "channel": 64, "region": 64, "text": 20_000,
}
MAX_TAGS, MAX_TAG_CHARS = 50, 200
MAX_EXTRA_CHARS = 2_000  # each kept source field
#: The earliest ``received_at`` taken in (a year-1 or 1970 date is a broken export or a zero, not a complaint).
#: The latest is the intake's clock plus :data:`RECEIVED_AHEAD` (:func:`check_received_by`).
EARLIEST_RECEIVED = datetime(1990, 1, 1, tzinfo=UTC)
#: How far a sender's clock may run ahead of the intake's: a complaint received later than now + this is refused.
RECEIVED_AHEAD = timedelta(minutes=5)
#: What a ``source`` may be, whichever way it comes in: lower-case letters, digits, ``_`` and ``-``.
SOURCE_PATTERN = re.compile(r"[a-z0-9_\-]+")


def check_received_by(received_at: datetime, now: datetime) -> None:
    """The upper date bound every way in shares (the API, the CSV/JSONL import): raises
    :class:`InvalidInput` (``received_at``) for a complaint received more than :data:`RECEIVED_AHEAD`
    after ``now`` (the intake's clock, never the wall clock here)."""
    if received_at > now + RECEIVED_AHEAD:
        raise InvalidInput("received_at", f"{received_at.isoformat()} is in the future (more than "
                                          f"{RECEIVED_AHEAD.seconds // 60} minutes after now, {now.isoformat()})")


def addressable_ref(ref: str) -> bool:
    """Whether ``ref`` can name a customer in a URL path (``/customers/<ref>``, dashboard and API): not ``.``
    or ``..``, and no ``/``-separated part that is. Browsers, curl and HTTP libraries remove such dot segments
    before sending, even percent-encoded (``%2e%2e`` is ``..`` to the URL standard), so no link or route could
    reach that customer. Any other text (``/`` included: the routes take the rest of the path) is fine."""
    return not any(part in (".", "..") for part in re.split(r"[/\\]", ref))


def check_ref(ref: str, stored: Callable[[str], bool] | None = None) -> None:
    """The rule of a new ``customer_ref`` (every way in: the intake before it creates the customer, the import
    per row): raises :class:`InvalidInput` (``customer_ref``) when it is not :func:`addressable_ref`, unless
    ``stored(ref)`` says a customer has it (stored before the rule: they keep their ref, and their page is
    reached by ``/customers?ref=...``, the dashboard's link and the API's query form)."""
    if addressable_ref(ref) or (stored is not None and stored(ref)):
        return
    raise InvalidInput("customer_ref", f"{ref[:40]!r} cannot be a customer's address (/customers/<ref>): "
                                       "'.' and '..' are not refs, nor a part between '/' that is '.' or '..'")


@dataclass(frozen=True)
class ComplaintFacts:
    """One complaint as taken in, before triage and routing.

    - ``source`` + ``external_ref``: the idempotency key (same pair = same complaint).
    - ``received_at``: UTC-aware instant the complaint was received.
    - ``customer_ref``: a pseudonymous customer key (never a name, phone or e-mail) or None.
    - ``category``: what de-duplication compares (CFPB product, NYC 311 complaint type).
    - ``tags``: source tags such as CFPB "Older American" or "Servicemember".
    - ``text``: the customer's own words (may be empty).
    - ``extra``: source fields kept for reporting, never used for routing
      (for example the NYC 311 ``Agency`` that really handled the request).
    - ``customer``: what the customer told us about themselves (name, language, zone, contact
      points); needs ``customer_ref``. Personal data: kept on the customer row, never in audit rows.
    """

    source: str
    external_ref: str
    received_at: datetime
    category: str = ""
    subcategory: str = ""
    product: str = ""
    sub_product: str = ""
    issue: str = ""
    sub_issue: str = ""
    channel: str = ""
    company: str = ""
    region: str = ""
    customer_ref: str | None = None
    tags: tuple[str, ...] = ()
    text: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    customer: CustomerProfile | None = None

    def __post_init__(self) -> None:
        """Check the shared field rules; raises :class:`InvalidInputs` listing every bad field (one problem
        per field, the first field's in ``field``/``problem``; ``given``: these facts, as refused).

        The keys (``external_ref``, ``customer_ref``) are kept without surrounding white space, as the CSV
        import reads its cells: ``"W-10 "`` sent again as ``"W-10"`` is the same complaint, not a second one,
        and the same customer. Whether a ``customer_ref`` can be a URL (:func:`check_ref`) is not checked
        here: it holds for a new customer only, and only the intake knows which refs are stored."""
        for key in ("external_ref", "customer_ref"):
            value = getattr(self, key)
            if isinstance(value, str) and value != value.strip():
                object.__setattr__(self, key, value.strip() or None if key == "customer_ref" else value.strip())
        problems: dict[str, InvalidInput] = {}
        for check in (self._key_problems, self._text_problems, self._received_problems, self._list_problems):
            for problem in check():
                problems.setdefault(problem.field, problem)  # a field's first problem: the others follow from it
        if problems:
            raise InvalidInputs(list(problems.values()), given=self)

    def _key_problems(self) -> Iterator[InvalidInput]:
        if not self.source:
            yield InvalidInput("source", "is required")
        if not self.external_ref or not self.external_ref.strip():
            yield InvalidInput("external_ref", "is required")
        if self.customer is not None and not self.customer.empty and not self.customer_ref:
            yield InvalidInput("customer_ref", "required when customer details are given")

    def _text_problems(self) -> Iterator[InvalidInput]:
        for name, limit in MAX_CHARS.items():
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                yield InvalidInput(name, f"{len(value):,} characters, longer than {limit:,}")
            if value is not None and "\x00" in value:
                yield InvalidInput(name, "contains a NUL character")
        if not SOURCE_PATTERN.fullmatch(self.source):
            yield InvalidInput("source", f"{self.source!r} is not a source name: lower-case letters, digits, "
                                         "'_' and '-' only")

    def _received_problems(self) -> Iterator[InvalidInput]:
        try:
            require_aware(self.received_at, "received_at")
        except InvalidInput as e:
            yield e
            return
        if self.received_at.year >= 9999:  # a placeholder date; also too close to the end of datetime to convert
            yield InvalidInput("received_at", f"{self.received_at.isoformat()} is not a real date")
        elif self.received_at.year < EARLIEST_RECEIVED.year or self.received_at < EARLIEST_RECEIVED:
            yield InvalidInput("received_at", f"{self.received_at.isoformat()} is before "
                                              f"{EARLIEST_RECEIVED.date().isoformat()}")

    def _list_problems(self) -> Iterator[InvalidInput]:
        if len(self.tags) > MAX_TAGS:
            yield InvalidInput("tags", f"{len(self.tags)} tags, more than {MAX_TAGS}")
        for tag in self.tags:
            if len(tag) > MAX_TAG_CHARS:
                yield InvalidInput("tags", f"a tag of {len(tag):,} characters, longer than {MAX_TAG_CHARS}")
        for key, value in self.extra.items():
            if len(str(value)) > MAX_EXTRA_CHARS:
                yield InvalidInput(key, f"{len(str(value)):,} characters, longer than {MAX_EXTRA_CHARS:,}")

    def fact(self, name: str) -> str:
        """The value of a routable fact (see :data:`ROUTABLE_FACTS`)."""
        value: str = getattr(self, name)
        return value
