"""Request and response bodies. Instants are ISO 8601 date-times with an offset (``2026-12-01T00:00:00Z``);
a plain date or a date-time without an offset is a 422 that says so with an example (every instant, body
field or query filter alike).

Durations of SLA clocks are **business hours** on the named calendar; ages in the
overview are **calendar** time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    WithJsonSchema,
    WrapSerializer,
    WrapValidator,
    field_validator,
)

from closeloop.domain.facts import (
    EARLIEST_RECEIVED,
    MAX_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    RECEIVED_AHEAD,
    SOURCE_PATTERN,
)
from closeloop.domain.limits import EARLIEST_INSTANT, LATEST_INSTANT
from models.types import MAX_ID

T = TypeVar("T")
EARLIEST = EARLIEST_INSTANT
LATEST = LATEST_INSTANT


def _bounded(value: datetime) -> datetime:
    if not (EARLIEST <= value < LATEST):
        raise ValueError("must be in the years 1970 to 2199 (from 1970-01-01T00:00:00Z, before 2200-01-01T00:00:00Z)")
    return value.astimezone(UTC)


#: Instants as the API takes them, for its messages and descriptions.
INSTANT_EXAMPLES = "2026-12-01T00:00:00Z or 2026-12-01T08:00:00+08:00"
#: What a malformed or offset-less instant is told (a plain date is not taken as some zone's midnight).
INSTANT_FORMAT = (f"must be a date-time with a UTC offset, e.g. {INSTANT_EXAMPLES} "
                  "(a plain date or a time without an offset is not accepted)")


def _instant_format(value, handler):
    try:
        return handler(value)
    except ValidationError as exc:
        raise ValueError(f"{INSTANT_FORMAT}; got {str(value)[:40]!r}") from exc


def _in_utc(value: datetime, handler) -> object:
    return handler(value.astimezone(UTC) if value.tzinfo is not None else value)


#: An instant in a response: written in UTC (``2026-03-02T14:00:00Z``) whatever zone the value carries (a promise
#: due in business hours on a New York calendar is computed in that zone). Every response field holding an instant
#: has this type (``tests/api/test_api_tester_findings.py`` walks the endpoints' answers).
UtcDatetime = Annotated[datetime, WrapSerializer(_in_utc),
                        WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization")]


#: A UTC-aware instant within 1970..2200 (calendar arithmetic far outside it overflows).
Instant = Annotated[AwareDatetime, WrapValidator(_instant_format), AfterValidator(_bounded)]

#: What a ``received_at`` outside the intake's rule is told: the rule itself (the earliest is
#: :data:`closeloop.domain.facts.EARLIEST_RECEIVED`, the latest :func:`closeloop.domain.facts.check_received_by`).
RECEIVED_RULE = (f"must be from {EARLIEST_RECEIVED.isoformat().replace('+00:00', 'Z')} to "
                 f"{RECEIVED_AHEAD.seconds // 60} minutes after the server's clock")


def _received(value: datetime) -> datetime:
    """A complaint's ``received_at`` within the rule every way in shares: from ``EARLIEST_RECEIVED``
    (closeloop.domain.facts: 1990-01-01 UTC) to the intake's clock plus ``RECEIVED_AHEAD`` (checked by the
    intake with its clock, :func:`~closeloop.domain.facts.check_received_by`; here only the bound no clock
    passes, ``LATEST``). Raises ``ValueError`` stating the rule, so a year-1 or a 1985 date is told the real
    bounds rather than :data:`Instant`'s 1970..2199."""
    if not (EARLIEST_RECEIVED <= value < LATEST):
        raise ValueError(f"{RECEIVED_RULE}; got {value.isoformat()}")
    return value.astimezone(UTC)


#: A complaint's ``received_at``: a UTC-aware instant from 1990 (:func:`_received`).
ReceivedAt = Annotated[AwareDatetime, WrapValidator(_instant_format), AfterValidator(_received)]


class In(BaseModel):
    """Base of request bodies: unknown fields and NUL characters are refused (422 naming the field)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value):
        items = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and "\x00" in v for v in items):
            raise ValueError("contains a NUL character")
        return value


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """A page of results: ``total`` rows match, ``items`` holds ``limit`` of them from ``offset``."""

    items: list[T]
    total: int
    limit: int
    offset: int


class TaskOut(Out):
    id: int
    complaint_id: int | None = Field(description="None for an improvement record's action task")
    department: str
    kind: str
    title: str
    status: str
    assignee: str | None
    assignee_user_id: int | None = Field(None, description="the user the assignee names, if any")
    outcome: str | None
    transferred_from_id: int | None
    transfer_reason: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    due_at: UtcDatetime | None = Field(description="resolve due instant (UTC) while the clock runs")
    ack_due_at: UtcDatetime | None = Field(description="acknowledge due instant (UTC) while it runs")
    version: int = Field(description="send it back with a write (optimistic locking)")


class ComplaintOut(Out):
    id: int
    source: str
    external_ref: str
    status: str
    severity: str
    risk_flags: list[str]
    category: str
    product: str
    issue: str
    channel: str
    company: str
    region: str
    route_rule: str | None
    received_at: UtcDatetime
    created_at: UtcDatetime
    updated_at: UtcDatetime
    due_at: UtcDatetime | None = Field(description="the customer promise's resolve due instant (UTC) while it runs")
    resolved_at: UtcDatetime | None = Field(description="when the complaint was resolved (UTC); null while it is open, "
                                                     "also after a reopen (earlier resolutions: the timeline)")
    merged_into_id: int | None
    transfer_count: int
    reopen_count: int
    version: int = Field(description="send it back with a write (optimistic locking)")


class ClockOut(BaseModel):
    """An SLA clock. Hours are business hours on ``calendar`` (time zone ``zone``)."""

    owner: str
    name: str
    status: str
    breached: bool
    target_hours: float | None
    elapsed_hours: float
    paused_hours: float
    remaining_hours: float | None
    due_at: UtcDatetime | None
    stopped_at: UtcDatetime | None
    calendar: str
    zone: str
    #: status ``handed_over`` (a transferred task's resolve clock): the successor task and its department
    handed_to_task: int | None = None
    handed_to_department: str | None = None


class TimelineOut(BaseModel):
    at: UtcDatetime
    kind: str = Field(description="transition, or message:inbound|outbound|internal")
    complaint_id: int
    text: str
    actor: str
    reason_code: str | None = Field(None, description="the code of the engine's own reason in text (one of "
                                    "closeloop.domain.reasons.SystemReason, e.g. department_tasks_finished), so a "
                                    "client can word it in its own language; null for a reason a person wrote or none")


class ComplaintDetail(BaseModel):
    complaint: ComplaintOut
    tasks: list[TaskOut]
    clocks: list[ClockOut] = Field(description="the customer promise's clocks, then each active task's")
    timeline: list[TimelineOut]
    merged_from: list[int]


class ContactIn(In):
    """One way to reach the customer; used for messages only with ``consent``."""

    kind: Literal["email", "phone", "chat"]
    value: str = Field(min_length=1, max_length=254, description="e-mail address, phone number or chat handle")
    consent: bool = Field(False, description="the customer agreed to be contacted there")
    verified: bool = Field(False, description="the address was confirmed (e.g. a link in a mail was followed)")


class CustomerIn(In):
    """What the customer told us about themselves (personal data: kept off logs and audit rows)."""

    display_name: str | None = Field(None, max_length=200)
    language: str | None = Field(None, max_length=16, description="zh, en, ... (served: [customers] languages)")
    time_zone: str | None = Field(None, max_length=64, description="IANA zone, e.g. Asia/Shanghai")
    contacts: list[ContactIn] = Field(default_factory=list, max_length=10)


class ComplaintIn(In):
    """One complaint for intake. ``(source, external_ref)`` is the idempotency key; ``customer`` needs
    ``customer_ref``. Field bounds are the ones every way in shares (:data:`closeloop.domain.facts.MAX_CHARS`);
    ``received_at`` from 1990 to 5 minutes after the server's clock."""

    source: str = Field("api", min_length=1, max_length=MAX_CHARS["source"], pattern=f"^{SOURCE_PATTERN.pattern}$")
    external_ref: str = Field(min_length=1, max_length=MAX_CHARS["external_ref"])
    received_at: ReceivedAt
    customer_ref: str | None = Field(None, max_length=MAX_CHARS["customer_ref"],
                                     description="pseudonymous customer key")
    category: str = Field("", max_length=MAX_CHARS["category"])
    subcategory: str = Field("", max_length=MAX_CHARS["subcategory"])
    product: str = Field("", max_length=MAX_CHARS["product"])
    sub_product: str = Field("", max_length=MAX_CHARS["sub_product"])
    issue: str = Field("", max_length=MAX_CHARS["issue"])
    sub_issue: str = Field("", max_length=MAX_CHARS["sub_issue"])
    channel: str = Field("", max_length=MAX_CHARS["channel"])
    company: str = Field("", max_length=MAX_CHARS["company"])
    region: str = Field("", max_length=MAX_CHARS["region"])
    tags: list[Annotated[str, Field(max_length=MAX_TAG_CHARS)]] = Field(default_factory=list, max_length=MAX_TAGS,
                                                             description="up to 50 tags of up to 200 characters")
    text: str = Field("", max_length=MAX_CHARS["text"])
    customer: CustomerIn | None = None


class IntakeOut(BaseModel):
    created: bool = Field(description="false when the external reference was already taken in (HTTP 200)")
    complaint: ComplaintOut


#: What every write says about versions (optimistic locking, If-Match style): optional by design.
VERSION_RULE = ("the record's version as read (a JSON integer, 1 to 2147483647; or the If-Match header): a stale "
                "one is a 409. Optional: a write without a version is not checked and applies to the record as "
                "it is (last write wins)")

#: A record's version as a client sends it back: a JSON integer within the ids' range (``1..MAX_ID``); a larger
#: number is no row's version, a 422 naming the field rather than a 409.
VersionNumber = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


class Version(In):
    version: VersionNumber | None = Field(None, description=VERSION_RULE)


class TokenIn(In):
    role: str = Field(pattern="^(member|lead|manager|admin)$")
    name: str | None = Field(None, min_length=1, max_length=200,
                             description="who holds it; default: the user's name, else role[@department]")
    department: str | None = Field(None, max_length=64)
    language: str | None = Field(None, pattern="^(en|zh)$",
                                 description="en or zh (notices and dashboard); default: the user's language, else en")
    user: str | None = Field(None, min_length=1, max_length=65,
                             description="the handle of the user it belongs to (role and department must fit)")


class TokenOut(Out):
    id: int
    prefix: str
    name: str
    role: str
    department: str | None
    language: str
    created_at: UtcDatetime
    created_by: str
    last_used_at: UtcDatetime | None
    revoked_at: UtcDatetime | None
    user_id: int | None = Field(None, description="the user it belongs to")


class TokenCreated(BaseModel):
    token: str = Field(description="the secret: shown once, only its SHA-256 is kept")
    info: TokenOut


class Me(BaseModel):
    token_id: int
    name: str
    role: str
    department: str | None
    language: str
    user_id: int | None = Field(None, description="the user the token belongs to, if any")


__all__ = ["AwareDatetime", "Instant", "Page", "UtcDatetime"]
