"""The built-in export profiles. Importing this module registers them.

Sources and layouts (see ``examples/PROVENANCE.md`` and ``../shared/data``):

- ``cfpb``: CFPB Consumer Complaint Database, both the 2013 snake_case layout
  (``date_received`` as M/D/YYYY) and the current one (``Date received`` as
  YYYY-MM-DD). Dates only: taken as midnight America/New_York (the CFPB is in
  Washington, DC).
- ``nyc311``: NYC Open Data "311 Service Requests" (2014 and 2022 layouts);
  ``Created Date`` as MM/DD/YYYY hh:mm:ss AM/PM, local New York time.
- ``airline-tweets``: Twitter US Airline Sentiment (2015); ``tweet_created``
  M/D/YYYY H:MM in US Pacific time; positive or neutral tweets are not complaints.
- ``zh-reviews``: Chinese shopping reviews (online_shopping_10_cats); label 1
  (positive) is not a complaint; received time unknown, taken as the import's
  fixed epoch 2020-01-01T00:00+08:00 plus the source row in seconds, for stable order.
- ``closeloop`` / ``jsonl``: closeloop's own intake columns (see README).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from closeloop.domain.customer import ContactKind, ContactPoint, CustomerProfile
from closeloop.domain.errors import InvalidInput
from closeloop.domain.facts import ComplaintFacts

from .exports import (
    Cells,
    RowProblem,
    cell,
    has_layout,
    identifier,
    parse_iso_aware,
    parse_local,
    parse_local_date,
    register,
    required,
)

NEW_YORK = ZoneInfo("America/New_York")
PACIFIC = ZoneInfo("America/Los_Angeles")
SHANGHAI = ZoneInfo("Asia/Shanghai")


#: Whole numbers without leading zeros or separators: CFPB Complaint ID, NYC 311 Unique Key, tweet ids.
NUMERIC_ID = re.compile(r"[1-9]\d{0,19}")
#: :data:`NUMERIC_ID` as a bad row is told it (the rule, not only "a number": 26 digits are a whole number too).
_WHOLE = "a whole number of up to 20 digits without a leading zero"


def _tags(value: str, sep: str = ",") -> tuple[str, ...]:
    return tuple(t.strip() for t in value.split(sep) if t.strip())


def _local_date(row: Mapping[str, str], column: str, formats: tuple[str, ...], zone: ZoneInfo) -> datetime:
    """The required date-only cell ``column`` (:func:`~integrations.exports.parse_local_date`)."""
    return parse_local_date(required(row, column), column, formats, zone)


def _local_time(row: Mapping[str, str], column: str, formats: tuple[str, ...], zone: ZoneInfo) -> datetime:
    """The required wall-clock cell ``column`` (:func:`~integrations.exports.parse_local`)."""
    return parse_local(required(row, column), column, formats, zone)


def _fact_columns(facts: Mapping[str, str], *layouts: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """``fact_columns`` of a profile reading several layouts: each fact's column in every layout (``facts``: fact
    -> the layouts' key of its column)."""
    return {fact: tuple(layout[key] for layout in layouts) for fact, key in facts.items()}


class CFPB:
    name = "cfpb"
    description = "CFPB Consumer Complaint Database export (2013 snake_case or current layout)"
    _modern = {"date": "Date received", "product": "Product", "sub_product": "Sub-product", "issue": "Issue",
               "sub_issue": "Sub-issue", "text": "Consumer complaint narrative", "company": "Company",
               "state": "State", "tags": "Tags", "via": "Submitted via", "sent": "Date sent to company",
               "response": "Company response to consumer", "timely": "Timely response?",
               "disputed": "Consumer disputed?", "id": "Complaint ID"}
    _legacy = {"date": "date_received", "product": "product", "sub_product": "sub_product", "issue": "issue",
               "sub_issue": "sub_issue", "text": "consumer_complaint_narrative", "company": "company",
               "state": "state", "tags": "tags", "via": "submitted_via", "sent": "date_sent_to_company",
               "response": "company_response_to_consumer", "timely": "timely_response",
               "disputed": "consumer_disputed?", "id": "complaint_id"}
    _formats = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y")
    #: fact -> the key of its column in ``_modern`` / ``_legacy`` (``extra`` facts as :meth:`parse` names them)
    _facts = {"external_ref": "id", "received_at": "date", "category": "product", "product": "product",
              "subcategory": "sub_product", "sub_product": "sub_product", "issue": "issue", "sub_issue": "sub_issue",
              "channel": "via", "company": "company", "region": "state", "tags": "tags", "text": "text",
              **{f"cfpb_{k}": k for k in ("response", "timely", "disputed", "sent")}}
    fact_columns = _fact_columns(_facts, _modern, _legacy)

    layouts = (("Complaint ID", "Date received", "Product"), ("complaint_id", "date_received", "product"))

    def detect(self, header: list[str]) -> bool:
        return has_layout(self, header)

    def parse(self, row: Mapping[str, str]) -> tuple[ComplaintFacts, str | None]:
        c = self._modern if "Complaint ID" in row else self._legacy
        cells = Cells()  # every bad cell of the row is reported, not only the first
        ref = cells.read(identifier, row, c["id"], NUMERIC_ID, _WHOLE + " (the CFPB complaint id)")
        received = cells.read(_local_date, row, c["date"], self._formats, NEW_YORK)
        product = cells.read(required, row, c["product"])
        extra = {k: cell(row, c[k]) for k in ("response", "timely", "disputed", "sent") if cell(row, c[k])}
        if "sent" in extra:
            sent = cells.read(parse_local_date, extra["sent"], c["sent"], self._formats, NEW_YORK)
            extra["sent"] = sent.isoformat() if sent else ""
        cells.check()
        assert ref is not None and received is not None and product is not None
        return ComplaintFacts(
            source="cfpb", external_ref=ref, received_at=received,
            category=product, subcategory=cell(row, c["sub_product"]),
            product=product, sub_product=cell(row, c["sub_product"]),
            issue=cell(row, c["issue"]), sub_issue=cell(row, c["sub_issue"]),
            channel=cell(row, c["via"]), company=cell(row, c["company"]), region=cell(row, c["state"]),
            tags=_tags(cell(row, c["tags"])), text=cell(row, c["text"]),
            extra={f"cfpb_{k}": v for k, v in extra.items()},
        ), None


class NYC311:
    name = "nyc311"
    description = "NYC Open Data 311 Service Requests export (2014 or 2022 layout)"
    _formats = ("%m/%d/%Y %I:%M:%S %p", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S")
    fact_columns = {"external_ref": ("Unique Key",), "received_at": ("Created Date",),
                    "category": ("Complaint Type",), "subcategory": ("Descriptor",), "issue": ("Descriptor",),
                    "channel": ("Open Data Channel Type",), "region": ("Borough",),
                    "nyc311_closed_at": ("Closed Date",), "nyc311_due_at": ("Due Date",),
                    "nyc311_resolution_updated_at": ("Resolution Action Updated Date",),
                    "nyc311_agency": ("Agency",), "nyc311_status": ("Status",),
                    "nyc311_resolution": ("Resolution Description",)}

    layouts = (("Unique Key", "Created Date", "Complaint Type"),)

    def detect(self, header: list[str]) -> bool:
        return has_layout(self, header)

    def parse(self, row: Mapping[str, str]) -> tuple[ComplaintFacts, str | None]:
        cells = Cells()  # every bad cell of the row is reported, not only the first
        ref = cells.read(identifier, row, "Unique Key", NUMERIC_ID, _WHOLE + " (the 311 request's unique key)")
        created = cells.read(_local_time, row, "Created Date", self._formats, NEW_YORK)
        category = cells.read(required, row, "Complaint Type")
        extra: dict[str, str] = {}
        for col, key in (("Closed Date", "closed_at"), ("Due Date", "due_at"),
                         ("Resolution Action Updated Date", "resolution_updated_at")):
            if (value := cell(row, col)) and (at := cells.read(parse_local, value, col, self._formats, NEW_YORK)):
                extra[key] = at.isoformat()
        for col, key in (("Agency", "agency"), ("Status", "status"), ("Resolution Description", "resolution")):
            if value := cell(row, col):
                extra[key] = value
        channel = cell(row, "Open Data Channel Type")
        cells.check()
        assert ref is not None and created is not None and category is not None
        return ComplaintFacts(
            source="nyc311", external_ref=ref, received_at=created,
            category=category, subcategory=cell(row, "Descriptor"),
            issue=cell(row, "Descriptor"), channel="" if channel == "UNKNOWN" else channel.lower(),
            region=cell(row, "Borough"), extra={f"nyc311_{k}": v for k, v in extra.items()},
        ), None


class AirlineTweets:
    name = "airline-tweets"
    description = "Twitter US Airline Sentiment (2015) sample; non-negative tweets are rejected as not complaints"
    fact_columns = {"external_ref": ("tweet_id",), "received_at": ("tweet_created",),
                    "category": ("negativereason",), "issue": ("negativereason",), "company": ("airline",),
                    "text": ("text",)}

    layouts = (("tweet_id", "airline_sentiment", "text", "tweet_created"),)

    def detect(self, header: list[str]) -> bool:
        return has_layout(self, header)

    def parse(self, row: Mapping[str, str]) -> tuple[ComplaintFacts, str | None]:
        ref = identifier(row, "tweet_id", NUMERIC_ID, _WHOLE + " (the tweet id)")
        created = parse_local(required(row, "tweet_created"), "tweet_created", ("%m/%d/%Y %H:%M",), PACIFIC)
        sentiment = cell(row, "airline_sentiment")
        reason = cell(row, "negativereason")
        facts = ComplaintFacts(
            source="airline-tweets", external_ref=ref, received_at=created,
            category=reason or "Unspecified", issue=reason, company=cell(row, "airline"),
            channel="twitter", text=cell(row, "text"),
        )
        return facts, (None if sentiment == "negative" else f"not a complaint: sentiment {sentiment or 'missing'}")


class ZhReviews:
    name = "zh-reviews"
    description = "Chinese online-shopping reviews (10 categories); positive reviews are rejected as not complaints"
    _epoch = datetime(2020, 1, 1, tzinfo=SHANGHAI)
    fact_columns = {"external_ref": ("source_row",), "received_at": ("source_row",), "category": ("cat",),
                    "product": ("cat",), "text": ("review",)}

    layouts = (("source_row", "cat", "label", "review"),)

    def detect(self, header: list[str]) -> bool:
        return has_layout(self, header)

    def parse(self, row: Mapping[str, str]) -> tuple[ComplaintFacts, str | None]:
        src = identifier(row, "source_row", re.compile(r"\d{1,12}"),
                         "a whole number of up to 12 digits (the source row)")
        label = cell(row, "label")
        if label not in ("0", "1"):
            raise RowProblem("label", label, "must be 0 (negative) or 1 (positive)")
        try:
            received = self._epoch + timedelta(seconds=int(src))
        except OverflowError:
            raise RowProblem("source_row", src, "too large: its received time would pass the year 9999") from None
        facts = ComplaintFacts(
            source="zh-reviews", external_ref=src, received_at=received,
            category=required(row, "cat"), product=cell(row, "cat"), channel="online review",
            text=cell(row, "review").replace("\ufeff", ""),
        )
        return facts, ("not a complaint: positive review" if label == "1" else None)


class Closeloop:
    """closeloop's own intake layout: the :class:`ComplaintFacts` fields as columns."""

    name = "closeloop"
    description = "closeloop intake CSV: external_ref, received_at (ISO 8601 with offset), source?, customer_ref?, ..."
    fields = ("category", "subcategory", "product", "sub_product", "issue", "sub_issue",
              "channel", "company", "region", "text")

    layouts: tuple[tuple[str, ...], ...] = (("external_ref", "received_at"),)

    def detect(self, header: list[str]) -> bool:
        return has_layout(self, header)

    def parse(self, row: Mapping[str, str]) -> tuple[ComplaintFacts, str | None]:
        """The row's facts; every bad cell and broken field rule of the row at once (:meth:`Cells.check`)."""
        cells = Cells()  # every bad cell of the row is reported, not only the first
        ref = cells.read(identifier, row, "external_ref")
        received = cells.read(_iso_cell, row, "received_at")
        tag_list = cells.read(_tag_cell, row)
        customer = customer_profile(row, cells)
        named: dict[str, Any] = {f: cell(row, f) for f in self.fields}

        def build() -> ComplaintFacts:  # a bad cell's fact stands in valid: its own problem is reported already
            return ComplaintFacts(
                source=cell(row, "source") or "api", external_ref=ref or "-", received_at=received or STAND_IN,
                customer_ref=cell(row, "customer_ref") or None, tags=tag_list or (), customer=customer, **named)

        cells.check(build)
        return build(), None


#: The instant a bad ``received_at`` cell stands in as while the row's other rules are checked (never taken in).
STAND_IN = datetime(2000, 1, 1, tzinfo=UTC)


def _iso_cell(row: Mapping[str, str], column: str) -> datetime:
    return parse_iso_aware(required(row, column), column)


def _tag_cell(row: Mapping[str, str]) -> tuple[str, ...]:
    """The ``tags`` cell: ``;``-separated, or a JSON list."""
    tags = cell(row, "tags")
    if not tags.startswith("["):
        return _tags(tags, ";")
    try:
        return tuple(str(t) for t in json.loads(tags))
    except ValueError:
        raise RowProblem("tags", tags, "not a JSON list") from None


#: Customer columns of the closeloop CSV/JSONL layout (issue 13); ``<kind>_consent`` / ``<kind>_verified``
#: are true/false (yes/no, 1/0; empty = false) for each contact column.
CUSTOMER_COLUMNS = {"customer_name": "display_name", "customer_language": "language",
                    "customer_time_zone": "time_zone"}
CONTACT_COLUMNS: dict[str, ContactKind] = {"customer_email": ContactKind.EMAIL, "customer_phone": ContactKind.PHONE,
                                           "customer_chat": ContactKind.CHAT}
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


def _flag(row: Mapping[str, str], column: str) -> bool:
    value = cell(row, column).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise RowProblem(column, cell(row, column), "must be true or false")


#: Customer columns that are not personal data: a bad value is quoted (the name and the contact points are not).
SHOWN_COLUMNS = frozenset({"customer_language", "customer_time_zone"})


def customer_profile(row: Mapping[str, str], cells: Cells) -> CustomerProfile | None:
    """The customer's details from a closeloop CSV/JSONL row, or None when the row has none or a bad one.
    Each bad value is a :class:`RowProblem` noted in ``cells`` naming its column (every one, in column order of
    :data:`CUSTOMER_COLUMNS` then :data:`CONTACT_COLUMNS`); a name or contact point is not echoed (personal data:
    ``withheld``), in the value nor in the problem; a language or time zone is."""
    fields = {attr: cell(row, col) or None for col, attr in CUSTOMER_COLUMNS.items()}
    before = len(cells.problems)
    for col, attr in CUSTOMER_COLUMNS.items():
        cells.read(_customer_field, col, attr, fields[attr])
    contacts = []
    for col, kind in CONTACT_COLUMNS.items():
        if value := cell(row, col):
            consent, verified = cells.read(_flag, row, f"{col}_consent"), cells.read(_flag, row, f"{col}_verified")
            contact = cells.read(_contact, col, kind, value, bool(consent), bool(verified))
            contacts += [contact] if contact is not None else []
    if len(cells.problems) > before or (not contacts and not any(fields.values())):
        return None
    return CustomerProfile(contacts=tuple(contacts), **fields)


def _customer_field(column: str, attr: str, value: str | None) -> None:
    """Check one customer field alone (:class:`CustomerProfile`'s rule for it); :class:`RowProblem` if bad."""
    try:
        CustomerProfile(**{attr: value})  # type: ignore[arg-type]  # attr: one of the profile's text fields
    except InvalidInput as e:
        problem = e.problem.replace(repr(value), "the value") if value else e.problem  # the value: in its place
        raise RowProblem(column, value or "", problem, withheld=column not in SHOWN_COLUMNS) from None


def _contact(column: str, kind: ContactKind, value: str, consent: bool, verified: bool) -> ContactPoint:
    """The contact point ``value`` of ``column``; a bad one is a :class:`RowProblem` naming the column, the value
    withheld (personal data)."""
    try:
        return ContactPoint(kind, value, consent, verified)
    except InvalidInput as e:
        raise RowProblem(column, "", e.problem, withheld=True) from None


class JsonLines(Closeloop):
    name = "jsonl"
    description = "closeloop intake as JSON Lines (one object per line, same keys as the closeloop CSV)"
    layouts = ()  # not a CSV header: told by the file's suffix or --format jsonl

    def detect(self, header: list[str]) -> bool:
        return False


for _p in (CFPB(), NYC311(), AirlineTweets(), ZhReviews(), Closeloop(), JsonLines()):
    register(_p)
